"""A real webhook receiver on 127.0.0.1 for the notification tests (the SMTP server is the
project's own notify/mailbox.py); ``wait_for`` polls with a deadline."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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
