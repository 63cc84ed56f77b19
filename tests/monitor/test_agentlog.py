import json

from hypothesis import given, strategies as st

from buildbot_vkckpt.monitor.agentlog import AgentLogMonitor

STREAM = (b"vkckpt: starting\nDragonFly v6.5.0\n"
          b'@@vkckpt {"ev":"phase","name":"boot"}\n'
          b"@@vkckpt {not json\n\xff\xfe garbage\n@@vkckpt [1,2]\nlogin: root\n"
          + ("@@vkckpt " + json.dumps({"ev": "result", "status": "ok", "kind": None,
                                       "summary": "booted in 1.0 s · é", "fix": None,
                                       "details": {}})).encode() + b"\n")


def parse(chunks):
    mon = AgentLogMonitor()
    events = []
    for c in chunks:
        events += mon.feed(c)
    return mon, events


def test_events_result_and_console_tail():
    mon, events = parse([STREAM])
    assert [e["ev"] for e in events] == ["phase", "result"]
    assert mon.result["summary"] == "booted in 1.0 s · é"
    assert mon.console_tail(2) == ["\ufffd\ufffd garbage", "login: root"]
    assert "vkckpt: starting" not in mon.console_tail(10)


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_chunk_independence(cuts):
    cuts = sorted(set(cuts))
    chunks = [STREAM[a:b] for a, b in zip([0] + cuts, cuts + [len(STREAM)])]
    mon, events = parse(chunks)
    ref, ref_events = parse([STREAM])
    assert events == ref_events and mon.result == ref.result
    assert mon.console_tail(10) == ref.console_tail(10)


@given(st.binary(max_size=300))
def test_garbage_never_raises(data):
    mon, _ = parse([data, b"\n"])
    assert mon.result is None or isinstance(mon.result, dict)


def test_take_console_gives_each_console_line_once_and_skips_agent_lines():
    mon = AgentLogMonitor()
    mon.feed(b"vkckpt: booting\n$ vnconfig -l\nDragonFly v6.5.0\nlog")
    assert mon.take_console() == ["DragonFly v6.5.0"]
    mon.feed(b"in: \n")
    assert mon.take_console() == ["login: "]
    assert mon.take_console() == []
    assert mon.console_tail(10) == ["DragonFly v6.5.0", "login: "]


def test_what_steps_read_is_kept_whole_and_the_plain_list_counts_what_it_drops():
    mon = AgentLogMonitor(keep_events=100)
    lines = [json.dumps({"ev": "metric", "name": f"m{i}", "value": i, "unit": "s"})
             for i in range(1500)]
    lines += [json.dumps({"ev": "tap", "lines": [f"ok {i} - t{i}"]}) for i in range(1, 1201)]
    lines += [json.dumps({"ev": "check", "name": "alive", "ok": True}),
              json.dumps({"ev": "test_log", "test": "memory", "file": "output.log",
                          "lines": ["a", "b"]}),
              json.dumps({"ev": "result", "status": "failure", "kind": "test",
                          "summary": "guest command exited 3", "fix": None,
                          "details": {"status": 3}})]
    mon.feed(("".join(f"@@vkckpt {ln}\n" for ln in lines)).encode())
    assert len(mon.events) == 100 and mon.dropped == len(lines) - 100
    assert len(mon.metrics) == 1500 and mon.metrics["m0"] == 0
    assert len(mon.tap_lines) == 1200 and mon.tap_lines[0] == "ok 1 - t1"
    assert [c["name"] for c in mon.checks] == ["alive"]
    assert mon.test_logs == {("memory", "output.log"): ["a", "b"]}
    result = mon.outcome
    assert (result.status, result.kind.value, result.cause) == ("failure", "test",
                                                               "guest command exited 3")


def test_the_result_cause_is_a_field_and_never_repeats_the_kind():
    mon = AgentLogMonitor()
    mon.feed(b'@@vkckpt {"ev":"result","status":"unsupported","kind":"unsupported",'
             b'"summary":"unsupported: no handler","cause":"no handler","fix":"port it",'
             b'"details":{}}\n')
    assert (mon.outcome.kind.value, mon.outcome.cause, mon.outcome.fix) == (
        "unsupported", "no handler", "port it")


def test_the_suites_progress_is_read_off_the_console_as_it_runs():
    m = AgentLogMonitor()
    m.feed(b"vkckpt: 1..9 is an agent note, not the plan\n1..3\nok 1 - memory # 12 ms\n")
    assert m.tap_live == {"planned": 3, "done": 1, "failed": 0}
    m.feed(b"not ok 2 - threads # TODO xfail on stock\nnot ok 3 - pipe\n"
           b"okay, this is guest output\n")
    assert m.tap_live == {"planned": 3, "done": 3, "failed": 1}
