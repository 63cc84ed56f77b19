"""restore's own part (agent/restore.py): refuse before ``checkpt -r`` when a file the
checkpoint reopens by handle changed, and give a failed restore its inspection and console
tail. The thaw itself runs under the simulated host's supervisor: test_cycle.py,
test_ckptfiles.py."""
import argparse
import io

import pytest

from buildbot_vkckpt.agent import ckptfiles, restore
from buildbot_vkckpt.agent.events import Emitter, Outcome
from buildbot_vkckpt.agent.session import Session
from buildbot_vkckpt.simhost import ckptfile


@pytest.fixture
def checkpointed(tmp_path):
    """A session whose checkpoint recorded its kernel, disks, pidfile and memory image."""
    s = Session(tmp_path / "s").ensure()
    files = {name: tmp_path / "s" / name for name in
             ("kernel.debug", "root.img", "results.img", "vkernel.pid", "memimg")}
    for path in files.values():
        path.write_bytes(b"x")
    argv = [str(files["kernel.debug"]), "-r", str(files["root.img"]), "-r",
            str(files["results.img"]), "-p", str(files["vkernel.pid"]), "-i",
            str(files["memimg"])]
    ckpt = tmp_path / "s" / "kernel.debug.ckpt"
    ckptfile.write_core(str(ckpt), "gsoc", comm="kernel.debug", tids=[1])
    ckptfiles.record(s, argv, str(ckpt))
    return s, ckpt, files


def run(session, ckpt):
    p = argparse.ArgumentParser()
    p.add_argument("--session")
    restore.add_arguments(p)
    args = p.parse_args(["--session", session.dir, "--file", str(ckpt)])
    return restore.run(args, Emitter(stream=io.StringIO()))


def no_supervisor(*a, **k):
    raise AssertionError("checkpt -r must not be asked for")


def test_no_file_is_infrastructure(checkpointed, monkeypatch):
    session, ckpt, _ = checkpointed
    monkeypatch.setattr(restore.client, "request", no_supervisor)
    with pytest.raises(Outcome) as caught:
        run(session, ckpt.with_name("other.ckpt"))
    assert caught.value.summary == f"no checkpoint file at {ckpt.with_name('other.ckpt')}"


def test_changed_files_refuse_the_restore_before_any_signal(checkpointed, monkeypatch):
    session, ckpt, files = checkpointed
    monkeypatch.setattr(restore.client, "request", no_supervisor)
    files["root.img"].write_bytes(b"a longer root")
    files["memimg"].unlink()
    with pytest.raises(Outcome) as caught:
        run(session, ckpt)
    res = caught.value
    assert res.kind.value == "infrastructure" and res.fix == restore.CHANGED_FIX
    assert res.summary.startswith("not restoring: ") and res.summary.endswith(" (+1 more)")
    assert res.details["signalled"] is False and len(res.details["changed"]) == 2


def test_a_failed_thaw_comes_with_the_inspection_and_the_console(checkpointed, monkeypatch):
    session, ckpt, _ = checkpointed
    with open(session.console_log, "w") as fh:
        fh.write("boot\r\n\r\nthaw failed error 5 Input/output error\r\n")
    monkeypatch.setattr(restore.client, "request", lambda *a, **k: {
        "ev": "result", "status": "failure", "kind": "kernel",
        "summary": "restore failed: thaw failed error 5", "details": {}})
    res = run(session, ckpt)
    assert res["summary"] == "restore failed: thaw failed error 5"
    assert res["details"]["tail"] == ["boot", "thaw failed error 5 Input/output error"]
    assert res["details"]["file"] == str(ckpt)
    assert res["details"]["inspect"][0].startswith("kernel.debug.ckpt: ")


def test_console_tail_of_a_missing_log_is_empty(tmp_path):
    assert restore.console_tail(Session(tmp_path)) == []
    (tmp_path / "console.log").write_text("\n".join(f"line {i}" for i in range(50)))
    assert restore.console_tail(Session(tmp_path), n=3) == ["line 47", "line 48", "line 49"]


def test_a_file_changed_during_a_failed_thaw_is_named(checkpointed, monkeypatch):
    session, ckpt, files = checkpointed

    def thaw_that_wrote_the_disk(*a, **k):
        files["results.img"].write_bytes(b"written by someone during the thaw")
        return {"ev": "result", "status": "failure", "kind": "kernel",
                "summary": "restore failed", "details": {}}
    monkeypatch.setattr(restore.client, "request", thaw_that_wrote_the_disk)
    res = run(session, ckpt)
    assert res["summary"].startswith("restore failed · changed since the checkpoint: ")
    assert "results.img" in res["details"]["changed"][0]
