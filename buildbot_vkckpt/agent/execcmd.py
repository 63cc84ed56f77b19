"""``exec -- CMD``: run one command in the guest through the supervisor's console."""
import shlex

from . import client
from .events import Outcome
from .session import Session


def add_arguments(p):
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("cmd", nargs="+", help="one argument: a shell line; several: joined with quoting")


def vkernel_gone(session):
    """After a crash the supervisor has stopped the vkernel and left: a later command is
    told why instead of "no supervisor answers"."""
    if client.supervisor_reachable(session):
        return None
    state = session.read_state()
    crash = state.get("crash") if isinstance(state.get("crash"), dict) else None
    why = state.get("failure") or (crash and f"kernel: {crash.get('what')}")
    if not why or state.get("alive"):
        return None
    return Outcome.kernel(f"the vkernel is down: {why}", state=state).to_event()


def command_line(words):
    words = [w for w in words if w != "--"] if words and words[0] == "--" else list(words)
    if not words:
        raise Outcome.infrastructure("no guest command given", "pass it after --")
    return words[0] if len(words) == 1 else shlex.join(words)


def run(args, emitter):
    session = Session(args.session)
    cmd = command_line(args.cmd)
    emitter.phase("exec")
    emitter.human(f"guest$ {cmd}")
    gone = vkernel_gone(session)
    if gone is not None:
        return gone
    return client.request(session, {"op": "exec", "cmd": cmd, "timeout": args.timeout},
                          emitter, timeout=args.timeout + 60)
