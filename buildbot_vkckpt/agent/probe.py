"""``probe``: can this vkernel on this host be checkpointed? Decided without touching it.

Reads only: the running vkernel's signal dispositions and limits (``/proc/PID/status`` and
``/proc/PID/limits`` where the host has Linux-style procfs, else the vkernel binary and the
supervisor's own limit), its argv (``-d``: VMM off), and the host's ``kern.ckptgroup``,
``kern.ckptfile`` and ``vm.vkernel_enable`` (reference/dragonfly.md §14, §15, §18, §19).

Every check is one ``check`` event. A missing feature (no handler, VMM, no checkpoint support in
the host kernel) makes the result ``unsupported``; a host setting an admin can change
(RLIMIT_CORE 0, checkpoint group, free space, ``vm.vkernel_enable``) makes it ``infrastructure``
with the fix.
"""
import os
import resource

from . import client
from .ckptcheck import human_size
from .diagnosis import CORE_LIMIT_FIX
from .events import Outcome, result_event
from .hostcmd import sysctl
from .procs import SIGCKPTEXIT
from .session import Session
from .sizes import parse_size

# printed by the 2013 handler for SIGCKPT (reference §19): its presence in the binary marks it
HANDLER_MESSAGE = b"Use SIGCKPTEXIT instead"
COMM_MAX = 16   # p_comm holds MAXCOMLEN (16) characters
UNSUPPORTED_FIX = ("run a vkernel built from a branch that carries the vkernel checkpoint "
                   "handler (GSoC 2013 vkernel_chkpt, reference §19)")


def add_arguments(p):
    p.add_argument("--timeout", type=float, default=30.0)


# --- what the session knows ------------------------------------------------------------------
def session_status(session, emitter, timeout=30.0):
    """The supervisor's status details; Outcome when no vkernel runs."""
    res = client.request(session, {"op": "status"}, emitter, timeout=timeout)
    details = res.get("details") or {}
    if not details.get("vkernel_target"):
        state = details.get("parked") and "is checkpointed (restore it first)" or \
            f"is not running ({res.get('summary')})"
        raise Outcome.infrastructure(f"the session's vkernel {state}",
                                     "boot the vkernel (or restore its checkpoint) first",
                                     status=details)
    return details


def option(argv, flag):
    """The value of ``flag`` in a vkernel argv (the last one wins, as getopt's loop does)."""
    value = None
    for i, word in enumerate(argv[:-1]):
        if word == flag:
            value = argv[i + 1]
    return value


def comm_of(argv):
    """p_comm: the basename of argv[0], cut to MAXCOMLEN."""
    return os.path.basename(argv[0])[:COMM_MAX] if argv else "kernel"


def expand_ckptfile(template, comm, pid, uid):
    """``kern.ckptfile`` escapes (§15): %N %P %U %%; unknown ones are dropped (and logged)."""
    out, i = [], 0
    while i < len(template):
        c = template[i]
        if c == "%" and i + 1 < len(template):
            out.append({"N": comm, "P": str(pid), "U": str(uid), "%": "%"}.get(template[i + 1],
                                                                             ""))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def proc_status_field(pid, field):
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def binary_has_handler(path):
    """True/False when the binary was read, None when it could not be."""
    try:
        with open(path, "rb") as fh:
            tail = b""
            while True:
                chunk = fh.read(1 << 20)
                if not chunk:
                    return False
                if HANDLER_MESSAGE in tail + chunk:
                    return True
                tail = chunk[-len(HANDLER_MESSAGE):]
    except OSError:
        return None


def handler_check(pid, argv):
    """(present: True/False/None, how it was decided)."""
    sigcgt = proc_status_field(pid, "SigCgt")
    if sigcgt is not None:
        try:
            caught = int(sigcgt, 16) >> (SIGCKPTEXIT - 1) & 1
        except ValueError:
            caught = None
        if caught is not None:
            return bool(caught), f"pid {pid} {'catches' if caught else 'does not catch'} " \
                                 f"signal {SIGCKPTEXIT} (SigCgt {sigcgt})"
    binary = argv[0] if argv else None
    found = binary_has_handler(binary) if binary else None
    if found is None:
        return None, f"cannot read the vkernel binary {binary}"
    return found, (f"{os.path.basename(binary)} {'has' if found else 'lacks'} the handler's "
                   f"message \"{HANDLER_MESSAGE.decode()}\"")


