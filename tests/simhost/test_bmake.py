"""The simulated DragonFly make, run through the host's ``bin/make`` wrapper like a worker would."""
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from buildbot_vkckpt.simhost import bmake, tree
from buildbot_vkckpt.simhost.host import SimHost

DASHES = "-" * 62
WORLD_BANNERS = [
    ">>> starting buildworld target",
    ">>> Rebuilding the temporary build tree",
    ">>> stage 1: bootstrap tools",
    ">>> stage 2b: rebuilding the object tree",
    ">>> stage 2c: build tools",
    ">>> stage 3: cross tools",
    ">>> stage 4a: populating {wd}/usr/include",
    ">>> stage 4b: building libraries",
    ">>> stage 4c: make dependencies",
    ">>> stage 4d: building everything",
    ">>> stage 5: building rescue and initrd",
    ">>> buildworld target complete",
]


@pytest.fixture
def host(tmp_path):
    h = SimHost(tmp_path / "host").create()
    tree.create_source_tree(h)
    return h


def make(host, *args, cwd=None, speed="0", **env):
    environ = host.env()
    environ.pop("MAKEOBJDIRPREFIX", None)
    environ[bmake.SPEED_VAR] = speed
    environ.update(env)
    return subprocess.run([str(host.bin / "make"), *args], cwd=str(cwd or host.src), env=environ,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)


def banners(text):
    return [line for line in text.splitlines() if line.startswith(">>> ")]


def worlddest(host):
    return host.obj / "world_x86_64"


def kernel_dir(host, kernconf="VKERNEL64", prefix=None):
    return Path(f"{prefix or host.obj}{host.src}/sys/{kernconf}")


def built(host, *targets):
    for target in targets:
        args = ["KERNCONF=VKERNEL64"] if "kernel" in target else []
        r = make(host, "-j", "2", target, *args)
        assert r.returncode == 0, r.stdout + r.stderr
    return host


def failure_levels(stdout):
    """(target, directory) of each -j failure level, in order."""
    pairs = re.findall(r"^\*\*\* \[(\S+)\] Error code \d+\n\nmake: stopped in (\S+)$",
                       stdout, re.M)
    return pairs


# --- top level ---------------------------------------------------------------------------------
def test_no_target_asks_for_one(host):
    r = make(host)
    assert r.stdout.strip() == "Explicit target required.  See build(7)."
    assert r.returncode == 0


def test_unknown_target_is_a_make_error(host):
    r = make(host, "frobnicate")
    assert r.returncode == 2
    assert "don't know how to make frobnicate" in r.stderr


# --- buildworld ----------------------------------------------------------------------------------
def test_buildworld_prints_stage_banners_in_order_and_leaves_the_world(host):
    r = make(host, "buildworld")
    assert r.returncode == 0, r.stderr
    wd = worlddest(host)
    assert banners(r.stdout) == [b.format(wd=wd) for b in WORLD_BANNERS]
    lines = r.stdout.splitlines()
    for i, line in enumerate(lines):  # every banner sits between two 62-dash lines
        if line.startswith(">>> "):
            assert lines[i - 1] == DASHES and lines[i + 1] == DASHES and lines[i - 2] == ""
    assert "===> lib/libc" in lines and "===> bin/ls" in lines
    assert any(line.startswith("cc -O2 -pipe") and line.endswith("-c %s/bin/ls/ls.c -o ls.o"
                                                                 % host.src) for line in lines)
    stamp = wd / bmake.WORLD_STAMP
    assert stamp.read_text().strip() == tree.revision(host.src)
    assert (wd / "usr/include/sys/param.h").is_file()
    assert (host.obj / str(host.src).lstrip("/") / "bin/ls/ls").is_file()


