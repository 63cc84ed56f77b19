"""Simulated host tools: the test/vkernel/Makefile image recipe, errors, and leak-free state."""
import os
import subprocess
import tarfile

import pytest

from buildbot_vkckpt.simhost import simfs
from buildbot_vkckpt.simhost.host import DEFAULT_STATE, SimHost
from tests.simhost.test_vkernel import host_tool


@pytest.fixture
def host(tmp_path):
    return SimHost(tmp_path / "host").create()


def tool(host, capsys, *argv):
    status = host_tool(host, *argv)
    out, err = capsys.readouterr()
    return status, out, err


def clean(state):
    return (all(v is None for v in state["vn"].values()) and not state["mounts"]
            and not state["taps"] and not state.get("bridges"))


def test_root_image_recipe_leaves_nothing_behind(host, tmp_path, capsys):
    img, root = tmp_path / "root.img", tmp_path / "root"
    root.mkdir()
    assert tool(host, capsys, "vnconfig", "-c", "-T", "-S", "2g", "vn0", str(img))[0] == 0
    assert img.stat().st_size == 2 << 30 and img.stat().st_blocks < 64   # sparse
    status, out, _ = tool(host, capsys, "vnconfig", "-l")
    assert f"vn0: covering {img} on da0s1d, inode {img.stat().st_ino}" in out
    assert "vn1: not in use" in out
    for argv in (("fdisk", "-IB", "vn0"), ("disklabel", "-r", "-w", "vn0s1", "auto")):
        assert tool(host, capsys, *argv)[0] == 0
    status, label, _ = tool(host, capsys, "disklabel", "vn0s1")
    assert status == 0 and label.startswith("# /dev/vn0s1:")
    (tmp_path / "label.tmp").write_text(label + "  a: * 0 4.2BSD\n")
    for argv in (("disklabel", "-R", "vn0s1", str(tmp_path / "label.tmp")),
                 ("disklabel", "-B", "vn0s1"), ("newfs", "/dev/vn0s1a"),
                 ("vnconfig", "-u", "vn0"), ("vnconfig", "-c", "vn0", str(img)),
                 ("fsck", "-p", "/dev/vn0s1a"), ("mount", "/dev/vn0s1a", str(root))):
        assert tool(host, capsys, *argv)[0] == 0, argv
    (root / "etc").mkdir()
    (root / "etc" / "fstab").write_text("/dev/vkd0s1a / ufs rw 1 1\n")
    assert tool(host, capsys, "mount")[1] == f"/dev/vn0s1a on {root} (ufs, local)\n"
    assert tool(host, capsys, "vnconfig", "-u", "vn0")[2] == "vnconfig: VNIOCDETACH: Device busy\n"
    assert tool(host, capsys, "umount", str(root))[0] == 0
    assert os.listdir(root) == []
    assert tool(host, capsys, "vnconfig", "-u", "vn0")[0] == 0
    assert clean(host.load_state())
    # the image keeps its files: mount again and they are back
    assert tool(host, capsys, "vnconfig", "-c", "vn1", str(img))[0] == 0
    assert tool(host, capsys, "mount", "/dev/vn1s1a", str(root))[0] == 0
    assert (root / "etc" / "fstab").read_text() == "/dev/vkd0s1a / ufs rw 1 1\n"
    assert tool(host, capsys, "umount", "/dev/vn1s1a")[0] == 0
    assert tool(host, capsys, "vnconfig", "-u", "vn1")[0] == 0
    assert clean(host.load_state())
    meta = simfs.read_meta(img)
    assert meta["mbr"] and meta["labels"]["1"]["bootblocks"] and meta["fs"]["part"] == "s1a"


