"""The simulated vkernel's ``-I`` interfaces: vke0 on a tap in bridge0 or on a vknetd socket,
the guest's ``ifconfig``, the host's taps, and what netif_close/netif_restore (§19) do to them."""
import os
import re
import socket

import pytest

from buildbot_vkckpt.simhost import netif
from tests.simhost.test_vkernel import to_sh, host_tool, sim  # noqa: F401 (fixture)
# core_limit: autouse, a checkpoint needs RLIMIT_CORE > 0
from tests.simhost.test_vkernel_ckpt import Restored, checkpoint, core_limit  # noqa: F401

NET_RC = 'hostname="vkernel"\nnetwork_interfaces="lo0 vke0"\nifconfig_vke0="DHCP"\n'
UP = "vke0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> mtu 1500"
DOWN = "vke0: flags=8802<BROADCAST,SIMPLEX,MULTICAST> mtu 1500"


def bridged_host(sim):
    """vkernel.7's recipe (§3): the modules, bridge0 with the host's NIC, up."""
    for argv in (("kldload", "if_tap"), ("kldload", "if_bridge"), ("ifconfig", "bridge0", "create"),
                 ("ifconfig", "bridge0", "addm", "re0", "up")):
        assert host_tool(sim.host, *argv) == 0, argv


def boot_net(sim, *net, rc=NET_RC):
    image = sim.image(extra={"etc/rc.conf": rc})
    args = ["-r", str(image)]
    for spec in net:
        args += ["-I", spec]
    vk = sim.start(*args)
    to_sh(vk)
    return vk


def state(sim):
    st = sim.host.load_state()
    return st["taps"], st.get("bridges", {}).get("bridge0", {}).get("members"), \
        {k: v["pid"] for k, v in st.get("tap_open", {}).items()}


def guest(vk, command):
    """A guest command's output lines, without the shell prompts that may lead a line."""
    out, rc = vk.run(command)
    return [re.sub(r"^(# )+", "", ln) for ln in out.splitlines()], rc


def halt(vk):
    vk.send("halt\r")
    assert vk.wait() == 0


def test_split_and_parse_follow_netif_init_tap():
    assert netif.split_spec("auto:bridge0") == ("auto", ["bridge0"], None)
    assert netif.split_spec("tap3:10.0.0.1:10.0.0.2/24=00:11:22:33:44:55") == (
        "tap3", ["10.0.0.1", "10.0.0.2", "24"], "00:11:22:33:44:55")
    assert netif.parse_tokens(["bridge0", "10.0.0.2", "24"]) == (None, "bridge0", "10.0.0.2", 24)
    assert netif.parse_tokens(["10.0.0.1", "16"]) == ("10.0.0.1", None, None, 16)
    for tokens, message in ((["bridge0", "junk"], "Invalid pseudo netif address: junk"),
                            (["10.0.0.1", "40"], "Invalid netmask len: 40"),
                            (["10.0.0.1", "10.0.0.2", "24", "x"], "Invalid argument to '-I'")):
        with pytest.raises(netif.NetifError, match=re.escape(message)):
            netif.parse_tokens(tokens)
    with pytest.raises(netif.NetifError, match="Invalid argument to '-I'"):
        netif.split_spec("=00:11:22:33:44:55")


def test_auto_bridge0_gives_vke0_up_and_releases_the_tap(sim):
    bridged_host(sim)
    vk = boot_net(sim, "auto:bridge0", "auto:bridge0")
    text = vk.text()
    # host-side lines first (§2), the attach lines after the disks, rc brings vke0 up
    assert text.index("KVM mapped at") < text.index("TAP UNIT 0") < text.index("TAP UNIT 1") \
        < text.index("Copyright (c) 2003-2020")
    mac = re.search(r"vke0: MAC address: (00:be(:[0-9a-f]{2}){3}:00)\r?\n", text).group(1)
    assert "vke1: MAC address: 00:be:" in text
    assert text.index("vkd0: <Virtual disk>") < text.index("vke0: MAC address")
    assert text.index("lo0: flags=8049") < text.index(UP) < text.index("vkernel# ")
    assert "vke1: flags" not in text   # rc.conf configures vke0 only
    taps, members, held = state(sim)
    child = vk.child_pid()
    assert set(taps) == {"tap0", "tap1"} and members == ["re0", "tap0", "tap1"]
    assert held == {"tap0": child, "tap1": child}
    out, rc = guest(vk, "ifconfig vke0")
    assert rc == 0 and out == [UP, f"\tether {mac}",
                                            "\tmedia: Ethernet autoselect (1000baseT "
                                            "<full-duplex>)", "\tstatus: active"]
    assert guest(vk, "ifconfig -l")[0] == ["lo0 vke0 vke1"]
    out, _ = guest(vk, "ifconfig vke1 | head -n 1; ifconfig vke1 up; ifconfig vke1 | head -n 1")
    assert out == [DOWN.replace("vke0", "vke1"), UP.replace("vke0", "vke1")]
    assert guest(vk, "ifconfig vke7") == (["ifconfig: interface vke7 does not exist"], 1)
    halt(vk)
    assert state(sim) == ({}, ["re0"], {})   # cloned taps are destroyed on close