def test_normal_build_has_a_handful_of_realistic_warnings(host):
    r = make(host, "buildworld")
    warnings = [line for line in r.stderr.splitlines() if ": warning: " in line]
    assert 10 <= len(warnings) <= 20
    assert all(re.match(r"^/\S+\.[ch]:\d+:\d+: warning: .* \[-W[\w=-]+\]$", w) for w in warnings)
    assert len(set(warnings)) < len(warnings)  # a header warning repeats


def test_world_fail_default_is_jobs_form_in_libc(host):
    host.set_faults({"world-fail": None})
    r = make(host, "-j", "4", "buildworld")
    assert r.returncode == 2
    src = str(host.src)
    assert failure_levels(r.stdout) == [("all", f"{src}/lib/libc"), ("libraries", src),
                                        ("_libraries", src), ("buildworld", src)]
    assert "*** [all] Error code 1" in r.stdout and "*** [libraries] Error code 2" in r.stdout
    assert r.stderr.count("1 error") == 4
    assert banners(r.stdout)[-1] == ">>> stage 4b: building libraries"
    assert not (worlddest(host) / bmake.WORLD_STAMP).exists()


def test_world_fail_serial_form(host):
    host.set_faults({"world-fail": "4d"})
    r = make(host, "buildworld")
    assert r.returncode == 1
    tail = r.stdout.splitlines()[-5 * 4:]  # five levels of four lines
    src = str(host.src)
    assert tail[:4] == ["*** Error code 1", "", "Stop.", f"make: stopped in {src}/bin/sh"]
    assert tail[4:8] == ["*** Error code 1", "", "Stop.", f"make: stopped in {src}/bin"]
    assert tail[-1] == f"make: stopped in {src}"
    assert r.stdout.count("Stop.") == 5  # bin/sh, bin, all, everything, top-level Makefile
    assert "1 error" not in r.stderr


def test_compile_error_in_named_file(host):
    host.set_faults({"compile-error": "bin/ls/ls.c"})
    r = make(host, "-j", "2", "buildworld")
    assert r.returncode == 2
    assert re.search(rf"^{re.escape(str(host.src))}/bin/ls/ls.c:\d+:\d+: error: ", r.stderr, re.M)
    levels = failure_levels(r.stdout)
    assert levels[0] == ("ls.o", f"{host.src}/bin/ls")
    assert levels[-2:] == [("everything", str(host.src)), ("buildworld", str(host.src))]
    assert banners(r.stdout)[-1] == ">>> stage 4d: building everything"


def test_compile_error_in_a_file_the_catalogue_lacks_lands_in_its_stage(host):
    host.set_faults({"compile-error": "lib/libutil/new_thing.c"})
    r = make(host, "buildworld")
    assert r.returncode == 1
    assert f"{host.src}/lib/libutil/new_thing.c:217:9: error:" in r.stderr
    assert banners(r.stdout)[-1] == ">>> stage 4b: building libraries"


def test_warning_storm(host):
    host.set_faults({"warning-storm": "300"})
    r = make(host, "buildworld")
    assert r.returncode == 0
    warnings = [line for line in r.stderr.splitlines() if ": warning: " in line]
    assert len(warnings) >= 300
    assert len(set(warnings)) < len(warnings) - 20
    assert len({re.search(r"\[(-W\S+)\]", w).group(1) for w in warnings}) >= 8


def test_quickworld_needs_a_world_then_skips_the_tool_stages(host):
    r = make(host, "quickworld")
    assert r.returncode == 1 and "make: not found" in r.stderr
    built(host, "buildworld")
    r = make(host, "quickworld")
    assert r.returncode == 0
    got = banners(r.stdout)
    assert got[0] == ">>> starting quickworld target" and got[-1] == ">>> quickworld target complete"
    assert ">>> stage 3: cross tools" not in got and ">>> stage 4c: make dependencies" in got
    r = make(host, "realquickworld")
    assert r.returncode == 0 and ">>> stage 4c: make dependencies" not in banners(r.stdout)


