"""Talking to a session's supervisor from a short-lived subcommand."""
import json
import os
import socket

from .events import Outcome
from .session import connect_socket


def supervisor_reachable(session):
    try:
        connect_socket(session.socket_path, timeout=2.0).close()
        return True
    except OSError:
        return False


def request(session, req, emitter, timeout=None):
    """Send ``req``, print what the supervisor streams, return its result event.

    ``timeout`` bounds the whole wait (the supervisor enforces the op's own timeouts; this
    only guards against a supervisor that stopped answering).
    """
    try:
        sock = connect_socket(session.socket_path, timeout=5.0)
    except OSError as exc:
        raise Outcome.infrastructure(
            f"no supervisor answers in session {session.dir} ({exc.strerror or exc})",
            "boot the vkernel first; if it was booted, it is gone: see console.log") from exc
    with sock:
        sock.settimeout(timeout)
        try:
            sock.sendall((json.dumps(req) + "\n").encode())
            reader = sock.makefile("rb")
            for raw in reader:
                try:
                    msg = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(msg, dict):
                    continue
                if "out" in msg:
                    emitter.console_line(str(msg["out"]))
                elif "event" in msg and isinstance(msg["event"], dict):
                    emitter.event(msg["event"], journal=False)
                elif "result" in msg and isinstance(msg["result"], dict):
                    return msg["result"]
        except socket.timeout as exc:
            raise Outcome.infrastructure(
                f"the supervisor did not answer {req.get('op')} within {timeout:g} s",
                "check the host's load; run shutdown to release the session") from exc
        except OSError as exc:
            raise Outcome.infrastructure(
                f"lost the supervisor during {req.get('op')}: {exc}",
                "see supervisor.log and console.log in the session dir") from exc
    raise Outcome.infrastructure(
        f"the supervisor went away during {req.get('op')}",
        f"see {os.path.join(session.dir, 'supervisor.log')} and console.log")
