"""cleanup --stale over the host-wide session registry (agent/cleanup.py, cleanupcmd.py,
ledger.py): sessions anywhere on the host, live ones stopped, the caller's own left alone."""
import io
import json
import os
import signal
import stat
import subprocess
import sys

import pytest

from buildbot_vkckpt.agent import ledger as ledger_mod
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
