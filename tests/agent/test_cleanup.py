"""cleanup --stale over the host-wide session registry (agent/cleanup.py, cleanupcmd.py,
ledger.py): sessions anywhere on the host, live ones stopped, the caller's own left alone, and
a pid that now names another process (a reboot, a reused pid) never signalled."""
import io
import json
import os
import signal
import stat
import subprocess
import sys

import pytest

from buildbot_vkckpt.agent import cleanup as cleanup_mod
from buildbot_vkckpt.agent import ledger as ledger_mod
from buildbot_vkckpt.agent import procs
from buildbot_vkckpt.agent.cli import main
from buildbot_vkckpt.agent.ledger import Ledger


@pytest.fixture
def state(tmp_path, monkeypatch):
    path = tmp_path / "state"
    monkeypatch.setenv("VKCKPT_STATE_DIR", str(path))
    return path


@pytest.fixture
def sleepers():
    started = []

    def start():
        # its own session, like a supervisor (which outlives the step's process group)
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                                start_new_session=True)
        started.append(proc)
        return proc
    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def session(base, name, supervisor=None, files=()):
    """A session dir with a ledger: a supervisor (pid) and files, none released."""
    path = base / name
    path.mkdir(parents=True)
    led = Ledger(path)
    if supervisor is not None:
        entry = led.allocate("supervisor", socket=str(path / "supervisor.sock"))
        led.update(entry, pid=supervisor.pid)
    for fname in files:
        (path / fname).write_text("x")
        led.allocate("file", path=str(path / fname))
    return path


def cleanup(*extra):
    out = io.StringIO()
    rc = main(["cleanup", "--stale", *map(str, extra)], stream=out)
    events = [json.loads(line.split(" ", 1)[1]) for line in out.getvalue().splitlines()
              if line.startswith("@@vkckpt ")]
    return rc, [e for e in events if e.get("ev") == "result"][-1], out.getvalue()


def gone(proc):
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        return False
    return True


def test_a_session_outside_the_root_is_found_through_the_registry(state, tmp_path):
    # another builder's (or an SSH transport's) session: not under this builder's root
    other = session(tmp_path / "worker2" / "builder-b" / "vkckpt-sessions", "build-3",
                    files=["memimg"])
    root = tmp_path / "worker1" / "builder-a" / "vkckpt-sessions"
    root.mkdir(parents=True)
    rc, result, _ = cleanup("--root", root)
    assert rc == 0, result
    assert result["details"]["sessions"] == [str(other)]
    assert not (other / "memimg").exists()
    assert ledger_mod.registered_sessions() == []  # nothing left there: unregistered


def test_a_live_session_is_stopped_and_released(state, tmp_path, sleepers):
    supervisor = sleepers()
    vkernel = sleepers()
    live = session(tmp_path / "sessions", "build-1", supervisor=supervisor,
                   files=["memimg"])
    entry = Ledger(live).allocate("vkernel", pid=vkernel.pid)
    assert entry
    rc, result, out = cleanup("--root", tmp_path / "sessions")
    assert rc == 0, out
    assert result["summary"] == ("stopped 1 live session(s) and released 3 stale "
                                 "resource(s) from 1 session(s)")
    assert result["details"]["live_sessions"] == [str(live)]
    assert gone(supervisor) and gone(vkernel)
    assert Ledger(live).outstanding() == []
    assert "stopping live session" in out


def test_the_callers_own_session_is_left_alone(state, tmp_path, sleepers):
    supervisor = sleepers()
    mine = session(tmp_path / "sessions", "build-2", supervisor=supervisor)
    rc, result, _ = cleanup("--root", tmp_path / "sessions", "--session", mine)
    assert rc == 0 and result["summary"] == "nothing stale"
    assert supervisor.poll() is None
    assert len(Ledger(mine).outstanding()) == 1


