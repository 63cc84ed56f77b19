"""``ddb [--stay] -- CMD...``: break into the running vkernel's debugger and run ddb commands.

The supervisor sends SIGQUIT to the vkernel child (^\\ on a real console, reference §7), runs
each command at a ``db>`` prompt (``trace`` by default; ``ps``, ``show ...``), and types
``continue`` afterwards unless ``--stay`` is given, so the guest goes on running.
"""
from . import client
from .session import Session


def add_arguments(p):
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--stay", action="store_true", help="leave the vkernel in ddb afterwards")
    p.add_argument("cmd", nargs="*", help="ddb commands, one per argument (default: trace)")


def run(args, emitter):
    session = Session(args.session)
    cmds = [c for c in args.cmd if c != "--"] or ["trace"]
    emitter.phase("ddb")
    emitter.human("db> " + " / ".join(cmds))
    return client.request(session, {"op": "ddb", "cmd": cmds, "timeout": args.timeout,
                                    "stay": args.stay}, emitter, timeout=args.timeout + 30)
