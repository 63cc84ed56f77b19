"""Processes by pid and by identity (agent/procs.py): a pid is only the process the ledger
recorded while boot and start time still match."""
import os
import subprocess

from buildbot_vkckpt.agent import procs


def test_identity_names_one_incarnation(orphan):
    mine = procs.identity(os.getpid())
    assert mine and mine == procs.identity(os.getpid())
    theirs = procs.identity(orphan)
    assert theirs and theirs != mine
    assert theirs.partition("@")[0] == mine.partition("@")[0]     # same boot
    assert procs.identity(0) is None
    dead = subprocess.run(["sh", "-c", "echo $$"], stdout=subprocess.PIPE).stdout
    assert procs.identity(int(dead)) is None


def test_without_proc_the_identity_comes_from_ps_lstart_of_init(tmp_path, monkeypatch,
                                                                orphan):
    """DragonFly has no /proc: the boot is init's ``ps -o lstart``, never kern.boottime, which
    moves on every clock step (reference §23) — a stepped clock must not make a live process
    look like one from another boot."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sysctl = bin_dir / "sysctl"   # a clock step just happened: boottime moved
    sysctl.write_text('#!/bin/sh\necho "{ sec = $(date +%s%N), usec = 5 } Tue Nov 14 2023"\n')
    sysctl.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setattr(procs, "_LINUX_BOOT_ID", str(tmp_path / "no-boot-id"))
    theirs = procs.identity(orphan)
    boot, _, start = theirs.partition("@")
    init_start = subprocess.run(["ps", "-o", "lstart=", "-p", "1"], stdout=subprocess.PIPE,
                                text=True, env=dict(os.environ, LC_ALL="C", TZ="UTC")).stdout
    assert boot == "boot " + " ".join(init_start.split())
    assert len(start.split()) == 5                     # "Tue Nov 14 22:13:20 2023"
    assert procs.identity(orphan) == theirs != procs.identity(1)
    assert procs.same_process(orphan, theirs) and procs.same_boot(theirs)
    assert not procs.same_process(orphan, "boot Mon Jan  1 00:00:00 2024@" + start)
    assert not procs.same_boot("boot Mon Jan  1 00:00:00 2024@" + start)
