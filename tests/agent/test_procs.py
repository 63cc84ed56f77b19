"""Processes by pid and by identity (agent/procs.py): a pid is only the process the ledger
recorded while boot and start time still match."""
import os
import signal
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


def test_alive_wait_and_signal_on_a_child_and_nothing():
    for nothing in (None, 0, -1):
        assert not procs.alive(nothing) and procs.signal_pid(nothing, 0) is False
    child = subprocess.Popen(["sleep", "60"])
    assert procs.alive(child.pid)
    assert procs.wait_exit(child.pid, 0.05) is False          # still running after the wait
    assert procs.signal_pid(child.pid, 9) is True
    assert procs.wait_exit(child.pid, 5)                       # an unreaped child counts as gone
    assert not procs.alive(child.pid)
    child.wait()
    assert procs.signal_pid(child.pid, 9) is False


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(orphan):
    stubborn = subprocess.Popen(["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; "
                                 "done"], stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert stubborn.stdout.readline() == b"ready\n"       # the trap is set
        procs.signal_pid(stubborn.pid, signal.SIGTERM)
        assert not procs.wait_exit(stubborn.pid, 0.1)         # TERM alone does nothing
        assert procs.stop(stubborn.pid, grace=0.2) and not procs.alive(stubborn.pid)
    finally:
        stubborn.kill()
        stubborn.wait()
        stubborn.stdout.close()
    assert procs.kill(orphan) and not procs.alive(orphan)
    assert procs.stop(orphan) and procs.kill(orphan)         # gone already: nothing to do


def test_read_pidfile_takes_the_first_word_or_nothing(tmp_path):
    path = tmp_path / "vkernel.pid"
    assert procs.read_pidfile(path) is None
    for text, pid in (("1234\n", 1234), ("  77 extra\n", 77), ("", None), ("x\n", None)):
        path.write_text(text)
        assert procs.read_pidfile(path) == pid, text
