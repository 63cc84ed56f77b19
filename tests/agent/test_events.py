"""Event lines, outcomes and the emitter (agent/events.py)."""
import json

from buildbot_vkckpt.agent import events


def test_event_lines_stay_short_and_parse():
    line = events.encode_event({"ev": "result", "status": "failure", "summary": "x" * 10000,
                                "details": {"tail": ["y" * 3000] * 40}})
    assert len(line.encode()) < 4000
    assert json.loads(line[len(events.PREFIX):])["status"] == "failure"
    assert events.exit_code({"status": "infrastructure"}) == 4
    # a big inspection gives way; the short file path the next command needs stays whole
    path = "/tmp/dd/bb/worker-vkckpt-worker/vkckpt/vkckpt-sessions/build-1/kernel.debug.ckpt"
    line = events.encode_event({"ev": "result", "status": "ok", "summary": "written",
                                "details": {"file": path, "inspect": ["z" * 90] * 40,
                                            "referenced": [{"path": "p" * 70}] * 12}})
    assert len(line.encode()) < 4000
    assert json.loads(line[len(events.PREFIX):])["details"]["file"] == path
    assert events.exit_code({"status": "unsupported"}) == 3
