"""parse_tap: the master's reader of guest TAP, including broken and truncated TAP."""
from hypothesis import given, settings
from hypothesis import strategies as st

from buildbot_vkckpt.suite import parse_tap, parse_tap_report

SAMPLE = """TAP version 13
# vkckpt guest suite: mode=cr iterations=3 tests=3
1..3
ok 1 - memory
  ---
  message: "PASS"
  duration_ms: 812
  ...
not ok 2 - pipe # TODO xfail: checkpt(1): "Programs which operate on pipes" restored
  ---
  message: "FAIL: read from the pipe (fd 3): Bad file descriptor \\"x\\""
  duration_ms: 1200
  ...
not ok 3 - files
  ---
  message: "FAIL: read-write fd 3 is at offset 0, expected 1234"
  duration_ms: 95
  ...
# 1 of 3 ok; 1 unexpected failures
"""


def test_reads_results_directives_and_diagnostics():
    report = parse_tap_report(SAMPLE)
    assert report.version == 13 and report.plan == 3 and report.complete
    memory, pipe, files = report.results
    assert (memory.number, memory.name, memory.ok, memory.outcome) == (1, "memory", True, "pass")
    assert memory.duration_ms == 812.0 and memory.message == "PASS"
    assert pipe.todo and pipe.xfail and pipe.outcome == "xfail"
    assert pipe.reason == 'checkpt(1): "Programs which operate on pipes" restored'
    assert pipe.message == 'FAIL: read from the pipe (fd 3): Bad file descriptor "x"'
    assert files.outcome == "fail" and files.duration_ms == 95.0
    assert report.comments[-1] == "1 of 3 ok; 1 unexpected failures"


def test_todo_that_passes_is_an_unexpected_pass_and_skip_is_a_skip():
    results = parse_tap("1..2\nok 1 - pipe # TODO xfail: why\nok 2 - x # SKIP no kqueue\n")
    assert [r.outcome for r in results] == ["xpass", "skip"]
    assert results[1].reason == "no kqueue"


def test_truncated_output_keeps_what_arrived_and_names_what_is_missing():
    cut = SAMPLE[:SAMPLE.index("duration_ms: 1200")]
    report = parse_tap_report(cut)
    assert [r.name for r in report.results] == ["memory", "pipe"]
    assert report.results[1].message.startswith("FAIL: read from the pipe")
    assert report.results[1].duration_ms is None
    assert report.missing == [3] and not report.complete


def test_bail_out_is_reported():
    report = parse_tap_report("TAP version 13\n1..15\nBail out! checkpt(1) not found on PATH\n")
    assert report.bail_out == "checkpt(1) not found on PATH"
    assert report.results == [] and len(report.missing) == 15 and not report.complete


def test_garbage_between_lines_and_missing_numbers():
    text = ("kernel: panic?\r\nok - first\n\x00\x01junk\nnot ok second # todo\n"
            "  ---\n  message: 'it''s broken'\n  duration_ms: soon\n  ...\nok 7 esc \\# hash\n")
    results = parse_tap(text.encode())
    assert [(r.number, r.name, r.ok) for r in results] == [
        (1, "first", True), (2, "second", False), (7, "esc # hash", True)]
    assert results[1].todo and results[1].message == "it's broken"
    assert results[1].duration_ms is None


def test_non_text_input_gives_nothing():
    assert parse_tap(None) == []
    assert parse_tap(b"\xff\xfe\x00") == []
    assert parse_tap("") == []


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.binary(),
                 st.lists(st.sampled_from(SAMPLE.splitlines() + ["  ---", "  ...", "ok", "#"]))
                 .map("\n".join)))
def test_never_raises(text):
    for result in parse_tap(text):
        assert isinstance(result.name, str) and result.number >= 0
        assert result.outcome in {"pass", "fail", "xfail", "xpass", "skip"}
