"""Ledger pids carry the process's identity, so cleanup never signals a pid that was reused."""
import json
import os
import subprocess

import pytest

from buildbot_vkckpt.agent import cleanup, procs
from buildbot_vkckpt.agent.ledger import Ledger


@pytest.fixture(autouse=True)
def private_registry(tmp_path, monkeypatch):
    """These ledgers hold live pids (pytest's own among them): ``cleanup --stale`` of a later
    test must never find them in the run's shared session registry and stop them."""
    monkeypatch.setenv("VKCKPT_STATE_DIR", str(tmp_path / "registry"))


@pytest.fixture
def orphan():
    """A live ``sleep`` reaped by init, not our child: stands for an unrelated process."""
    pid = int(subprocess.run(["sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!"],
                             stdout=subprocess.PIPE, check=True).stdout)
    yield pid
    procs.signal_pid(pid, 9)
    procs.wait_exit(pid, 5)


def other_start(identity):
    """The same boot, a different start time: the pid names another process now."""
    boot, _, start = identity.partition("@")
    return f"{boot}@{int(start) + 1}"


def test_identity_names_one_incarnation(orphan):
    mine = procs.identity(os.getpid())
    assert mine and mine == procs.identity(os.getpid())
    theirs = procs.identity(orphan)
    assert theirs and theirs != mine
    assert theirs.partition("@")[0] == mine.partition("@")[0]     # same boot
    assert procs.identity(0) is None
    dead = subprocess.run(["sh", "-c", "echo $$"], stdout=subprocess.PIPE).stdout
    assert procs.identity(int(dead)) is None


def test_ledger_records_the_identity_with_each_pid(tmp_path, orphan):
    led = Ledger(tmp_path)
    a = led.allocate("process", pid=orphan)
    b = led.allocate("supervisor")
    led.update(b, pid=os.getpid())
    entries = led.entries()
    assert entries[a]["pid_identity"] == procs.identity(orphan)
    assert entries[b]["pid_identity"] == procs.identity(os.getpid())
    c = led.allocate("file", path="/x")
    assert "pid_identity" not in led.entries()[c]


def test_cleanup_leaves_a_reused_pid_alone_and_releases_the_entry(tmp_path, orphan,
                                                                  run_agent):
    session = tmp_path / "old"
    session.mkdir()
    led = Ledger(session)
    wrong = other_start(procs.identity(orphan))
    # a supervisor and a process whose pids a reboot handed to the sleep
    sup = led.allocate("supervisor", pid=orphan, pid_identity=wrong)
    proc = led.allocate("process", pid=orphan, pid_identity=wrong)
    assert not cleanup.supervisor_alive(session)
    p = run_agent("cleanup", "--stale", "--root", tmp_path)
    assert p.returncode == 0, p.stdout
    assert procs.alive(orphan)
    assert led.outstanding() == []
    assert {sup, proc} <= set(led.entries())
    assert b"released 2 stale resource(s) from 1 session(s)" in p.stdout
    assert f"pid {orphan} (gone; the pid now names another process".encode() in p.stdout


def test_a_matching_identity_is_still_stopped(tmp_path, orphan):
    led = Ledger(tmp_path)
    led.allocate("process", pid=orphan)
    released, problems = cleanup.release_all(tmp_path)
    assert problems == [] and released == [f"process pid {orphan}"]
    assert not procs.alive(orphan)


def test_live_supervisor_with_its_identity_keeps_the_session(tmp_path, orphan):
    led = Ledger(tmp_path)
    led.allocate("supervisor", pid=orphan)
    assert cleanup.supervisor_alive(tmp_path)


def test_old_entries_without_identity_keep_liveness_alone(tmp_path, orphan):
    led = Ledger(tmp_path)
    with open(led.path, "w") as fh:     # written before identities existed
        fh.write(json.dumps({"op": "alloc", "id": 1, "kind": "supervisor", "pid": orphan}) +
                 "\n")
    assert cleanup.supervisor_alive(tmp_path)
    released, _ = cleanup.release_all(tmp_path)
    assert released == [f"supervisor pid {orphan}"] and not procs.alive(orphan)


def test_vkernel_of_an_earlier_boot_signals_neither_pid_nor_pidfile(tmp_path, orphan):
    pidfile = tmp_path / "vkernel.pid"
    pidfile.write_text(f"{orphan}\n")
    led = Ledger(tmp_path)
    led.allocate("vkernel", pid=orphan, pidfile=str(pidfile),
                 pid_identity="an-earlier-boot@" + procs.identity(orphan).partition("@")[2])
    released, problems = cleanup.release_all(tmp_path)
    assert problems == [] and procs.alive(orphan)
    assert released == [f"vkernel pid {orphan} (gone; the pid now names another process, "
                        f"left alone)"]


def test_vkernel_pidfile_child_of_this_boot_is_still_killed(tmp_path, orphan):
    pidfile = tmp_path / "vkernel.pid"
    pidfile.write_text(f"{orphan}\n")
    led = Ledger(tmp_path)
    led.allocate("vkernel", pid=999999999, pidfile=str(pidfile),
                 pid_identity=procs.identity(os.getpid()))
    released, problems = cleanup.release_all(tmp_path)
    assert problems == [] and not procs.alive(orphan)
    assert released == [f"vkernel pid 999999999 (child {orphan})"]


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