def test_no_clean_rebuilds_only_what_changed(host):
    built(host, "buildworld")
    rev = tree.commit_change(host.src, {"bin/ls/ls.c": "/* changed */\n"}, "ls: change")
    r = make(host, "-DNO_CLEAN", "buildworld")
    assert r.returncode == 0
    compiled = [line for line in r.stdout.splitlines() if line.startswith("cc ") and " -c " in line]
    assert len(compiled) == 1 and compiled[0].endswith("/bin/ls/ls.c -o ls.o")
    assert "rm -rf" not in r.stdout
    assert (worlddest(host) / bmake.WORLD_STAMP).read_text().strip() == rev


def test_speed_paces_the_output(host):
    start = time.monotonic()
    r = make(host, "buildworld", speed="10")  # 2 s of nominal work at 10x
    assert r.returncode == 0
    assert time.monotonic() - start >= 0.18


# --- kernels ---------------------------------------------------------------------------------------
def test_buildkernel_without_world_says_so(host):
    r = make(host, "buildkernel", "KERNCONF=VKERNEL64")
    assert r.returncode == 1
    assert r.stdout.splitlines()[:3] == [
        "You must buildworld before buildkernel.  If you wish",
        "to build a kernel using native tools, config it manually",
        "or use the nativekernel target if you are in a rush."]
    assert r.stdout.count("*** Error code 1") == 2
    r = make(host, "-j", "2", "buildkernel", "KERNCONF=VKERNEL64")
    assert r.returncode == 2
    assert failure_levels(r.stdout) == [("buildkernel", str(host.src))] * 2


def test_buildkernel_leaves_a_runnable_vkernel_script(host):
    built(host, "buildworld")
    r = make(host, "-j", "2", "-DNO_MODULES", "buildkernel", "KERNCONF=VKERNEL64")
    assert r.returncode == 0, r.stdout
    got = banners(r.stdout)
    assert re.fullmatch(r">>> Kernel build for VKERNEL64 started on \w{3} \w{3} [ \d]\d "
                        r"\d\d:\d\d:\d\d \S+ \d{4}", got[0])
    assert got[1].startswith(">>> Kernel build for VKERNEL64 completed on ")
    assert "===> VKERNEL64" in r.stdout and "linking kernel.debug" in r.stdout
    kdir = kernel_dir(host)
    script = kdir / "kernel.debug"
    assert os.access(script, os.X_OK) and (kdir / "kernel.stripped").is_file()
    data = script.read_bytes()
    lines = data.split(b"\0", 1)[0].decode().splitlines()
    rev = tree.revision(host.src)
    assert lines[0] == "#!/bin/sh"
    assert lines[1] == f"VKCKPT_SIMHOST={host.root}; export VKCKPT_SIMHOST"
    assert lines[2] == "VKCKPT_KERNCONF=VKERNEL64; export VKCKPT_KERNCONF"
    assert re.fullmatch(rf"VKCKPT_KERNEL_VERSION='DragonFly v5\.9\.0\.1\.g{rev[:5]}-DEVELOPMENT "
                        r"#1: .*'; export VKCKPT_KERNEL_VERSION", lines[3])
    assert re.fullmatch(r'PYTHONPATH=\S+ exec \S+python\S* -S -m buildbot_vkckpt.simhost.vkernel '
                        r'"\$0" "\$@"', lines[4])


# (getopt string, a usage line, handler message present) as the real binaries hold them
RODATA = {
    "gsoc2013": (b"c:hsvl:m:n:r:e:i:p:I:Ub:B:\0",
                 b"Usage: %s [-hsUv] [-c file] [-e name=value:name=value:...]\n", True),
    "master2020": (b"c:hsvztTl:m:n:r:R:e:i:p:I:Ud\0",
                   b"Usage: %s [-hsUvdt] [-c file] [-e name=value:name=value:...]\n", False),
    "master-with-port": (b"c:hsvztTl:m:n:r:R:e:i:p:I:Ud\0",
                         b"Usage: %s [-hsUvdt] [-c file] [-e name=value:name=value:...]\n",
                         True),
}


