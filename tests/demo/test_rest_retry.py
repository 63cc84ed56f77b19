"""The demo's REST client rides out a reset connection: a master that drops a connection (it
restarts, a proxy recycles) must not end the demo. A real HTTP server on 127.0.0.1 resets the
first connections it accepts, then answers."""
import json
import socket
import struct
import threading
import urllib.error

import pytest

from buildbot_vkckpt.demo.localbb import LocalBuildbot, fetch


class FlakyServer:
    """Resets the first ``resets`` connections (RST, no answer), then answers every request
    with ``status`` and a JSON body."""

    def __init__(self, resets, status=200):
        self.resets, self.status, self.seen = resets, status, 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self.seen += 1
                conn.recv(65536)
                if self.seen <= self.resets:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    continue
                body = json.dumps({"builds": [{"n": self.seen}]}).encode()
                reason = "OK" if self.status == 200 else "Not Found"
                conn.sendall(f"HTTP/1.1 {self.status} {reason}\r\nContent-Type: application/json"
                             f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                             .encode() + body)

    def close(self):
        self.sock.close()


@pytest.fixture
def server(request):
    srv = FlakyServer(*request.param)
    yield srv
    srv.close()


@pytest.mark.parametrize("server", [(2,)], indirect=True)
def test_get_rides_out_resets(server):
    body = fetch(f"http://127.0.0.1:{server.port}/api/v2/builds", retry_for=10)
    assert json.loads(body) == {"builds": [{"n": 3}]} and server.seen == 3


@pytest.mark.parametrize("server", [(1,)], indirect=True)
def test_the_clients_get_uses_it(server, tmp_path, monkeypatch):
    bb = LocalBuildbot(tmp_path / "bb")
    monkeypatch.setattr(LocalBuildbot, "api", f"http://127.0.0.1:{server.port}/api/v2")
    assert bb.get("builds") == {"builds": [{"n": 2}]}


@pytest.mark.parametrize("server", [(0, 404)], indirect=True)
def test_an_answer_is_not_retried(server):
    with pytest.raises(urllib.error.HTTPError):
        fetch(f"http://127.0.0.1:{server.port}/api/v2/nothing", retry_for=10)
    assert server.seen == 1


@pytest.mark.parametrize("server", [(100,)], indirect=True)
def test_gives_up_after_its_time(server):
    with pytest.raises(OSError):
        fetch(f"http://127.0.0.1:{server.port}/api/v2/builds", retry_for=0.5)
    assert 2 <= server.seen < 100


@pytest.mark.parametrize("server", [(1,)], indirect=True)
def test_a_force_is_never_sent_twice(server, tmp_path, monkeypatch):
    bb = LocalBuildbot(tmp_path / "bb")
    monkeypatch.setattr(LocalBuildbot, "api", f"http://127.0.0.1:{server.port}/api/v2")
    with pytest.raises(OSError):
        bb.rpc("forceschedulers/force", "force", builderid="1")
    assert server.seen == 1
