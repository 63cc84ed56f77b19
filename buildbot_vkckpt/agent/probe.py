"""``probe``: can this vkernel on this host be checkpointed? Decided without touching it.

Reads: the running vkernel's signal dispositions and limits (``/proc/PID/status`` and
``/proc/PID/limits`` where the host has Linux-style procfs; DragonFly has none, so otherwise the
vkernel binary's bytes and the supervisor's own limit), its argv (``-d``: VMM off) and flavour,
the host's ``hw.vmm.enable``, ``kern.ckptgroup``, ``kern.ckptfile`` and ``vm.vkernel_enable``
(reference/dragonfly.md §14, §15, §18, §19, §23). The host kernel itself is asked by
checkpointing a small helper (``hostckpt``), never the vkernel: "supported" needs a host kernel
that can dump a vkernel.

Every check is one ``check`` event. A missing feature makes the result ``unsupported``, named in
this order: the vkernel has no checkpoint handler; the host kernel has no vkernel checkpoint
support; VMM on. A host setting an admin can change (RLIMIT_CORE 0, checkpoint group, free
space, ``vm.vkernel_enable``) makes it ``infrastructure`` with the fix.
"""
import os
import resource

from . import ckptfiles, client, flavour, hostckpt
from .ckptcheck import human_size
from .ckptname import expand, p_comm
from .diagnosis import CKPTGROUP_FIX, CORE_LIMIT_FIX
from .events import Outcome, result_event
from .hostcmd import sysctl
from .procs import SIGCKPTEXIT
from .session import Session
from .sizes import parse_size

UNSUPPORTED_FIX = ("build the vkernel from a tree that carries the vkernel checkpoint "
                   "handler: the 2013 GSoC branch vkernel_chkpt of "
                   "github.com/pdziepak/DragonFlyBSD, or master with that work ported")
NO_HANDLER_SUMMARY = ("unsupported: the vkernel has no checkpoint handler "
                      "(stock DragonFly cannot checkpoint a running vkernel)")
VMM_FIX_NO_D = ("sysctl hw.vmm.enable=0 on the host before booting (this vkernel has no -d); "
                "a vkernel using VMM cannot be checkpointed")


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
    """p_comm of the vkernel started with ``argv``."""
    return p_comm(argv[0]) if argv else "kernel"


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
        return flavour.detect(path).handler
    except OSError:
        return None


def handler_check(pid, argv):
    """(present: True/False/None, how it was decided). The binary decides: a vkernel without
    the GSoC handler's strings has no handler, whatever else catches signal 34. Where a
    Linux-style procfs shows the running process's SigCgt, a binary with the handler whose
    process does not (yet) catch 34 counts as without one."""
    binary = argv[0] if argv else None
    found = binary_has_handler(binary) if binary else None
    how = (f"{os.path.basename(binary or '?')} {'has' if found else 'lacks'} the handler's "
           f"message \"{flavour.HANDLER_MESSAGES[0].decode()}\"")
    if found is False:
        return False, how
    sigcgt = proc_status_field(pid, "SigCgt")
    caught = None
    if sigcgt is not None:
        try:
            caught = int(sigcgt, 16) >> (SIGCKPTEXIT - 1) & 1
        except ValueError:
            caught = None
    if caught is not None:
        return bool(caught), f"pid {pid} {'catches' if caught else 'does not catch'} " \
                             f"signal {SIGCKPTEXIT} (SigCgt {sigcgt})" \
                             + (f"; {how}" if found else "")
    if found is None:
        return None, f"cannot read the vkernel binary {binary}"
    return True, how


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


