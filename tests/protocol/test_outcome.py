"""protocol: one wire format, one Kind, a result with cause, fix and details apart, exit codes."""
import json

from buildbot_vkckpt.protocol import (EXIT_CODES, PREFIX, Kind, Result, decode_line,
                                      encode_event, exit_code)


def test_kinds_and_exit_codes():
    assert {k.value for k in Kind} == {"kernel", "test", "timeout", "unsupported",
                                       "infrastructure", "host lost"}
    assert EXIT_CODES == {"ok": 0, "failure": 1, "warnings": 2, "unsupported": 3,
                          "infrastructure": 4}
    assert exit_code({"status": "nonsense"}) == 4


def test_the_producer_splits_the_cause_from_a_summary_that_repeats_the_kind():
    result = Result.make("failure", "kernel: panic: x", "kernel", details={"a": 1})
    assert (result.kind, result.cause, result.summary) == (Kind.KERNEL, "panic: x",
                                                           "kernel: panic: x")
    event = result.to_event()
    assert event["kind"] == "kernel" and event["cause"] == "panic: x"
    assert Result.from_event(json.loads(json.dumps(event))) == result


def test_a_status_implies_its_kind_when_none_is_named():
    assert Result.make("infrastructure", "disk full").kind is Kind.INFRASTRUCTURE
    assert Result.make("unsupported", "no handler").kind is Kind.UNSUPPORTED
    assert Result.make("ok", "fine").kind is None


def test_wire_round_trip_and_garbage():
    line = encode_event({"ev": "result", "status": "failure", "summary": "x" * 10000,
                         "details": {"file": "/a/b", "inspect": "y" * 5000}})
    assert line.startswith(PREFIX) and len(line.encode()) <= 3900
    event = decode_line(line)
    assert event["details"]["file"] == "/a/b"
    assert decode_line("@@vkckpt {not json") is None
    assert decode_line(b"@@vkckpt [1]") is None
    assert decode_line("plain console line") is None
    assert Result.from_event({"ev": "phase"}) is None
