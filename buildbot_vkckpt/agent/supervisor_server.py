"""The supervisor's unix socket server (a mixin of ``supervisor.Supervisor``).

Newline-delimited JSON: each complete line a client sends is one request, handed to
``Supervisor.handle``; a malformed one is answered at once. A client that goes away leaves its
operation running: the result still lands in ``events.jsonl``.
"""
import json
import selectors

from .events import result_event


class ClientServer:
    def accept(self, listener):
        try:
            sock, _ = listener.accept()
        except OSError:
            return
        sock.settimeout(5.0)
        self.clients[sock] = bytearray()
        self.sel.register(sock, selectors.EVENT_READ, "client")

    def drop(self, sock):
        self.clients.pop(sock, None)
        try:
            self.sel.unregister(sock)
        except (KeyError, ValueError):
            pass
        sock.close()
        if self.op is not None and self.op.client is sock:
            self.op.client = None  # the op goes on; its result still lands in events.jsonl

    def read_client(self, sock):
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.drop(sock)
            return
        buf = self.clients.get(sock)
        if buf is None:
            return
        buf.extend(data)
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ValueError("not an object")
            except ValueError:
                self.send(sock, {"result": result_event(
                    "infrastructure", "malformed request to the supervisor",
                    "infrastructure", "use the vkckpt agent of the same version")})
                continue
            self.handle(sock, request)

    def send(self, sock, message):
        if sock is None:
            return
        try:
            sock.sendall((json.dumps(message, separators=(",", ":"), default=str) + "\n")
                         .encode())
        except OSError:
            self.drop(sock)