def in_group(gid):
    """``groupmember(gid, cred)``: the effective or a supplementary group, for root too."""
    return gid == os.getegid() or gid in os.getgroups()


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
    name = expand(template, comm_of(status.get("vkernel_argv") or []), pid,
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

    facts["flavour"] = status.get("flavour") or "unknown"
    present, how = handler_check(pid, argv)
    facts["handler"] = present
    if present:
        checks.add("handler", True, how)
    else:
        checks.add("handler", False, how if present is False else f"cannot tell: {how}",
                   "unsupported", UNSUPPORTED_FIX)

    template = ckptfile_template(session, fresh=True)
    host = hostckpt.cached(session, template)
    facts["host_kernel"] = {True: "gsoc", False: "stock"}.get(host.get("supported"), "unknown")
    if host.get("supported"):
        checks.add("host kernel", True, host["reason"])
    elif host.get("supported") is False:
        checks.add("host kernel", False, host["reason"], "unsupported",
                   hostckpt.NO_SUPPORT_FIX)
    else:
        checks.add("host kernel", False, f"cannot tell: {host['reason']}", "infrastructure",
                   CKPTGROUP_FIX)

    vmm_value = sysctl("hw.vmm.enable")
    if "-d" in argv:
        checks.add("vmm", True, "VMM off (-d)")
    elif vmm_value in (None, "0"):  # without -d, the host's hw.vmm.enable decides (§2, §23)
        checks.add("vmm", True, f"VMM off on the host (hw.vmm.enable={vmm_value or 'missing'})")
    else:
        no_d = status.get("flavour_options") is not None \
            and "d" not in status.get("flavour_options")
        checks.add("vmm", False, f"VMM on: the vkernel runs without -d and the host has "
                   f"hw.vmm.enable={vmm_value}; VMM vkernels cannot be checkpointed",
                   "unsupported",
                   VMM_FIX_NO_D if no_d else "boot without --vmm (the agent then passes -d)")

    soft, where = core_limit(pid, status)
    facts["rlimit_core"] = "unlimited" if soft is None else soft
    path = checkpoint_path(session, status, pid)
    estimate = ckptfiles.file_estimate(path) or ckptfiles.NORMAL_ESTIMATE
    if soft == 0:
        checks.add("RLIMIT_CORE", False, f"soft limit 0 ({where}): SIGCKPTEXIT fails with "
                   "ERANGE", "infrastructure",
                   CORE_LIMIT_FIX)
    elif soft is not None and soft < estimate:
        # only the vkernel's own NORMAL segments are written; guest RAM stays in the memory
        # image (reference §23), so the limit is measured against the file, not -m
        checks.add("RLIMIT_CORE", False, f"soft limit {human_size(soft)} ({where}) is below "
                   f"the {human_size(estimate)} a vkernel's own segments may need",
                   "infrastructure", CORE_LIMIT_FIX)
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
        elif gid is not None and in_group(gid):
            checks.add("kern.ckptgroup", True, f"{gid}" + (" (wheel)" if gid == 0 else "")
                       + ": this user may checkpoint")
        else:
            # groupmember(), no privilege bypass: root must be a member too (reference §23)
            checks.add("kern.ckptgroup", False, f"{group}: this user (uid {os.geteuid()}) is "
                       "not in the checkpoint group; root is not exempt (EPERM)",
                       "infrastructure",
                       f"add the worker user to group {group}, or sysctl kern.ckptgroup=-1")

    facts["ckpt_path"] = path
    checks.add("kern.ckptfile", True, f"{template} -> {os.path.relpath(path, session.dir)}")

    directory = os.path.dirname(path)
    try:
        free = free_bytes(directory)
    except OSError as exc:
        free = None
        checks.add("disk", False, f"cannot stat {directory}: {exc.strerror}", "infrastructure",
                   "create the directory kern.ckptfile points to")
    if free is not None:
        facts["free_bytes"] = free
        # the handler msyncs guest RAM into the memory image (its unallocated part may still
        # need blocks) and the file holds the NORMAL segments (reference §23); the previous
        # file is still mapped by a restored vkernel, so its unlink frees nothing
        need, flush = ckptfiles.space_needed(option(argv, "-i"), estimate)
        if free < need:
            checks.add("disk", False, f"{human_size(free)} free in {directory}; a checkpoint "
                       f"needs {human_size(need)} (memory image flush {human_size(flush)} + "
                       f"file {human_size(estimate)})", "infrastructure",
                       "free disk space there, or move the session dir")
        else:
            checks.add("disk", True, f"{human_size(free)} free, a checkpoint needs "
                       f"{human_size(need)}")

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
            summary = NO_HANDLER_SUMMARY
        elif missing["name"] == "host kernel":
            summary = f"unsupported: {hostckpt.NO_SUPPORT}: {missing['text']}"
        elif missing["name"] == "vmm":
            summary = f"unsupported: {missing['text']}"
        else:
            summary = f"unsupported: {missing['name']}: {missing['text']}"
        return result_event("unsupported", summary, "unsupported", missing.get("fix"), details)
    problem = checks.first("infrastructure")
    if problem:
        return result_event("infrastructure", f"host cannot checkpoint: {problem['name']}: "
                            f"{problem['text']}", "infrastructure", problem.get("fix"), details)
    details["supported"] = True
    rel = os.path.relpath(facts["ckpt_path"], session.dir)
    return result_event("ok", f"checkpoint supported: handler present, host kernel "
                        f"{facts['host_kernel']}, RLIMIT_CORE {facts['rlimit_core']}, "
                        f"file {rel}", details=details)


def probe(session, emitter, timeout=30.0):
    status = session_status(session, emitter, timeout)
    checks, facts = run_checks(session, status, emitter)
    return verdict(session, checks, facts), status


def run(args, emitter):
    session = Session(args.session)
    emitter.phase("probe")
    return probe(session, emitter, args.timeout)[0]
