"""``cleanup --stale --root DIR``: release what crashed earlier sessions left on this host."""
from . import cleanup
from .events import Outcome, result_event


def add_arguments(p):
    p.add_argument("--stale", action="store_true", required=True,
                   help="release sessions whose supervisor is dead")
    p.add_argument("--root", required=True, help="directory holding session dirs")


def run(args, emitter):
    emitter.phase("cleanup")
    released, problems, sessions, live = [], [], [], []
    for session_dir in cleanup.find_sessions(args.root):
        if cleanup.supervisor_alive(session_dir):
            live.append(session_dir)
            continue
        got, bad = cleanup.release_all(session_dir, emitter)
        if got or bad:
            sessions.append(session_dir)
        released += got
        problems += bad
    details = {"released": released, "sessions": sessions, "live_sessions": live,
               "problems": problems}
    if problems:
        raise Outcome.infrastructure(
            f"could not release {len(problems)} stale resource(s): {problems[0]}",
            "release them by hand (see the ledgers), then run cleanup --stale again", **details)
    if not released:
        return result_event("ok", "nothing stale", details=details)
    return result_event("ok", f"released {len(released)} stale resource(s) from "
                              f"{len(sessions)} session(s)", details=details)
