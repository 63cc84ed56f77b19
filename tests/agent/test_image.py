"""image on the simulated host: built the test/vkernel way, reused while the world is the same,
rebuilt when it changes, and the vn unit and mount released on success and on failure."""
import json
import os
import shutil
import stat

from buildbot_vkckpt.simhost import simfs
from buildbot_vkckpt.simhost.tree import commit_change

from .simsupport import copy_image


def host_commands(run):
    return [ln[len("vkckpt: $ "):] for ln in run.stdout.splitlines()
            if ln.startswith("vkckpt: $ ")]


def test_built_image_follows_the_recipe(built_host):
    run = built_host.image_result
    assert run.details["reused"] is False and run.summary == "built root image root.img (64m)"
    cmds = host_commands(run)
    unit = cmds[0].split()[-2]
    assert cmds[0] == f"vnconfig -c -T -S 64m {unit} {built_host.image}"
    assert cmds[1] == f"fdisk -IB {unit}"
    assert f"newfs /dev/{unit}s1a" in cmds
    assert any(c.startswith(f"mount /dev/{unit}s1a ") for c in cmds)
    assert [c.split()[-1] for c in cmds if c.startswith("make ")] == [
        "installworld", "distribution", "installkernel"]
    stamp = json.loads((built_host.image.parent / "root.img.stamp").read_text())
    assert stamp["world_revision"] == run.details["world_revision"]
    assert "released mount" in run.stdout and f"released vn unit {unit}" in run.stdout
    state = built_host.host.load_state()
    assert not any(state["vn"].values()) and state["mounts"] == {}
    meta = simfs.read_meta(str(built_host.image))
    assert meta, "the image holds a filesystem"


def test_image_holds_fstab_ttys_and_rc_conf(built_host, tmp_path):
    simfs.unpack(str(built_host.image), "s1a", str(tmp_path / "root"))
    etc = tmp_path / "root" / "etc"
    assert (etc / "fstab").read_text().startswith("/dev/vkd0s1a\t/\tufs\trw\t1\t1\n")
    ttys = (etc / "ttys").read_text().splitlines()
    assert ttys[0] == 'console\t"/usr/libexec/getty al.Pc"\tcons25\ton\tsecure'
    assert not [t for t in ttys if t.startswith("ttyv") and "\ton\t" in t]
    assert 'hostname="vkernel"' in (etc / "rc.conf").read_text()
    assert (tmp_path / "root" / "boot" / "kernel" / "kernel").exists()


def test_image_boots_with_autologin_console(sim):
    run = sim.boot()
    assert run.returncode == 0, run
    assert "login: " not in run.stdout   # al.Pc logged root in; the agent typed no name
    assert sim.agent("shutdown").returncode == 0


def test_reused_while_the_world_is_unchanged_rebuilt_when_it_changes(sim):
    image = copy_image(sim.built.image, sim.tmp / "root.img")
    run = sim.built.image_run(sim.session, image)
    assert run.returncode == 0 and run.details["reused"] is True, run
    assert host_commands(run) == []
    assert run.summary.startswith("reused root image root.img (world ")

    rev = commit_change(sim.host.src, {"bin/ls/ls.c": "/* changed */\n"}, "ls: a change")
    run = sim.built.image_run(sim.session, image)
    assert run.returncode == 0 and run.details["reused"] is False, run
    assert run.details["world_revision"] == rev
    run = sim.built.image_run(sim.session, image)
    assert run.details["reused"] is True
    run = sim.built.image_run(sim.session, image, "--force")
    assert run.details["reused"] is False


def test_failed_install_releases_mount_and_vn(sim):
    sim.fault(world_missing=None)
    image = sim.tmp / "broken.img"
    run = sim.built.image_run(sim.session, image)
    assert run.returncode == 1 and run.summary.startswith("installworld failed: "), run
    assert "released mount" in run.stdout and "released vn unit vn0" in run.stdout
    assert not os.path.exists(str(image) + ".stamp")
    # the sim fixture checks the host: no vn unit in use, no mount


def test_broken_make_releases_mount_and_vn(sim, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    make = bindir / "make"
    make.write_text("#!/bin/sh\necho 'make: dont know how to make installworld. Stop'\n"
                    "echo\necho 'make: stopped in /usr/src'\nexit 2\n")
    make.chmod(make.stat().st_mode | stat.S_IXUSR)
    env = sim.env()
    env["PATH"] = f"{bindir}:{env['PATH']}"
    run = sim.built.image_run(sim.session, sim.tmp / "x.img", env=env)
    assert run.returncode == 1, run
    assert run.summary == "installworld failed: make: stopped in /usr/src"
    assert "released mount" in run.stdout and "released vn unit" in run.stdout


def test_no_vn_device_is_infrastructure_and_touches_nothing(sim):
    sim.fault(no_vn_device=None)
    run = sim.built.image_run(sim.session, sim.tmp / "y.img")
    assert run.returncode == 4 and run.result["kind"] == "infrastructure", run
    assert run.summary.startswith("no free vn unit on the host")
    assert host_commands(run) == []


def test_a_unit_in_use_elsewhere_is_skipped_and_left_alone(sim):
    with sim.host.update_state() as st:
        st["vn"]["vn0"] = "/elsewhere.img"
    try:
        run = sim.built.image_run(sim.session, sim.tmp / "z.img")
        assert run.returncode == 0, run
        assert host_commands(run)[0].split()[-2] == "vn1"
        assert sim.host.load_state()["vn"]["vn0"] == "/elsewhere.img"
    finally:
        with sim.host.update_state() as st:
            st["vn"]["vn0"] = None


def test_missing_kernel_is_infrastructure(sim, tmp_path):
    run = sim.agent("image", "--src", sim.host.src, "--objdir", tmp_path / "noobj",
                    "--image", tmp_path / "n.img", "--size", "64m")
    assert run.returncode == 4 and run.summary.startswith("no built kernel at "), run
    shutil.rmtree(tmp_path / "noobj", ignore_errors=True)
