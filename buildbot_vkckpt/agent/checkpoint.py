"""``checkpoint``: SIGCKPTEXIT to the running vkernel, wait for it to exit, validate the file.

The supervisor sends the signal and is woken by the vkernel's exit (SIGCHLD), then stays up
holding the session for ``restore``. The file (named by ``kern.ckptfile``, written in the
session dir) goes into the ledger before the signal, so ``shutdown`` removes it; it is then
checked as a thaw would check it (``ckptcheck``), plus the thread count against ``-n``.

Before the signal: the binary must carry the handler and the host kernel must be able to dump a
vkernel (``hostckpt``, asked of a helper once per session) — a GSoC vkernel on a stock host
would exit 0 and leave an unrestorable file. After it: the files the checkpoint refers to by
handle (memory image, disks, pidfile, the session's kernel copy) are recorded (``ckptfiles``)
for ``restore`` to check; the metrics give the file and the memory image separately.
"""
import os

from . import ckptfiles, client, hostckpt, probe
from .ckptcheck import human_size, inspect_file, known_files, render_compact as render
from .events import Outcome, result_event
from .ledger import Ledger
from .session import Session

UNSUPPORTED_SUMMARY = probe.NO_HANDLER_SUMMARY


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


def session_known(session, argv):
    """{inode: path} of the session's files and those the vkernel was given."""
    return known_files(session.dir,
                       extra=[p for _, p in ckptfiles.referenced_paths(argv)])


def inspect_lines(path, known=None):
    return render(inspect_file(path, known=known)).splitlines()


def memory_reference(report, memimg):
    """None when the file refers to the memory image by handle, else what is wrong."""
    if not memimg:
        return None
    try:
        ino = os.stat(memimg).st_ino
    except OSError:
        return f"the memory image {memimg} is gone"
    if any(m.get("handle", {}).get("ino") == ino for m in report.get("maps", [])):
        return None
    return ("the checkpoint does not refer to the memory image (no NT_DRAGONFLY_MAPS entry "
            f"for {os.path.basename(memimg)}): guest RAM would be lost")


def validate(path, ncpus, known=None):
    """(report, problem or None) for the written file."""
    report = inspect_file(path, known=known)
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
    host = hostckpt.cached(session, probe.ckptfile_template(session))
    if host.get("supported") is False:
        # a GSoC vkernel on a stock host exits 0 and leaves a file nobody can restore (§23)
        raise Outcome("unsupported", f"unsupported: {hostckpt.NO_SUPPORT}: {host['reason']}",
                      kind="unsupported", fix=hostckpt.NO_SUPPORT_FIX,
                      details={"host_kernel": host, "signalled": False})
    path = probe.checkpoint_path(session, status, pid)
    memimg = probe.option(argv, "-i")
    need, flush = ckptfiles.space_needed(memimg, ckptfiles.file_estimate(path))
    try:
        free = probe.free_bytes(os.path.dirname(path))
    except OSError:
        free = None
    if free is not None and free < need:
        # a failed write wedges the vkernel (reference §19): refuse while the guest still runs
        raise Outcome.infrastructure(
            f"only {human_size(free)} free where a checkpoint needs {human_size(need)} "
            f"(memory image flush {human_size(flush)} + the file's own segments)",
            "free disk space where kern.ckptfile points (the session dir)",
            free_bytes=free, need_bytes=need, signalled=False)
    before = file_identity(path)
    record_file(session, path)
    emitter.info(ckpt_path=path, vkernel_pid=pid)
    res = client.request(session, {"op": "checkpoint", "timeout": args.timeout}, emitter,
                         timeout=args.timeout + 60)
    details = res.setdefault("details", {})
    details["file"] = path
    known = session_known(session, argv)
    if res.get("status") != "ok":
        if os.path.exists(path):
            details["inspect"] = inspect_lines(path, known)
        return res
    # the vkernel is gone; what its file refers to must now stay as it is until the restore
    ckptfiles.record(session, argv, path)
    if before is not None and file_identity(path) == before:
        # the signal path unlinks and creates the file (§15): the same file is an old one
        return result_event("failure", f"the vkernel exited but wrote no new checkpoint: "
                            f"{os.path.basename(path)} is the previous one", "kernel",
                            details={**details, "inspect": inspect_lines(path, known)})
    seconds = details.get("seconds")
    try:  # -n numcpus[:lbits[:cbits]]
        ncpus = int((probe.option(argv, "-n") or "1").split(":")[0])
    except ValueError:
        ncpus = None
    report, problem = validate(path, ncpus, known)
    lines = render(report).splitlines()
    memimg_size, memimg_used = ckptfiles.allocated(memimg) if memimg else (None, None)
    emitter.metric("ckpt_seconds", seconds, "s")
    if report.get("size") is not None:
        emitter.metric("ckpt_bytes", report["size"], "bytes")
    if memimg_size is not None:
        emitter.metric("memimg_bytes", memimg_size, "bytes")
    out = {"file": path, "seconds": seconds, "bytes": report.get("size"),
           "memimg": memimg, "memimg_bytes": memimg_size, "memimg_allocated": memimg_used,
           "threads": report["threads"], "layout": report.get("layout"),
           "referenced": report.get("referenced", []), "inspect": lines}
    if report.get("layout") == "stock":
        if details.get("exit_status") == 0:
            # the handler ran and exited 0, but the host kernel wrote a stock file (§23)
            return result_event("unsupported", f"unsupported: {hostckpt.NO_SUPPORT}: the "
                                "vkernel's checkpoint has the stock layout, without its "
                                "memory references", "unsupported", hostckpt.NO_SUPPORT_FIX,
                                out)
        # the host's SA_CKPT default action wrote a process checkpoint without the
        # VPAGETABLE kernel memory, and the vkernel died by the signal
        return result_event("unsupported", "unsupported: the vkernel died by signal 34 and "
                            "left a stock process checkpoint: no checkpoint handler "
                            "(stock DragonFly)", "unsupported",
                            probe.UNSUPPORTED_FIX, out)
    problem = problem or memory_reference(report, memimg)
    if problem:
        return result_event("failure", f"checkpoint file invalid: {problem}", "kernel",
                            details=out)
    name = os.path.relpath(path, session.dir)
    mem = f" · memory image {human_size(memimg_size)}" if memimg_size is not None else ""
    return result_event("ok", f"checkpoint written in {seconds:.1f} s: {name}, "
                        f"{human_size(report['size'])}, {report['threads']} threads{mem}",
                        details=out)
