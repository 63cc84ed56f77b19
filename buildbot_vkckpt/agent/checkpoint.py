"""``checkpoint``: SIGCKPTEXIT to the running vkernel, wait for it to exit, validate the file.

The supervisor sends the signal and is woken by the vkernel's exit (SIGCHLD), then stays up
holding the session for ``restore``. The file (named by ``kern.ckptfile``, written in the
session dir) goes into the ledger before the signal, so ``shutdown`` removes it; it is then
checked as a thaw would check it (``ckptcheck``), plus the thread count against ``-n``.
"""
import os

from . import client, probe
from .ckptcheck import human_size, inspect_file, render
from .events import Outcome, result_event
from .ledger import Ledger
from .session import Session

UNSUPPORTED_SUMMARY = ("unsupported: the vkernel has no checkpoint handler "
                       "(stock DragonFly, reference §18)")


def add_arguments(p):
    p.add_argument("--timeout", type=float, default=600.0,
                   help="longest wait for the vkernel to write its file and exit (s)")


def record_file(session, path):
    """One ledger entry per checkpoint path: every cycle rewrites the same file."""
    ledger = Ledger(session.dir)
    for entry in ledger.outstanding():
        if entry.get("kind") == "file" and entry.get("path") == path:
            return entry["id"]
    return ledger.allocate("file", path=path, role="checkpoint")


def file_identity(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns)


def inspect_lines(path):
    return render(inspect_file(path)).splitlines()


def validate(path, ncpus):
    """(report, problem or None) for the written file."""
    report = inspect_file(path)
    if report.get("unreadable"):
        return report, f"no checkpoint file at {path}"
    if report["problems"]:
        return report, report["problems"][0]
    # at least one thread per virtual cpu; a real vkernel also runs cothreads (reference §7)
    if ncpus and report["threads"] < ncpus:
        return report, f"{report['threads']} thread(s) saved, the vkernel runs {ncpus} cpus (-n)"
    return report, None


def run(args, emitter):
    session = Session(args.session)
    emitter.phase("checkpoint")
    status = probe.session_status(session, emitter)
    pid = status["vkernel_target"]
    argv = status.get("vkernel_argv") or []
    present, how = probe.handler_check(pid, argv)
    if present is False:
        # a stock vkernel dies by signal 34: refuse instead of destroying the session
        raise Outcome("unsupported", UNSUPPORTED_SUMMARY, kind="unsupported",
                      fix=probe.UNSUPPORTED_FIX, details={"handler": how, "signalled": False})
    path = probe.checkpoint_path(session, status, pid)
    memsize = probe.guest_memory(argv)
    try:
        free = probe.free_bytes(os.path.dirname(path))
    except OSError:
        free = None
    if memsize and free is not None and free < memsize:
        # a failed write wedges the vkernel (reference §19): refuse while the guest still runs
        raise Outcome.infrastructure(
            f"only {human_size(free)} free for a checkpoint of {human_size(memsize)} of guest "
            "memory", "free disk space where kern.ckptfile points (the session dir)",
            free_bytes=free, memory=memsize)
    before = file_identity(path)
    record_file(session, path)
    emitter.info(ckpt_path=path, vkernel_pid=pid)
    res = client.request(session, {"op": "checkpoint", "timeout": args.timeout}, emitter,
                         timeout=args.timeout + 60)
    details = res.setdefault("details", {})
    details["file"] = path
    if res.get("status") != "ok":
        if os.path.exists(path):
            details["inspect"] = inspect_lines(path)
        return res
    if before is not None and file_identity(path) == before:
        # the signal path unlinks and creates the file (§15): the same file is an old one
        return result_event("failure", f"the vkernel exited but wrote no new checkpoint: "
                            f"{os.path.basename(path)} is the previous one", "kernel",
                            details={**details, "inspect": inspect_lines(path)})
    seconds = details.get("seconds")
    try:  # -n numcpus[:lbits[:cbits]]
        ncpus = int((probe.option(argv, "-n") or "1").split(":")[0])
    except ValueError:
        ncpus = None
    report, problem = validate(path, ncpus)
    lines = render(report).splitlines()
    emitter.metric("ckpt_seconds", seconds, "s")
    if report.get("size") is not None:
        emitter.metric("ckpt_bytes", report["size"], "bytes")
    out = {"file": path, "seconds": seconds, "bytes": report.get("size"),
           "threads": report["threads"], "layout": report.get("layout"), "inspect": lines}
    if report.get("layout") == "stock":
        # the host's SA_CKPT default action wrote a process checkpoint without the
        # VPAGETABLE kernel memory, and the vkernel died by the signal
        return result_event("unsupported", "unsupported: the vkernel died by signal 34 and "
                            "left a stock process checkpoint: no checkpoint handler "
                            "(stock DragonFly, reference §18)", "unsupported",
                            probe.UNSUPPORTED_FIX, out)
    if problem:
        return result_event("failure", f"checkpoint file invalid: {problem}", "kernel",
                            details=out)
    name = os.path.relpath(path, session.dir)
    return result_event("ok", f"checkpoint written in {seconds:.1f} s: {name}, "
                        f"{human_size(report['size'])}, {report['threads']} threads",
                        details=out)