@pytest.mark.parametrize("flavour", sorted(RODATA))
def test_kernel_binary_holds_its_flavours_strings(tmp_path, flavour):
    h = SimHost(tmp_path / "host").create(flavour=flavour)
    tree.create_source_tree(h)
    built(h, "buildworld")
    assert make(h, "-DNO_MODULES", "buildkernel", "KERNCONF=VKERNEL64").returncode == 0
    data = (kernel_dir(h) / "kernel.debug").read_bytes()
    optstring, usage, handler = RODATA[flavour]
    assert optstring in data and usage in data
    assert (b"Checkpointing and continuing is not supported. Use SIGCKPTEXIT instead.\n\0"
            in data) == handler
    assert (b"Couldn't save checkpoint file\0" in data) == handler
    other = [v[0] for k, v in RODATA.items() if v[0] != optstring]
    assert not any(o in data for o in other)
    version = "v3.5.0." if flavour == "gsoc2013" else "v5.9.0."
    assert version in data.decode(errors="replace")


def test_kernel_objdir_follows_makeobjdirprefix(host, tmp_path):
    built(host, "nativekernel")
    assert (kernel_dir(host) / "kernel.debug").exists()
    elsewhere = tmp_path / "objs"
    r = make(host, "nativekernel", "KERNCONF=VKERNEL64", f"MAKEOBJDIRPREFIX={elsewhere}")
    assert r.returncode == 0
    assert (kernel_dir(host, prefix=elsewhere) / "kernel.debug").exists()
    r = make(host, "nativekernel", "KERNCONF=VKERNEL64", MAKEOBJDIRPREFIX=str(tmp_path / "env"))
    assert (kernel_dir(host, prefix=tmp_path / "env") / "kernel.debug").exists()


def test_several_kernconfs_and_missing_ones(host):
    r = make(host, "nativekernel", "KERNCONF=VKERNEL64 X86_64_GENERIC")
    assert r.returncode == 0
    assert [b.split(" on ")[0] for b in banners(r.stdout)] == [
        ">>> Kernel build for VKERNEL64 started", ">>> Kernel build for VKERNEL64 completed",
        ">>> Kernel build for X86_64_GENERIC started",
        ">>> Kernel build for X86_64_GENERIC completed"]
    assert not os.access(kernel_dir(host, "X86_64_GENERIC") / "kernel.debug", os.X_OK)
    r = make(host, "nativekernel", "KERNCONF=VKERNEL64 NOPE")
    assert r.returncode == 1
    assert r.stdout.splitlines()[:2] == [">>> ERROR: Missing kernel configuration file(s).",
                                         f">>> NOPE not found in {host.src}/sys/config."]


def test_kernel_fail_and_world_missing(host):
    built(host, "buildworld")
    host.set_faults({"kernel-fail": None})
    r = make(host, "-j", "2", "buildkernel", "KERNCONF=VKERNEL64")
    assert r.returncode == 2
    assert f"{host.src}/sys/kern/kern_checkpoint.c:217:9: error:" in r.stderr
    assert failure_levels(r.stdout)[0] == ("kern_checkpoint.o", str(kernel_dir(host)))
    assert not (kernel_dir(host) / "kernel.debug").exists()
    host.set_faults({"world-missing": None})
    r = make(host, "buildkernel", "KERNCONF=VKERNEL64")
    assert r.returncode == 1 and "You must buildworld before buildkernel." in r.stdout


def test_quickkernel_needs_a_kernel_and_counts_builds(host):
    built(host, "buildworld")
    r = make(host, "quickkernel", "KERNCONF=VKERNEL64")
    assert r.returncode == 1 and "No such file or directory" in r.stderr
    assert "*** Error code 2" in r.stdout  # the shell's status, then the parent's 1
    built(host, "buildkernel")
    r = make(host, "quickkernel", "KERNCONF=VKERNEL64")
    assert r.returncode == 0
    assert "-DEVELOPMENT #2: " in (kernel_dir(host) / "kernel.debug").read_text()
    assert "config -d" not in r.stdout


