"""``preflight``: check the host before anything is touched; each problem comes with its fix."""
import os
import re
import resource
import shutil

from . import hostcmd
from .hostcmd import sysctl
from .events import Outcome, result_event
from .sizes import parse_size

TOOLS = ("sysctl", "vnconfig", "fdisk", "disklabel", "newfs", "mount", "umount", "fsck", "make")


def add_arguments(p):
    p.add_argument("--image-size", default="2g")
    p.add_argument("--memory", default="256m")
    p.add_argument("--workdir", default=None, help="where image, memory and checkpoints go "
                                                    "(default: the session dir)")


class Report:
    def __init__(self, emitter):
        self.emitter = emitter
        self.problems = []
        self.warnings = []

    def ok(self, check, text):
        self.emitter.human(f"ok    {check}: {text}")
        self.emitter.event({"ev": "check", "name": check, "ok": True, "text": text})

    def problem(self, check, text, fix):
        self.problems.append({"check": check, "problem": text, "fix": fix})
        self.emitter.human(f"FAIL  {check}: {text} — fix: {fix}")
        self.emitter.event({"ev": "check", "name": check, "ok": False, "text": text, "fix": fix})

    def warning(self, check, text, fix):
        self.warnings.append({"check": check, "problem": text, "fix": fix})
        self.emitter.human(f"warn  {check}: {text} — fix: {fix}")
        self.emitter.event({"ev": "check", "name": check, "ok": True, "warning": True,
                            "text": text, "fix": fix})


def check_tools(rep):
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        rep.problem("tools", "missing on PATH: " + ", ".join(missing),
                    "install the DragonFly base tools and put /sbin:/usr/sbin on the worker's PATH")
    else:
        rep.ok("tools", "all present")
    return not missing


def check_vkernel_enable(rep):
    value = sysctl("vm.vkernel_enable")
    if value == "1":
        rep.ok("vm.vkernel_enable", "1")
    else:
        rep.problem("vm.vkernel_enable", f"is {value or 'unknown'}, vkernels cannot start",
                    "sysctl vm.vkernel_enable=1 (and add it to /etc/sysctl.conf)")


def check_vn(rep):
    try:
        out = hostcmd.run(["vnconfig", "-l"])
    except (hostcmd.CommandFailed, Outcome) as exc:
        text = exc.last_line() if isinstance(exc, hostcmd.CommandFailed) else exc.summary
        if re.search(r"permission|not permitted|privilege", text, re.I):
            rep.problem("privileges", f"vnconfig -l: {text}",
                        "run the agent as root (vnconfig and mount need it)")
        else:
            rep.problem("vn", f"vnconfig -l failed: {text}",
                        "kldload vn (the vn(4) disk driver) on the host")
        return
    if os.geteuid() == 0:
        rep.ok("privileges", "running as root")
    else:
        rep.ok("privileges", "vnconfig -l works without root")
    free = [ln.split(":")[0] for ln in out.splitlines() if "not in use" in ln]
    if free:
        rep.ok("vn", f"{len(free)} free unit(s), first {free[0]}")
    else:
        rep.problem("vn", "no free vn unit (vnconfig -l shows none `not in use`)",
                    "release stale units: vkckpt-agent cleanup --stale, or vnconfig -u vnN")


def check_disk(rep, workdir, image_size, memory):
    need = image_size + 2 * memory  # image, vkernel memory file, one checkpoint of it
    try:
        st = os.statvfs(workdir)
    except OSError as exc:
        rep.problem("disk", f"cannot stat {workdir}: {exc.strerror}", "create the work dir")
        return
    free = st.f_bavail * st.f_frsize
    if free < need:
        rep.problem("disk", f"{free >> 20} MiB free in {workdir}, need {need >> 20} MiB "
                            "(image + memory + checkpoint)",
                    "free disk space on the worker or point --workdir elsewhere")
    else:
        rep.ok("disk", f"{free >> 20} MiB free, need {need >> 20} MiB")


def check_checkpoint(rep):
    group = sysctl("kern.ckptgroup")
    if group is None:
        rep.warning("kern.ckptgroup", "sysctl missing: no checkpoint support in the host kernel",
                    "run a DragonFly kernel with checkpoint support (sys_checkpoint)")
    elif os.geteuid() != 0 and group.lstrip("-").isdigit() and int(group) >= 0 \
            and int(group) not in os.getgroups():
        rep.problem("kern.ckptgroup", f"this user is not in checkpoint group {group}",
                    f"add the worker user to group {group}, or sysctl kern.ckptgroup=<its gid>")
    else:
        rep.ok("kern.ckptgroup", group)
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    if hard == 0:
        rep.problem("RLIMIT_CORE", "core size hard limit is 0, checkpoint files cannot be written",
                    "raise the core limit (login.conf coredumpsize or ulimit -c unlimited)")
    else:
        rep.ok("RLIMIT_CORE", "unlimited" if hard == resource.RLIM_INFINITY else str(hard))


def check_vmm(rep):
    value = sysctl("hw.vmm.enable")
    if value == "1":
        rep.ok("hw.vmm.enable", "1: the vkernel runs with -d so it stays checkpointable")
    else:
        rep.ok("hw.vmm.enable", f"{value or '0'}: no VMM, the vkernel uses a memory file")


def run(args, emitter):
    emitter.phase("preflight")
    rep = Report(emitter)
    workdir = args.workdir or args.session or os.getcwd()
    os.makedirs(workdir, exist_ok=True)
    if check_tools(rep) or shutil.which("sysctl"):
        check_vkernel_enable(rep)
        check_checkpoint(rep)
        check_vmm(rep)
    if shutil.which("vnconfig"):
        check_vn(rep)
    try:
        check_disk(rep, workdir, parse_size(args.image_size), parse_size(args.memory))
    except ValueError as exc:
        rep.problem("disk", str(exc), "pass sizes such as 2g and 256m")
    details = {"problems": rep.problems, "warnings": rep.warnings}
    if rep.problems:
        first = rep.problems[0]
        more = f" (+{len(rep.problems) - 1} more)" if len(rep.problems) > 1 else ""
        raise Outcome("infrastructure", f"host not ready: {first['check']} {first['problem']}"
                      f"{more}", kind="infrastructure", fix=first["fix"], details=details)
    if rep.warnings:
        w = rep.warnings[0]
        return result_event("warnings", f"host ready with warnings: {w['check']} {w['problem']}",
                            fix=w["fix"], details=details)
    return result_event("ok", "host ready for a vkernel session", details=details)
