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
