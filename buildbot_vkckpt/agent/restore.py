"""``restore --file F``: ``checkpt -r F`` under the supervisor, as the session's new vkernel.

The supervisor runs it on a fresh pty (same ``console.log``, same console monitor), waits for
``Restored from checkpoint...`` and then for the guest shell — frozen at its prompt, still
logged in — to answer a sentinel. A thaw error, a panic (the usual ddb trace) or a timeout
fails the restore; the file's inspection and the last console lines come with every failure.

The files the checkpoint refers to by handle (memory image, disks, pidfile, kernel copy) were
recorded by ``checkpoint``; one that changed since refuses the restore before ``checkpt`` runs,
and a failed thaw names any that changed meanwhile (``ckptfiles``).
"""
import os

from . import ckptfiles, client
from .ckptcheck import inspect_file, known_files, render_compact as render
from .events import Outcome
from .session import Session

CHANGED_FIX = ("leave the memory image, the disk images, the pidfile and the session's kernel "
               "copy alone between checkpoint and restore (a thaw reopens them by handle)")


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
    changed = ckptfiles.changes(session, path)
    if changed:
        raise Outcome.infrastructure(
            f"not restoring: {changed[0]}" + (f" (+{len(changed) - 1} more)"
                                              if len(changed) > 1 else ""),
            CHANGED_FIX, changed=changed, file=path, signalled=False)
    res = client.request(session, {"op": "restore", "file": path, "timeout": args.timeout},
                         emitter, timeout=args.timeout + 60)
    details = res.setdefault("details", {})
    details.setdefault("file", path)
    if res.get("status") == "ok":
        emitter.metric("restore_seconds", details.get("restore_seconds"), "s")
        emitter.metric("console_seconds", details.get("console_seconds"), "s")
        return res
    changed = ckptfiles.changes(session, path)
    if changed:
        details["changed"] = changed
        res["summary"] = f"{res.get('summary')} · changed since the checkpoint: {changed[0]}"
    data = ckptfiles.load(session) or {}
    extra = [f.get("path") for f in data.get("files") or [] if f.get("path")]
    details["inspect"] = render(inspect_file(
        path, known=known_files(session.dir, extra=extra))).splitlines()
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