def core_limit(pid, status):
    """The vkernel's soft RLIMIT_CORE in bytes (None = unlimited), and where it was read."""
    try:
        with open(f"/proc/{pid}/limits", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Max core file size"):
                    soft = line[len("Max core file size"):].split()[0]
                    return (None if soft == "unlimited" else int(soft)), f"/proc/{pid}/limits"
    except (OSError, ValueError, IndexError):
        pass
    soft = (status.get("rlimit_core") or [resource.getrlimit(resource.RLIMIT_CORE)[0]])[0]
    if soft is None or soft < 0 or soft == resource.RLIM_INFINITY:
        return None, "the supervisor's limit"
    return int(soft), "the supervisor's limit"


CKPTFILE_CACHE = "kern.ckptfile"


def ckptfile_template(session, fresh=False):
    """The host's kern.ckptfile. ``probe`` reads it and keeps it in the session, so each
    checkpoint of a cycle does not pay for another sysctl process."""
    cache = session.file(CKPTFILE_CACHE)
    if not fresh:
        try:
            with open(cache, encoding="utf-8") as fh:
                return fh.read().rstrip("\n") or "%N.ckpt"
        except OSError:
            pass
    template = sysctl("kern.ckptfile") or "%N.ckpt"
    try:
        with open(cache, "w", encoding="utf-8") as fh:
            fh.write(template + "\n")
    except OSError:
        pass
    return template


def guest_memory(argv):
    try:
        return parse_size(option(argv, "-m") or "")
    except ValueError:
        return None


def free_bytes(directory):
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


def checkpoint_path(session, status, pid, fresh=False):
    """Where SIGCKPTEXIT writes, from the host's kern.ckptfile, relative to the vkernel's cwd
    (the session dir)."""
    template = ckptfile_template(session, fresh)
    name = expand_ckptfile(template, comm_of(status.get("vkernel_argv") or []), pid,
                           os.geteuid())
    return os.path.normpath(os.path.join(session.dir, name))


# --- the checks ------------------------------------------------------------------------------
class Checks:
    def __init__(self, emitter):
        self.emitter = emitter
        self.items = []

    def add(self, name, ok, text, klass=None, fix=None):
        item = {"name": name, "ok": ok, "text": text}
        if not ok:
            item["class"] = klass
            if fix:
                item["fix"] = fix
        self.items.append(item)
        event = {"ev": "check", "name": name, "ok": ok, "text": text}
        if fix and not ok:
            event["fix"] = fix
        self.emitter.human(f"{'ok  ' if ok else 'FAIL'}  {name}: {text}")
        self.emitter.event(event)

    def first(self, klass):
        return next((c for c in self.items if not c["ok"] and c.get("class") == klass), None)


def run_checks(session, status, emitter):
    checks = Checks(emitter)
    pid = status["vkernel_target"]
    argv = status.get("vkernel_argv") or []
    facts = {"pid": pid}

    present, how = handler_check(pid, argv)
    facts["handler"] = present
    if present:
        checks.add("handler", True, how)
    else:
        checks.add("handler", False, how if present is False else f"cannot tell: {how}",
                   "unsupported", UNSUPPORTED_FIX)

    if "-d" in argv:
        checks.add("vmm", True, "VMM off (-d)")
    elif sysctl("hw.vmm.enable") == "0":  # VMM is used only when available and no -d (§2)
        checks.add("vmm", True, "VMM not available on the host (hw.vmm.enable=0)")
    else:
        checks.add("vmm", False, "the vkernel runs with VMM (no -d); VMM vkernels cannot be "
                   "checkpointed (reference §19)", "unsupported", "boot without --vmm")

    soft, where = core_limit(pid, status)
    facts["rlimit_core"] = "unlimited" if soft is None else soft
    guest = guest_memory(argv)
    if soft == 0:
        checks.add("RLIMIT_CORE", False, f"soft limit 0 ({where}): SIGCKPTEXIT fails with "
                   "ERANGE", "infrastructure",
                   CORE_LIMIT_FIX)
    elif soft is not None and guest and soft < guest:
        # the core writer is given the soft limit (reference §17); a file that cannot fit
        # would fail the write and wedge the vkernel (§19)
        checks.add("RLIMIT_CORE", False, f"soft limit {human_size(soft)} ({where}) is below "
                   f"the guest memory {human_size(guest)}", "infrastructure",
                   CORE_LIMIT_FIX)
    else:
        checks.add("RLIMIT_CORE", True, f"{facts['rlimit_core']} ({where})")

    group = sysctl("kern.ckptgroup")
    if group is None:
        checks.add("kern.ckptgroup", False, "sysctl missing: the host kernel has no "
                   "checkpoint support", "unsupported",
                   "run a DragonFly host kernel with sys_checkpoint(2)")
    else:
        try:
            gid = int(group)
        except ValueError:
            gid = None
        if gid == -1:
            checks.add("kern.ckptgroup", True, "-1: any group may checkpoint")
        elif gid is not None and (os.geteuid() == 0 or gid in os.getgroups()
                                  or gid == os.getgid()):
            checks.add("kern.ckptgroup", True, f"{gid}" + (" (wheel)" if gid == 0 else "")
                       + ": this user may checkpoint")
        else:
            checks.add("kern.ckptgroup", False, f"{group}: this user is not in the checkpoint "
                       "group", "infrastructure",
                       f"add the worker user to group {group}, or sysctl kern.ckptgroup=-1")

    path = checkpoint_path(session, status, pid, fresh=True)
    facts["ckpt_path"] = path
    checks.add("kern.ckptfile", True, f"{ckptfile_template(session)} -> "
               f"{os.path.relpath(path, session.dir)}")

    memsize = guest
    directory = os.path.dirname(path)
    try:
        free = free_bytes(directory)
    except OSError as exc:
        free = None
        checks.add("disk", False, f"cannot stat {directory}: {exc.strerror}", "infrastructure",
                   "create the directory kern.ckptfile points to")
    if free is not None:
        facts["free_bytes"] = free
        # from the second cycle on, the restored vkernel still maps the previous file, so
        # the kernel's unlink before writing frees nothing (reference §15, §17)
        if memsize and free < 2 * memsize:
            checks.add("disk", False, f"{human_size(free)} free in {directory}; two "
                       f"checkpoints of {human_size(memsize)} of guest memory need "
                       f"{human_size(2 * memsize)}", "infrastructure",
                       "free disk space there, or move the session dir")
        else:
            checks.add("disk", True, f"{human_size(free)} free"
                       + (f", guest memory {human_size(memsize)}" if memsize else ""))

    enable = sysctl("vm.vkernel_enable")
    if enable == "1":
        checks.add("vm.vkernel_enable", True, "1 (restore needs it)")
    else:
        checks.add("vm.vkernel_enable", False, f"{enable or 'missing'}: checkpt -r cannot "
                   "recreate the guest's vmspaces", "infrastructure",
                   "sysctl vm.vkernel_enable=1 (and add it to /etc/sysctl.conf)")
    return checks, facts


def verdict(session, checks, facts):
    details = {"supported": False, "ckpt_path": facts.get("ckpt_path"),
               "checks": checks.items, **{k: v for k, v in facts.items() if k != "ckpt_path"}}
    missing = checks.first("unsupported")
    if missing:
        if missing["name"] == "handler" and facts.get("handler") is False:
            summary = ("unsupported: the vkernel has no checkpoint handler "
                       "(stock DragonFly, reference §18)")
        else:
            summary = f"unsupported: {missing['name']}: {missing['text']}"
        return result_event("unsupported", summary, "unsupported", missing.get("fix"), details)
    problem = checks.first("infrastructure")
    if problem:
        return result_event("infrastructure", f"host cannot checkpoint: {problem['name']}: "
                            f"{problem['text']}", "infrastructure", problem.get("fix"), details)
    details["supported"] = True
    rel = os.path.relpath(facts["ckpt_path"], session.dir)
    return result_event("ok", f"checkpoint supported: handler present, RLIMIT_CORE "
                        f"{facts['rlimit_core']}, file {rel}", details=details)


def probe(session, emitter, timeout=30.0):
    status = session_status(session, emitter, timeout)
    checks, facts = run_checks(session, status, emitter)
    return verdict(session, checks, facts), status


def run(args, emitter):
    session = Session(args.session)
    emitter.phase("probe")
    return probe(session, emitter, args.timeout)[0]
