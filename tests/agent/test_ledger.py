"""The session ledger (agent/ledger.py): every resource written down before it is taken,
a torn last line ignored, and the host-wide registry of sessions."""
import os

from buildbot_vkckpt.agent import procs
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
