"""Event lines, outcomes and the emitter (agent/events.py)."""
import io
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


def test_outcomes_carry_their_kind_as_a_field_and_exit_codes_follow_the_status():
    cases = [(events.Outcome.kernel("kernel: panic: x", crash={"k": 1}), "failure", "kernel", 1),
             (events.Outcome.test("guest command exited 3"), "failure", "test", 1),
             (events.Outcome.timeout("timeout in boot: ..."), "failure", "timeout", 1),
             (events.Outcome.infrastructure("no vn unit", "cleanup --stale"), "infrastructure",
              "infrastructure", 4)]
    for outcome, status, kind, code in cases:
        ev = outcome.to_event()
        assert (ev["status"], ev["kind"], events.exit_code(ev)) == (status, kind, code)
    panic = cases[0][0]
    assert panic.cause == "panic: x" and panic.summary == "kernel: panic: x"
    assert panic.details == {"crash": {"k": 1}} and cases[3][0].fix == "cleanup --stale"
    assert events.result_event("unsupported", "no handler")["kind"] == "unsupported"


def test_the_emitter_prints_humans_events_and_one_result_and_journals(tmp_path):
    out = io.StringIO()
    journal = tmp_path / "events.jsonl"
    em = events.Emitter(stream=out, journal=str(journal))
    em.human("two\nlines")
    em.phase("boot")
    em.event({"ev": "line", "text": "x"}, journal=False)
    em.console_line("c" * 10000)
    code = em.finish(events.Outcome.infrastructure("no image", "run image first").to_event())
    lines = out.getvalue().splitlines()
    assert lines[:2] == [events.HUMAN_PREFIX + "two", events.HUMAN_PREFIX + "lines"]
    assert len(lines[4]) == events.MAX_LINE                  # a console line is cut, not split
    assert lines[-3:-1] == [events.HUMAN_PREFIX + "infrastructure: no image",
                            events.HUMAN_PREFIX + "fix: run image first"]
    assert code == 4 and em.result["summary"] == "no image"
    assert [json.loads(ln)["ev"] for ln in journal.read_text().splitlines()] == [
        "phase", "result"]


def test_a_closed_stdout_loses_no_journal_entry(tmp_path):
    stream = io.StringIO()
    stream.close()                                   # the step that read us went away
    em = events.Emitter(stream=stream, journal=str(tmp_path / "events.jsonl"))
    em.metric("boot_time", 1.5, "s")
    events.append_journal(str(tmp_path / "no-such-dir" / "x.jsonl"), {"ev": "lost"})
    assert json.loads((tmp_path / "events.jsonl").read_text())["value"] == 1.5


def test_a_summary_that_starts_with_its_kind_is_not_prefixed_twice():
    out = io.StringIO()
    em = events.Emitter(stream=out)
    em.finish(events.result_event("unsupported", "unsupported: the vkernel has no "
                                  "checkpoint handler"))
    em.finish(events.result_event("failure", "restore broke the guest", "kernel"))
    human = [ln for ln in out.getvalue().splitlines() if ln.startswith(events.HUMAN_PREFIX)]
    assert human == [events.HUMAN_PREFIX + "unsupported: the vkernel has no checkpoint handler",
                     events.HUMAN_PREFIX + "failure: restore broke the guest"]