def test_refuse_leaves_a_live_session_and_says_which(state, tmp_path, sleepers):
    supervisor = sleepers()
    live = session(tmp_path / "sessions", "build-1", supervisor=supervisor)
    rc, result, _ = cleanup("--live", "refuse")
    assert rc == 4
    assert result["kind"] == "infrastructure"
    assert str(live) in result["summary"]
    assert supervisor.poll() is None


def test_a_dead_supervisor_is_released_as_before(state, tmp_path, sleepers):
    supervisor = sleepers()
    stale = session(tmp_path / "sessions", "build-1", supervisor=supervisor,
                    files=["memimg"])
    supervisor.send_signal(signal.SIGKILL)
    supervisor.wait()
    rc, result, _ = cleanup()
    assert rc == 0
    assert result["details"]["live_sessions"] == []
    assert result["details"]["sessions"] == [str(stale)]


def test_a_registry_others_can_write_is_refused(state, tmp_path):
    registry = state / "sessions"
    registry.mkdir(parents=True)
    registry.chmod(0o777)
    rc, result, _ = cleanup()
    assert rc == 4
    assert "writable by other users" in result["summary"]
    assert "VKCKPT_STATE_DIR" in result["fix"]


def test_pointers_to_vanished_sessions_are_pruned(state, tmp_path):
    path = session(tmp_path / "sessions", "build-1", files=["memimg"])
    assert ledger_mod.registered_sessions() == [str(path)]
    for name in os.listdir(path):
        os.unlink(path / name)
    path.rmdir()
    assert ledger_mod.registered_sessions() == []
    assert os.listdir(state / "sessions") == []


def test_the_registry_is_private_and_lives_in_the_state_dir(state, tmp_path):
    session(tmp_path / "sessions", "build-1", files=["a"])
    mode = stat.S_IMODE(os.stat(state / "sessions").st_mode)
    assert mode & 0o077 == 0
    pointer, = os.listdir(state / "sessions")
    assert os.readlink(state / "sessions" / pointer) == str(tmp_path / "sessions" / "build-1")


def test_old_finished_sessions_are_pruned_beyond_the_newest_n(state, tmp_path):
    root = tmp_path / "vkckpt-sessions"

    def began_at(path, when):
        # a ledger that began at ``when`` (its first record's time)
        lines = (path / "ledger.jsonl").read_text().splitlines()
        first = json.loads(lines[0])
        first["time"] = when
        (path / "ledger.jsonl").write_text("\n".join([json.dumps(first)] + lines[1:]) + "\n")

    made = []
    for n in range(1, 6):
        path = session(root, f"build-{n}", files=["memimg"])
        Ledger(path).release(1, by="test")             # finished: nothing outstanding
        began_at(path, 1000 + n)
        made.append(path)
    holding = session(root, "build-0", files=["results.img"])  # a crashed, oldest one
    began_at(holding, 10)
    current = made[0]                                          # the caller's own: never
    rc, result, _ = cleanup("--root", root, "--keep-sessions", "2", "--session", current)
    assert rc == 0, result
    # build-5 and build-4 are the newest two; build-1 is the caller's; build-0's file is
    # released by this very run (its ledger is written now, yet it is still the oldest)
    assert sorted(result["details"]["pruned"]) == sorted(str(p) for p in
                                                         (made[1], made[2], holding))
    assert sorted(p.name for p in root.iterdir()) == ["build-1", "build-4", "build-5"]
    assert "removed 3 old session dir(s)" in result["summary"]


def test_keep_sessions_minus_one_keeps_everything(state, tmp_path):
    root = tmp_path / "vkckpt-sessions"
    for n in range(3):
        Ledger(session(root, f"build-{n}")).allocate("file", path="/nonexistent")
    rc, result, _ = cleanup("--root", root, "--keep-sessions", "-1")
    assert result["details"]["pruned"] == [] and len(list(root.iterdir())) == 3


