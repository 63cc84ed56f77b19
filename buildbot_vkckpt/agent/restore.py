"""``restore --file F``: ``checkpt -r F`` under the supervisor, as the session's new vkernel.

The supervisor runs it on a fresh pty (same ``console.log``, same console monitor), waits for
``Restored from checkpoint...`` and then for the guest shell — frozen at its prompt, still
logged in — to answer a sentinel. A thaw error, a panic (the usual ddb trace) or a timeout
fails the restore; the file's inspection and the last console lines come with every failure.
"""
import os

from . import client
from .ckptcheck import inspect_file, render
from .events import Outcome
from .session import Session


def add_arguments(p):
    p.add_argument("--file", required=True, help="the checkpoint file to thaw")
    p.add_argument("--timeout", type=float, default=300.0,
                   help="longest wait for 'Restored from checkpoint...' and the shell (s)")


def run(args, emitter):
    session = Session(args.session)
    emitter.phase("restore")
    path = os.path.abspath(args.file)
    if not os.path.isfile(path):
        raise Outcome.infrastructure(f"no checkpoint file at {path}",
                                     "run checkpoint first, or pass the file it wrote")
    res = client.request(session, {"op": "restore", "file": path, "timeout": args.timeout},
                         emitter, timeout=args.timeout + 60)
    details = res.setdefault("details", {})
    details.setdefault("file", path)
    if res.get("status") == "ok":
        emitter.metric("restore_seconds", details.get("restore_seconds"), "s")
        emitter.metric("console_seconds", details.get("console_seconds"), "s")
        return res
    details["inspect"] = render(inspect_file(path)).splitlines()
    if not details.get("tail"):
        details["tail"] = console_tail(session)
    return res


def console_tail(session, n=20):
    try:
        with open(session.console_log, "rb") as fh:
            fh.seek(max(0, os.fstat(fh.fileno()).st_size - 16384))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [ln.rstrip("\r") for ln in text.splitlines() if ln.strip()][-n:]