def test_missing_module_or_bridge_boots_without_vke0(sim):
    vk = boot_net(sim, "auto:bridge0")
    assert "kernel: Unable to find a free tap(4): No such file or directory\n" in vk.stderr()
    assert "TAP UNIT" not in vk.text() and "vke0" not in vk.text()
    assert guest(vk, "ifconfig vke0") == (["ifconfig: interface vke0 does not exist"], 1)
    halt(vk)
    assert host_tool(sim.host, "kldload", "if_tap") == 0
    vk = boot_net(sim, "auto:bridge0")     # if_tap, but no if_bridge and no bridge0
    assert "TAP UNIT 0" in vk.text() and "vke0" not in vk.text()
    assert "kernel: ioctl(bridge0, SIOCSDRVSPEC) failed: Device not configured\n" in vk.stderr()
    assert state(sim) == ({}, None, {})    # the tap was closed again, so destroyed
    halt(vk)


def test_named_tap_and_bad_devices(sim):
    bridged_host(sim)
    assert host_tool(sim.host, "ifconfig", "tap3", "create") == 0
    not_tap = sim.dir / "plain"
    not_tap.write_text("")
    vk = boot_net(sim, "tap3:10.0.0.1/24", "tap3", str(not_tap), "tap9", "auto:bridge0:junk")
    err = vk.stderr()
    assert "TAP UNIT 3" in vk.text() and "TAP UNIT 0" in vk.text()
    assert "kernel: Unable to open /dev/tap3: Device busy\n" in err        # held by vke0
    assert f"kernel: {not_tap} is not a tap(4) device or socket\n" in err
    assert "kernel: Unable to open /dev/tap9: No such file or directory\n" in err
    assert "kernel: Invalid pseudo netif address: junk\n" in err
    assert guest(vk, "ifconfig -l")[0] == ["lo0 vke0"]
    assert state(sim)[2] == {"tap3": vk.child_pid()}
    halt(vk)
    assert state(sim) == ({"tap3": state(sim)[0]["tap3"]}, ["re0"], {})   # the admin's tap stays


def test_tap_bridge_link_survives_checkpoint_and_restore(sim):
    bridged_host(sim)
    vk = boot_net(sim, "auto:bridge0")
    mac = re.search(r"vke0: MAC address: (\S+)", vk.text()).group(1)
    ckpt = checkpoint(sim, vk)
    assert state(sim) == ({}, ["re0"], {})    # netif_close() before the freeze
    r = Restored(sim, ckpt)
    sim.started.append(r)
    r.expect("TAP UNIT 0")                    # netif_open_tap() again, then back in bridge0
    r.expect("Restored from checkpoint...")
    assert "SIOCAIFADDR" not in r.stderr() and "Couldn't" not in r.stderr()
    taps, members, held = state(sim)
    assert list(taps) == ["tap0"] and members == ["re0", "tap0"] and held == {"tap0": r.proc.pid}
    assert guest(r, "ifconfig vke0")[0][:2] == [UP, f"\tether {mac}"]
    r.send("halt\r")
    assert r.wait() == 0
    assert state(sim) == ({}, ["re0"], {})
    os.unlink(ckpt)


def test_vknetd_socket_link_does_not_survive_restore(sim):
    path = str(sim.dir / "vknet")
    vknetd = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)   # stands in for vknetd(8)
    vknetd.bind(path)
    vknetd.listen(8)
    try:
        vk = boot_net(sim, path)
        assert "Network socket buffer: 262144 bytes" in vk.text()
        assert "TAP UNIT" not in vk.text() and UP in vk.text()
        ckpt = checkpoint(sim, vk)
        r = Restored(sim, ckpt)
        sim.started.append(r)
        r.expect("Network socket buffer: 262144 bytes")   # the socket reconnects ...
        r.expect("Restored from checkpoint...")
        # ... but netif_set_tapaddr(-1, ...) fails for it (§19 "Further limits")
        assert r.stderr() == ("kernel: tap-1: ioctl(SIOCAIFADDR) failed: Device not configured\n"
                              "kernel: Couldn't reinitialize network interface\n")
        assert guest(r, "ifconfig vke0 | head -n 1")[0] == [DOWN]
        # both connections (boot, restore) were closed by the vkernel
        vknetd.settimeout(1)
        for _ in range(2):
            conn, _ = vknetd.accept()
            conn.settimeout(1)
            assert conn.recv(64) == b""
            conn.close()
        r.send("halt\r")
        assert r.wait() == 0
        os.unlink(ckpt)
    finally:
        vknetd.close()
