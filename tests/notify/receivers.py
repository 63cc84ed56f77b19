"""A real webhook receiver on 127.0.0.1 for the notification tests (the SMTP server is the
project's own notify/mailbox.py); ``wait_for`` polls with a deadline."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def wait_for(what, items, count, timeout=60):
    """Waits until ``items`` holds ``count`` entries; returns a copy."""
    deadline = time.monotonic() + timeout
    while len(items) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(items) >= count, f"{len(items)} {what} after {timeout} s, wanted {count}: {items}"
    return list(items)


class WebhookSink:
    """An HTTP server on 127.0.0.1 that keeps the JSON body of every POST (``posts``)."""

    def __init__(self):
        self.posts = []
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                posts.append({"path": self.path,
                              "json": json.loads(self.rfile.read(length).decode())})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):      # quiet test output
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()


class IRCServer:
    """Twisted Words' IRC server in a child process, and a listener in ``channel`` that keeps
    every line said there (``lines``: (nick, text))."""

    def __init__(self, bot_nick, channel, listener="listener"):
        self.bot_nick, self.channel, self.listener = bot_nick, channel, listener
        self.lines = []
        self._proc = None
        self._sock = None

    def __enter__(self):
        import subprocess
        import sys
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.notify.ircserver", self.bot_nick, self.listener],
            stdout=subprocess.PIPE, text=True, cwd=str(Path(__file__).resolve().parents[2]))
        self.port = int(self._proc.stdout.readline())
        self._listen()
        return self

    def _listen(self):
        import socket
        self._sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        self._send("PASS pw", f"NICK {self.listener}", f"USER {self.listener} 0 * :tests")
        self._read_until(lambda cmd, rest: cmd == "001")
        self._send(f"JOIN {self.channel}")
        self._read_until(lambda cmd, rest: cmd == "366")        # end of the channel's names
        self._sock.settimeout(0.2)
        self._buffer = b""

    def _send(self, *lines):
        self._sock.sendall("".join(f"{line}\r\n" for line in lines).encode())

    def _lines(self):
        data = self._sock.recv(65536)
        if not data:
            raise ConnectionError("the IRC server closed the connection")
        self._buffer = getattr(self, "_buffer", b"") + data
        *lines, self._buffer = self._buffer.split(b"\r\n")
        for raw in lines:
            text = raw.decode("utf-8", "replace")
            prefix, _, rest = text.partition(" ") if text.startswith(":") else ("", "", text)
            cmd, _, rest = rest.partition(" ")
            if cmd == "PING":
                self._send(f"PONG {rest}")
            yield prefix, cmd, rest

    def _read_until(self, done):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for _prefix, cmd, rest in self._lines():
                if done(cmd, rest):
                    return
        raise AssertionError("the IRC server did not answer in 30 s")

    def wait(self, count, timeout=60):
        """The first ``count`` lines said in the channel (nick, text)."""
        import socket
        deadline = time.monotonic() + timeout
        while len(self.lines) < count and time.monotonic() < deadline:
            try:
                for prefix, cmd, rest in self._lines():
                    target, _, text = rest.partition(" :")
                    if cmd == "PRIVMSG" and target.lower() == self.channel.lower():
                        self.lines.append((prefix[1:].split("!")[0], text))
            except socket.timeout:
                pass
        assert len(self.lines) >= count, f"{len(self.lines)} lines in {timeout} s: {self.lines}"
        return list(self.lines)

    def __exit__(self, *exc):
        if self._sock is not None:
            self._sock.close()
        self._proc.kill()
        self._proc.wait()