def test_recipe_errors_in_the_tools_words(host, tmp_path, capsys):
    img = tmp_path / "x.img"
    assert tool(host, capsys, "fdisk", "-IB", "vn0")[2] == (
        "fdisk: cannot open disk /dev/vn0: Device not configured\n")
    assert tool(host, capsys, "vnconfig", "-c", "vn0", str(img))[2] == (
        "vnconfig: VNIOCATTACH: No such file or directory\n")
    assert tool(host, capsys, "vnconfig", "-c", "-T", "vn0", str(img))[2] == (
        "vnconfig: -T may only be used with -S\n")
    assert tool(host, capsys, "vnconfig", "-c", "-T", "-S", "8m", "vn0", str(img))[0] == 0
    assert tool(host, capsys, "vnconfig", "-c", "vn0", str(img))[2] == (
        "vnconfig: VNIOCATTACH: Device busy\n")
    assert tool(host, capsys, "disklabel", "-r", "-w", "vn0s1", "auto")[2] == (
        "disklabel: /dev/vn0s1: No such file or directory\n")
    assert tool(host, capsys, "fsck", "-p", "/dev/vn0s1a")[0] == 8
    (tmp_path / "mnt").mkdir()
    status, _, err = tool(host, capsys, "umount", str(tmp_path / "mnt"))
    assert (status, err) == (1, f"umount: {tmp_path / 'mnt'}: not currently mounted\n")
    assert tool(host, capsys, "vnconfig", "-u", "vn0")[0] == 0
    assert tool(host, capsys, "vnconfig", "-u", "vn0")[2] == (
        "vnconfig: VNIOCDETACH: Invalid argument\n")
    assert tool(host, capsys, "vnconfig", "-u", "vn9")[2] == (
        "vnconfig: /dev/vn9: No such file or directory\n")
    assert clean(host.load_state())


def test_umount_refuses_a_busy_mount_point(host, tmp_path, capsys):
    img, root = tmp_path / "r.img", tmp_path / "r"
    root.mkdir()
    for argv in (("vnconfig", "-c", "-T", "-S", "8m", "vn0", str(img)), ("fdisk", "-I", "vn0"),
                 ("disklabel", "-r", "-w", "vn0s1", "auto")):
        tool(host, capsys, *argv)
    (tmp_path / "l").write_text("a: * 0 4.2BSD\n")
    for argv in (("disklabel", "-R", "vn0s1", str(tmp_path / "l")), ("newfs", "/dev/vn0s1a"),
                 ("mount", "/dev/vn0s1a", str(root))):
        assert tool(host, capsys, *argv)[0] == 0
    sleeper = subprocess.Popen(["sleep", "30"], cwd=root)
    try:
        status, _, err = tool(host, capsys, "umount", str(root))
        assert (status, err) == (1, f"umount: unmount of {root} failed: Device busy\n")
    finally:
        sleeper.kill()
        sleeper.wait()
    assert tool(host, capsys, "umount", str(root))[0] == 0
    assert tool(host, capsys, "vnconfig", "-u", "vn0")[0] == 0


def test_no_vn_device_fault(host, tmp_path, capsys):
    host.set_faults({"no-vn-device": None})
    out = tool(host, capsys, "vnconfig", "-l")[1]
    assert "not in use" not in out and out.count("covering") == len(DEFAULT_STATE["vn"])
    assert tool(host, capsys, "vnconfig", "-c", "-T", "-S", "8m", "vn0",
                str(tmp_path / "a.img"))[2] == "vnconfig: VNIOCATTACH: Device busy\n"
    assert clean(host.load_state())


def test_sysctl(host, capsys):
    assert tool(host, capsys, "sysctl", "vm.vkernel_enable")[1] == "vm.vkernel_enable: 1\n"
    assert tool(host, capsys, "sysctl", "vm.vkernel_enable=0")[1] == (
        "vm.vkernel_enable: 1 -> 0\n")
    assert tool(host, capsys, "sysctl", "-n", "vm.vkernel_enable")[1] == "0\n"
    assert tool(host, capsys, "sysctl", "no.such")[1:] == ("", "sysctl: unknown oid 'no.such'\n")
    assert tool(host, capsys, "sysctl", "hw.ncpu=8")[2] == "sysctl: oid 'hw.ncpu' is read only\n"
    assert tool(host, capsys, "sysctl", "vm.vkernel_enable=yes")[0] == 1
    assert host.load_state()["sysctl"]["vm.vkernel_enable"] == 0