def test_cleanup_stale_releases_dead_sessions(tmp_path, run_agent, orphan):
    """A crashed session's process (reaped by init, not our child) is stopped; the registry is
    the test's own (``orphan``): --stale covers every session the registry knows."""
    (tmp_path / "old").mkdir()
    led = Ledger(tmp_path / "old")
    led.update(led.allocate("supervisor"), pid=999999)   # dead supervisor
    proc = led.allocate("process", pid=orphan)
    junk = tmp_path / "old" / "memimg"
    junk.write_bytes(b"x")
    led.allocate("file", path=str(junk))
    p = run_agent("cleanup", "--stale", "--root", tmp_path)
    assert p.returncode == 0, p.stdout
    assert not procs.alive(orphan)
    assert not junk.exists()
    assert Ledger(tmp_path / "old").outstanding() == []
    assert proc in Ledger(tmp_path / "old").entries()
    assert b"released 3 stale resource(s) from 1 session(s)" in p.stdout


# --- pid identities: cleanup never signals a pid that now names another process ---------
def other_start(identity):
    """The same boot, a different start time: the pid names another process now."""
    boot, _, start = identity.partition("@")
    return f"{boot}@{int(start) + 1}"


def test_cleanup_leaves_a_reused_pid_alone_and_releases_the_entry(tmp_path, orphan,
                                                                  run_agent):
    session = tmp_path / "old"
    session.mkdir()
    led = Ledger(session)
    wrong = other_start(procs.identity(orphan))
    # a supervisor and a process whose pids a reboot handed to the sleep
    sup = led.allocate("supervisor", pid=orphan, pid_identity=wrong)
    proc = led.allocate("process", pid=orphan, pid_identity=wrong)
    assert not cleanup_mod.supervisor_alive(session)
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
    released, problems = cleanup_mod.release_all(tmp_path)
    assert problems == [] and released == [f"process pid {orphan}"]
    assert not procs.alive(orphan)


def test_live_supervisor_with_its_identity_keeps_the_session(tmp_path, orphan):
    led = Ledger(tmp_path)
    led.allocate("supervisor", pid=orphan)
    assert cleanup_mod.supervisor_alive(tmp_path)


def test_old_entries_without_identity_keep_liveness_alone(tmp_path, orphan):
    led = Ledger(tmp_path)
    with open(led.path, "w") as fh:     # written before identities existed
        fh.write(json.dumps({"op": "alloc", "id": 1, "kind": "supervisor", "pid": orphan}) +
                 "\n")
    assert cleanup_mod.supervisor_alive(tmp_path)
    released, _ = cleanup_mod.release_all(tmp_path)
    assert released == [f"supervisor pid {orphan}"] and not procs.alive(orphan)


def test_vkernel_of_an_earlier_boot_signals_neither_pid_nor_pidfile(tmp_path, orphan):
    pidfile = tmp_path / "vkernel.pid"
    pidfile.write_text(f"{orphan}\n")
    led = Ledger(tmp_path)
    led.allocate("vkernel", pid=orphan, pidfile=str(pidfile),
                 pid_identity="an-earlier-boot@" + procs.identity(orphan).partition("@")[2])
    released, problems = cleanup_mod.release_all(tmp_path)
    assert problems == [] and procs.alive(orphan)
    assert released == [f"vkernel pid {orphan} (gone; the pid now names another process, "
                        f"left alone)"]


def test_vkernel_pidfile_child_of_this_boot_is_still_killed(tmp_path, orphan):
    pidfile = tmp_path / "vkernel.pid"
    pidfile.write_text(f"{orphan}\n")
    led = Ledger(tmp_path)
    led.allocate("vkernel", pid=999999999, pidfile=str(pidfile),
                 pid_identity=procs.identity(os.getpid()))
    released, problems = cleanup_mod.release_all(tmp_path)
    assert problems == [] and not procs.alive(orphan)
    assert released == [f"vkernel pid 999999999 (child {orphan})"]
