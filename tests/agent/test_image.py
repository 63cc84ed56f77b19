"""image on the simulated host: built the test/vkernel way, reused while the world is the same,
rebuilt when it changes, and the vn unit and mount released on success and on failure."""
import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
import zipfile

from buildbot_vkckpt.agent.image import (GUEST_SUITE_DIR, builtin_suite_files, edit_ttys,
                                         files_sha256)
from buildbot_vkckpt.agent.zipapp import build_zipapp
from buildbot_vkckpt.simhost import simfs
from buildbot_vkckpt.simhost.tree import commit_change
from buildbot_vkckpt.suite import suite_dir

from .simsupport import copy_image, parse_run


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
    assert [t for t in ttys if t.startswith("ttyv")]
    assert not [t for t in ttys if t.startswith("ttyv") and shlex.split(t)[3] != "off"], ttys
    assert 'hostname="vkernel"' in (etc / "rc.conf").read_text()
    assert (tmp_path / "root" / "boot" / "kernel" / "kernel").exists()


def test_every_getty_but_the_consoles_is_off_however_the_status_is_padded():
    text = ('# name\tgetty\ttype\tstatus\tcomments\n'
            'console\tnone\t\t\t\tunknown\toff secure\n'
            'ttyv0\t"/usr/libexec/getty Pc"\t\tcons25\ton  secure\n'
            'ttyv1 "/usr/libexec/getty Pc" cons25 on secure\n'
            'ttyd0\t"/usr/libexec/getty std.9600"\tdialup\toff secure\n'
            'ttyv2\t"/usr/libexec/getty Pc"\tcons25\ton\n')
    out = edit_ttys(text).splitlines()
    assert out[0] == 'console\t"/usr/libexec/getty al.Pc"\tcons25\ton\tsecure'
    assert out[1] == "# name\tgetty\ttype\tstatus\tcomments"
    assert [shlex.split(ln)[3] for ln in out[2:]] == ["off"] * 4, out
    assert out[2] == 'ttyv0\t"/usr/libexec/getty Pc"\t\tcons25\toff  secure'
    assert len(out) == 6                               # the old console line is gone


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
    # the world the image installs is missing: the host's build, not the kernel under test
    assert run.returncode == 4 and run.result["kind"] == "infrastructure", run
    assert run.summary.startswith("installworld failed: "), run
    assert "buildworld and buildkernel finished" in run.result["fix"]
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
    assert run.returncode == 4 and run.result["kind"] == "infrastructure", run
    assert run.summary == "installworld failed: make: stopped in /usr/src"
    assert run.details["tail"][-1] == "make: stopped in /usr/src"
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


# --- the guest suite in the image ------------------------------------------------------------

def suite_in_image(image, dest):
    simfs.unpack(str(image), "s1a", str(dest))
    root = dest / GUEST_SUITE_DIR
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_with_suite_installs_the_builtin_suite_without_python(sim, tmp_path):
    image = sim.tmp / "suite.img"
    run = sim.built.image_run(sim.session, image, "--with-suite")
    assert run.returncode == 0, run
    assert run.summary == "built root image suite.img (64m) with the guest suite at /usr/vkckpt"
    assert run.details["suite"] == "builtin"
    files = suite_in_image(image, tmp_path / "root")
    shipped = builtin_suite_files()
    assert files == [rel for rel, _data, _mode in shipped]
    assert {"run.sh", "build.sh", "Makefile", "lib/ckpt_test.h", "tests/memory.c",
            "tests/memory.meta"} <= set(files)
    assert not [f for f in files if f.endswith((".py", ".pyc")) or "__pycache__" in f]
    root = tmp_path / "root" / GUEST_SUITE_DIR
    assert (root / "run.sh").read_bytes() == (suite_dir() / "run.sh").read_bytes()
    stamp = json.loads((sim.tmp / "suite.img.stamp").read_text())
    assert stamp["suite_sha256"] == files_sha256(shipped)


def test_suite_hash_in_the_stamp_rebuilds_the_image_when_the_suite_changes(sim, tmp_path):
    suite = tmp_path / "suite"
    shutil.copytree(suite_dir(), suite, ignore=shutil.ignore_patterns("*.py", "__pycache__",
                                                                      "bin"))
    image = copy_image(sim.built.image, sim.tmp / "root.img")
    run = sim.built.image_run(sim.session, image, "--suite", suite)
    assert run.details["reused"] is False, run            # the old image had no suite
    # the same files from the agent itself are the same suite: still reusable
    run = sim.built.image_run(sim.session, image, "--suite", "builtin")
    assert run.returncode == 0 and run.details["reused"] is True, run
    (suite / "tests" / "memory.meta").write_text("description=changed\n")
    run = sim.built.image_run(sim.session, image, "--suite", suite)
    assert run.details["reused"] is False, run
    got = suite_in_image(image, tmp_path / "root")
    assert "tests/memory.meta" in got
    assert (tmp_path / "root" / GUEST_SUITE_DIR / "tests" / "memory.meta").read_text() \
        == "description=changed\n"
    run = sim.built.image_run(sim.session, image)          # no suite at all: another image
    assert run.details["reused"] is False and run.details["suite_sha256"] is None, run


def test_suite_dir_missing_on_the_host_is_infrastructure(sim):
    run = sim.built.image_run(sim.session, sim.tmp / "m.img", "--suite", "/master/only/suite")
    assert run.returncode == 4 and run.result["kind"] == "infrastructure", run
    assert run.summary == "no suite directory at /master/only/suite on this host"
    assert "--suite builtin" in run.result["fix"]
    assert host_commands(run) == []


def test_the_zipapp_alone_carries_the_suite_into_the_image(sim, tmp_path):
    pyz = tmp_path / "agent.pyz"
    build_zipapp(str(pyz))
    with zipfile.ZipFile(pyz) as zf:
        names = zf.namelist()
        assert zf.getinfo("buildbot_vkckpt/suite/run.sh").external_attr >> 16 == 0o755
    assert "buildbot_vkckpt/suite/tests/memory.c" in names
    assert not [n for n in names if n.startswith("buildbot_vkckpt/suite/") and n.endswith(".py")]
    env = sim.env()
    env.pop("PYTHONPATH")                 # only what is inside the zipapp
    image = sim.tmp / "z.img"
    proc = subprocess.run([sys.executable, str(pyz), "image", "--session", sim.session,
                           "--src", sim.host.src, "--objdir", sim.host.obj, "--image", image,
                           "--size", "64m", "--with-suite"], cwd=str(tmp_path), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    run = parse_run(proc.returncode, proc.stdout, proc.stderr)
    assert run.returncode == 0 and run.details["suite"] == "builtin", run
    assert suite_in_image(image, tmp_path / "root") == [r for r, _d, _m in builtin_suite_files()]
    assert (tmp_path / "root" / GUEST_SUITE_DIR / "run.sh").stat().st_mode & 0o111
    assert run.details["suite_sha256"] == files_sha256(builtin_suite_files())
