"""``cleanup --stale``: release what earlier sessions left on this host.

It covers every session of the host (the session registry, see ``ledger``, plus the
directories under ``--root``), not only the calling builder's. The step runs it under the host
lock, so no other build of ours can be using this host: a session whose supervisor still runs
is left over from a crashed master or an interrupted shutdown, and it is stopped and released
too (``--live refuse`` ends with an infrastructure outcome instead). Only ``--session``, the
calling build's own session, is left alone.
"""
import os

from . import cleanup
from .events import Outcome, result_event
from .ledger import check_registry


def add_arguments(p):
    p.add_argument("--stale", action="store_true", required=True,
                   help="release what earlier sessions on this host left behind")
    p.add_argument("--root", default=None,
                   help="also scan this directory for session dirs (older agents)")
    p.add_argument("--live", choices=("stop", "refuse"), default="stop",
                   help="a session whose supervisor still runs: stop and release it "
                        "(default), or refuse to go on")
    p.add_argument("--keep-sessions", type=int, default=10, metavar="N",
                   help="keep the N newest finished session dirs under --root, remove older "
                        "ones (default 10; -1 keeps all)")


def run(args, emitter):
    emitter.phase("cleanup")
    problem = check_registry()
    if problem:
        raise Outcome.infrastructure(
            problem, "set VKCKPT_STATE_DIR in the agent's environment to a directory only "
                     "this user can write, the same for every worker and SSH transport on "
                     "this host")
    current = os.path.abspath(args.session) if args.session else None
    released, problems, sessions, live = [], [], [], []
    for session_dir in cleanup.host_sessions(args.root, exclude=current):
        if cleanup.supervisor_alive(session_dir):
            live.append(session_dir)
            if args.live == "refuse":
                continue
            emitter.human(f"stopping live session {session_dir}: no build of ours runs "
                          f"there while we hold the host lock")
        got, bad = cleanup.release_all(session_dir, emitter)
        if got or bad:
            sessions.append(session_dir)
        released += got
        problems += bad
    pruned = cleanup.prune_sessions(args.root, args.keep_sessions, exclude=current)
    for path in pruned:
        emitter.human(f"removed old session dir {path}")
    details = {"released": released, "sessions": sessions, "live_sessions": live,
               "problems": problems, "pruned": pruned}
    if live and args.live == "refuse":
        raise Outcome.infrastructure(
            f"{len(live)} live session(s) on this host: {', '.join(live)}",
            "stop them (vkckpt-agent shutdown --session DIR) or run cleanup --stale --live "
            "stop", **details)
    if problems:
        raise Outcome.infrastructure(
            f"could not release {len(problems)} stale resource(s): {problems[0]}",
            "release them by hand (see the ledgers), then run cleanup --stale again", **details)
    gone = f" · removed {len(pruned)} old session dir(s)" if pruned else ""
    if not released:
        return result_event("ok", "nothing stale" + gone, details=details)
    stopped = f"stopped {len(live)} live session(s) and " if live else ""
    return result_event("ok", f"{stopped}released {len(released)} stale resource(s) from "
                              f"{len(sessions)} session(s){gone}", details=details)
