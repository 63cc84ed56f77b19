"""A short-lived subcommand talking to its session's supervisor (agent/client.py), against a
unix socket server of the test's own that answers the way the supervisor does, or does not."""
import io
import json
import socket
import threading

import pytest

from buildbot_vkckpt.agent import client
from buildbot_vkckpt.agent.events import Emitter, Outcome
from buildbot_vkckpt.agent.session import Session, bind_socket


@pytest.fixture
def supervisor(tmp_path):
    """``supervisor(answer)``: serve one request; ``answer(conn, request)`` replies."""
    session = Session(tmp_path)
    server = bind_socket(session.socket_path)
    server.listen(1)
    threads, got = [], []

    def serve(answer):
        def run():
            conn, _ = server.accept()
            with conn:
                got.append(json.loads(conn.makefile("rb").readline()))
                answer(conn)
        t = threading.Thread(target=run, daemon=True)
        t.start()
        threads.append(t)
        return session, got
    yield serve
    server.close()
    for t in threads:
        t.join(5)


def lines(conn, *messages):
    conn.sendall(b"".join((m if isinstance(m, bytes) else json.dumps(m).encode()) + b"\n"
                          for m in messages))


def test_streamed_output_and_events_then_the_result(supervisor):
    session, got = supervisor(lambda conn: lines(
        conn, b"not json", [1, 2], {"out": "guest line"},
        {"event": {"ev": "metric", "name": "x", "value": 1, "unit": "s"}},
        {"result": {"ev": "result", "status": "ok", "summary": "done"}}))
    out = io.StringIO()
    res = client.request(session, {"op": "exec", "cmd": "true"}, Emitter(stream=out), 10)
    assert res["summary"] == "done" and got == [{"op": "exec", "cmd": "true"}]
    printed = out.getvalue().splitlines()
    assert printed[0] == "guest line" and '"name":"x"' in printed[1] and len(printed) == 2


def test_a_supervisor_that_hangs_up_or_never_answers_is_infrastructure(supervisor):
    session, _ = supervisor(lambda conn: lines(conn, {"out": "half"}))
    with pytest.raises(Outcome) as gone:
        client.request(session, {"op": "exec"}, Emitter(stream=io.StringIO()), 10)
    assert gone.value.summary == "the supervisor went away during exec"
    release = threading.Event()
    session, _ = supervisor(lambda conn: release.wait(10))
    try:
        with pytest.raises(Outcome) as silent:
            client.request(session, {"op": "status"}, Emitter(stream=io.StringIO()), 0.3)
    finally:
        release.set()
    assert silent.value.summary == "the supervisor did not answer status within 0.3 s"
    assert silent.value.kind.value == "infrastructure"


def test_no_supervisor_is_told_with_the_fix(tmp_path):
    session = Session(tmp_path)
    assert not client.supervisor_reachable(session)
    with pytest.raises(Outcome) as caught:
        client.request(session, {"op": "status"}, Emitter(stream=io.StringIO()))
    assert caught.value.summary.startswith(f"no supervisor answers in session {tmp_path} (")
    assert caught.value.fix.startswith("boot the vkernel first")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(session.socket_path)                  # a socket file nobody listens on
    stale.close()
    assert not client.supervisor_reachable(session)