def test_kldload_and_bridged_taps(host, capsys):
    assert tool(host, capsys, "kldload", "if_bridge.ko")[0] == 0
    assert tool(host, capsys, "kldload", "if_tap")[0] == 0
    assert tool(host, capsys, "kldload", "if_tap.ko")[2] == (
        "kldload: can't load if_tap.ko: File exists\n")
    assert tool(host, capsys, "kldload", "nosuch")[0] == 1
    assert tool(host, capsys, "ifconfig", "tap", "create")[1] == "tap0\n"
    assert tool(host, capsys, "ifconfig", "tap3", "create")[0] == 0
    assert tool(host, capsys, "ifconfig", "bridge0", "create")[0] == 0
    assert tool(host, capsys, "ifconfig", "bridge0", "addm", "re0", "addm", "tap0", "up")[0] == 0
    assert "\tmember: tap0 flags=3<LEARNING,DISCOVER>" in tool(host, capsys, "ifconfig")[1]
    assert tool(host, capsys, "ifconfig", "bridge0", "addm", "tap9")[2] == (
        "ifconfig: BRDGADD tap9: No such file or directory\n")
    for name in ("tap0", "tap3", "bridge0"):
        assert tool(host, capsys, "ifconfig", name, "destroy")[0] == 0
    assert tool(host, capsys, "ifconfig", "tap0", "destroy")[2] == (
        "ifconfig: interface tap0 does not exist\n")
    assert clean(host.load_state())
    assert host.load_state()["modules"] == ["if_bridge", "if_tap"]


def test_checkpt_argument_errors(host, tmp_path, capsys):
    assert tool(host, capsys, "checkpt")[:3:2] == (1, "checkpt -r file.ckpt\n")
    assert tool(host, capsys, "checkpt", "-r", str(tmp_path / "none"))[2] == (
        f"unable to open {tmp_path / 'none'}\n")


def test_umount_packs_the_directory_into_the_image(host, tmp_path, capsys):
    img = tmp_path / "i.img"
    with open(img, "wb") as f:
        f.truncate(1 << 20)
    simfs.write_meta(img, {"mbr": True, "bootcode": False, "fs": None,
                           "labels": {"1": {"partitions": {"a": [100, 0, "4.2BSD"]},
                                            "bootblocks": False}}})
    simfs.newfs(img, "s1a")
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "f").write_text("data")
    simfs.pack(d, img, "s1a")
    assert os.path.getsize(img) == 1 << 20
    with open(img, "rb") as f:
        f.seek(simfs.HEADER_SIZE)
        with tarfile.open(fileobj=f, mode="r|") as tar:
            assert "sub/f" in [m.name for m in tar]
    (d / "big").write_bytes(os.urandom(2 << 20))
    with pytest.raises(simfs.SimfsError, match="No space left on device"):
        simfs.pack(d, img, "s1a")


def test_hw_vmm_enable_is_writable_only_with_vmm_hardware(tmp_path, capsys):
    """vmm.c: read-only "enable not supported" without VMM, else 0/1 and only a change."""
    host = SimHost(tmp_path / "h").create()
    assert host_tool(host, "sysctl", "hw.vmm.enable=0") == 1
    assert "is read only" in capsys.readouterr().err
    with host.update_state() as st:
        st["sysctl"].update({"hw.vmm.type": "vmx", "hw.vmm.enable": 1})
    assert host_tool(host, "sysctl", "hw.vmm.enable=1") == 1
    assert "hw.vmm.enable: Invalid argument" in capsys.readouterr().err
    assert host_tool(host, "sysctl", "hw.vmm.enable=0") == 0
    assert host.load_state()["sysctl"]["hw.vmm.enable"] == 0
