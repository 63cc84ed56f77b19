"""``status``: what the session's supervisor and vkernel are doing."""
from . import client
from .events import result_event
from .ledger import Ledger
from .session import Session


def add_arguments(p):
    pass


def run(args, emitter):
    session = Session(args.session)
    outstanding = [{k: e.get(k) for k in ("id", "kind", "pid", "path", "unit", "name")
                    if e.get(k) is not None} for e in Ledger(session.dir).outstanding()]
    if client.supervisor_reachable(session):
        res = client.request(session, {"op": "status"}, emitter, timeout=10)
        res.setdefault("details", {})["ledger"] = outstanding
        return res
    state = session.read_state()
    summary = "no supervisor running" + (f"; last state: {state['summary']}"
                                         if state.get("summary") else "")
    return result_event("ok", summary, details=dict(state, ledger=outstanding, alive=False))
