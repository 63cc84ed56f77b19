"""``shutdown``: stop the vkernel (guest halt, else SIGTERM, else SIGKILL), then release every
resource the session ledger holds. Idempotent; succeeds even when the guest had panicked."""
import os

from . import cleanup, client, procs, verify
from .events import Outcome, result_event
from .ledger import Ledger
from .session import Session


def add_arguments(p):
    p.add_argument("--timeout", type=float, default=60.0)


def run(args, emitter):
    session = Session(args.session)
    emitter.phase("shutdown")
    if not os.path.isdir(session.dir):
        return result_event("ok", "nothing to shut down (no session dir)")
    how = "no supervisor was running"
    if client.supervisor_reachable(session):
        verify.remove_workload(session, emitter)
        try:
            res = client.request(session, {"op": "shutdown", "timeout": args.timeout},
                                 emitter, timeout=args.timeout + 30)
            how = res.get("summary") or how
        except Outcome as exc:
            how = f"supervisor did not finish the shutdown ({exc.summary})"
            emitter.human(how)
        for entry in Ledger(session.dir).outstanding():
            if entry.get("kind") == "supervisor":
                procs.wait_exit(entry.get("pid"), 5.0)
    released, problems = cleanup.release_all(session.dir, emitter)
    details = {"released": released, "problems": problems}
    if problems:
        raise Outcome.infrastructure(
            f"{how}; could not release {len(problems)} resource(s): {problems[0]}",
            "release them by hand (see the ledger), then run cleanup --stale", **details)
    summary = how + (f" · released {len(released)} resource(s)" if released else "")
    return result_event("ok", summary, details=details)
