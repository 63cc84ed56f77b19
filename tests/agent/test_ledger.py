"""The session ledger (agent/ledger.py): every resource written down before it is taken,
a torn last line ignored, and the host-wide registry of sessions."""
import os

from buildbot_vkckpt.agent import ledger, procs
from buildbot_vkckpt.agent.ledger import Ledger


def test_ledger_alloc_update_release(tmp_path):
    led = Ledger(tmp_path)
    a = led.allocate("vn", unit="vn0")
    b = led.allocate("mount", path="/mnt")
    led.update(a, configured=True)
    with open(led.path, "a") as fh:
        fh.write('{"op": "alloc", "id": ')  # torn last line from a crash
    assert [e["kind"] for e in led.outstanding()] == ["mount", "vn"]
    led.release(b)
    (left,) = led.outstanding()
    assert left["id"] == a and left["configured"] is True


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


def test_outstanding_is_in_release_order_latest_first(tmp_path, private_registry):
    led = Ledger(tmp_path)
    ids = {name: led.allocate(kind) for name, kind in (
        ("img", "file"), ("vn", "vn"), ("mnt", "mount"), ("vk", "vkernel"), ("mem", "file"),
        ("sup", "supervisor"), ("odd", "something-new"))}
    order = [e["id"] for e in led.outstanding()]
    assert order == [ids[n] for n in ("sup", "vk", "mnt", "vn", "mem", "img", "odd")]


def test_a_record_after_a_torn_line_is_kept_and_strays_are_ignored(tmp_path,
                                                                 private_registry):
    led = Ledger(tmp_path)
    a = led.allocate("file", path="/a")
    with open(led.path, "a") as fh:
        fh.write('{"op": "release", "id": ')          # the crash cut this record short
    led.release(a)                                    # must not be glued onto the torn line
    led.update(999, pid=1)                            # no such entry
    with open(led.path, "a") as fh:
        fh.write('["not", "a", "record"]\n{"op": "alloc", "id": "x"}\n')
    assert led.entries() == {a: {"id": a, "kind": "file", "path": "/a", "released": True}}
    assert led.outstanding() == []


def test_the_registry_points_at_sessions_that_still_have_a_ledger(tmp_path):
    env = {"VKCKPT_STATE_DIR": str(tmp_path / "state")}
    sessions = [tmp_path / "s1", tmp_path / "s2"]
    for s in sessions:
        s.mkdir()
        (s / "ledger.jsonl").write_text("")
        ledger.register(s, env)
        ledger.register(s, env)                       # idempotent
    assert sorted(ledger.registered_sessions(env)) == [str(s) for s in sessions]
    assert ledger.check_registry(env) is None
    assert oct(os.stat(ledger.registry_dir(env)).st_mode & 0o777) == "0o700"
    os.unlink(sessions[0] / "ledger.jsonl")           # a session dir cleaned away
    assert ledger.registered_sessions(env) == [str(sessions[1])]
    assert len(os.listdir(ledger.registry_dir(env))) == 1     # its pointer went too
    ledger.unregister(sessions[1], env)
    assert ledger.registered_sessions(env) == []
    assert ledger.state_dir({}) == os.path.expanduser("~/.vkckpt")