# --- installs ------------------------------------------------------------------------------------
def test_installkernel_copies_kernel_debug(host, tmp_path):
    dest = tmp_path / "vk"
    r = make(host, "installkernel", "KERNCONF=VKERNEL64", f"DESTDIR={dest}")
    assert r.returncode == 1 and "No such file or directory" in r.stderr
    built(host, "nativekernel")
    r = make(host, "installkernel", "KERNCONF=VKERNEL64", f"DESTDIR={dest}")
    assert r.returncode == 0
    got = [b.split(" on ")[0] for b in banners(r.stdout)]
    assert got == [">>> Kernel install for VKERNEL64 started",
                   ">>> Kernel install for VKERNEL64 completed"]
    kernel = dest / "boot/kernel/kernel"
    assert kernel.read_bytes() == (kernel_dir(host) / "kernel.debug").read_bytes()
    assert kernel.stat().st_mode & 0o777 == 0o755
    make(host, "installkernel", "KERNCONF=VKERNEL64", f"DESTDIR={dest}")
    assert (dest / "boot/kernel.old/kernel").exists()
    (dest / "boot/kernel.old/kernel").unlink()
    make(host, "reinstallkernel", "KERNCONF=VKERNEL64", f"DESTDIR={dest}")
    assert not (dest / "boot/kernel.old/kernel").exists() and kernel.exists()


def test_installkernel_into_var_vkernel_lands_in_the_host(host):
    built(host, "nativekernel")
    r = make(host, "-DNO_MODULES", "installkernel", "KERNCONF=VKERNEL64", "DESTDIR=/var/vkernel")
    assert r.returncode == 0
    assert (host.var_vkernel / "boot/kernel/kernel").is_file()


def test_install_without_destdir_is_refused(host):
    r = make(host, "installworld")
    assert r.returncode == 1 and "DESTDIR" in r.stderr


def test_installworld_needs_a_world_then_fills_destdir(host, tmp_path):
    dest = tmp_path / "root"
    r = make(host, "installworld", f"DESTDIR={dest}")
    assert r.returncode == 1
    built(host, "buildworld")
    r = make(host, "-j", "4", "installworld", f"DESTDIR={dest}", "NO_BACKUP=TRUE")
    assert r.returncode == 0, r.stdout + r.stderr
    assert banners(r.stdout) == [">>> starting installworld target", ">>> Making hierarchy",
                                 ">>> Installing everything", ">>> installworld target complete"]
    for rel in ("bin/sh", "bin/ls", "sbin/init", "usr/bin/checkpt", "usr/libexec/getty"):
        assert os.access(dest / rel, os.X_OK), rel
    assert (dest / "etc").is_dir() and (dest / "tmp").is_dir()
    assert (dest / ".world-revision").read_text().strip() == tree.revision(host.src)


def test_distribution_from_etc(host, tmp_path):
    dest = tmp_path / "root"
    r = make(host, "distribution", f"DESTDIR={dest}", cwd=host.src / "etc")
    assert r.returncode == 0, r.stderr
    ttys = (dest / "etc/ttys").read_text().splitlines()
    assert "console\tnone\t\t\t\tunknown\toff secure" in ttys
    gettys = [line for line in ttys if line.startswith("ttyv")]
    assert [g.split()[0] for g in gettys] == [f"ttyv{i}" for i in range(8)]
    assert all('"/usr/libexec/getty Pc"' in g and "cons25\ton" in g for g in gettys)
    assert "al.Pc:" in (dest / "etc/gettytab").read_text()
    assert (dest / "etc/fstab").read_text() == ""
    assert (dest / "etc/master.passwd").read_text().startswith("root::0:0:")
    assert "wheel:*:0:root" in (dest / "etc/group").read_text()
    assert (dest / "etc/rc.conf").is_file()
