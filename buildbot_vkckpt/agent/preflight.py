"""``preflight``: check the host before anything is touched; each problem comes with its fix."""
import os
import re
import resource
import shutil

from . import flavour, hostchecks, hostcmd
from .ckptfiles import NORMAL_ESTIMATE
from .diagnosis import CKPTGROUP_FIX
from .hostcmd import sysctl
from .events import Outcome, result_event
from .sizes import parse_size

TOOLS = ("sysctl", "vnconfig", "fdisk", "disklabel", "newfs", "mount", "umount", "fsck", "make")


def add_arguments(p):
    p.add_argument("--image-size", default="2g")
    p.add_argument("--memory", default="256m")
    p.add_argument("--workdir", default=None, help="where image, memory and checkpoints go "
                                                    "(default: the session dir)")
    p.add_argument("--kernel", default=None,
                   help="the vkernel binary, when built: its options decide how VMM is "
                        "turned off (-d, or the host's hw.vmm.enable=0)")
    p.add_argument("--net", default=None,
                   help="the -I argument the builds use: checks its tap, bridge or socket")
    p.add_argument("--host-checkpoint", action="store_true",
                   help="also checkpoint a throwaway helper to learn whether the host kernel "
                        "can dump a vkernel (GSoC changes); leaves nothing behind")


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
    # image, the memory image, and one checkpoint: guest RAM stays in the memory image, the
    # file holds only the vkernel's own segments (reference §23)
    need = image_size + memory + NORMAL_ESTIMATE
    try:
        st = os.statvfs(workdir)
    except OSError as exc:
        rep.problem("disk", f"cannot stat {workdir}: {exc.strerror}", "create the work dir")
        return
    free = st.f_bavail * st.f_frsize
    if free < need:
        rep.problem("disk", f"{free >> 20} MiB free in {workdir}, need {need >> 20} MiB "
                            "(image + memory image + checkpoint file)",
                    "free disk space on the worker or point --workdir elsewhere")
    else:
        rep.ok("disk", f"{free >> 20} MiB free, need {need >> 20} MiB")


def check_checkpoint(rep):
    group = sysctl("kern.ckptgroup")
    if group is None:
        rep.warning("kern.ckptgroup", "sysctl missing: no checkpoint support in the host kernel",
                    "run a DragonFly kernel with checkpoint support (sys_checkpoint)")
    elif group.lstrip("-").isdigit() and int(group) >= 0 \
            and int(group) not in os.getgroups() and int(group) != os.getegid():
        # groupmember() with no privilege bypass: root is refused too (EPERM, reference §23)
        rep.problem("kern.ckptgroup", f"this user (uid {os.geteuid()}) is not in checkpoint "
                    f"group {group}; root is not exempt", CKPTGROUP_FIX)
    else:
        rep.ok("kern.ckptgroup", group)
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    if hard == 0:
        rep.problem("RLIMIT_CORE", "core size hard limit is 0, checkpoint files cannot be written",
                    "raise the core limit (login.conf coredumpsize or ulimit -c unlimited)")
    else:
        rep.ok("RLIMIT_CORE", "unlimited" if hard == resource.RLIM_INFINITY else str(hard))


VMM_FIX = ("sysctl hw.vmm.enable=0 (and hw.vmm.enable=0 in /etc/sysctl.conf): this vkernel "
           "has no -d, so only the host can keep it out of VMM mode, which cannot be "
           "checkpointed")


def check_vmm(rep, kernel=None):
    """VMM off is ``-d`` where the binary has it (master), else the host's hw.vmm.enable=0
    (GSoC 2013, reference §23)."""
    value = sysctl("hw.vmm.enable")
    flav = None
    if kernel:
        try:
            flav = flavour.detect(kernel)
        except OSError as exc:
            rep.problem("vkernel", f"cannot read {kernel}: {exc.strerror or exc}",
                        "fix --kernel or build the kernel first")
            return
        rep.ok("vkernel", f"{flav.describe()}, options from its {flav.source}"
               + (", checkpoint handler present" if flav.handler else ", no checkpoint handler"))
    if value in (None, "0"):
        rep.ok("hw.vmm.enable", f"{value or 'missing'}: no VMM, the vkernel uses a memory file")
    elif flav is not None and flav.accepts("d"):
        rep.ok("hw.vmm.enable", f"{value}: the vkernel runs with -d so it stays checkpointable")
    elif flav is not None:
        rep.problem("hw.vmm.enable", f"is {value} and this vkernel ({flav.describe()}) has no "
                    "-d: it would run with VMM and could not be checkpointed", VMM_FIX)
    else:
        rep.warning("hw.vmm.enable", f"is {value}: a vkernel without -d (GSoC 2013) would run "
                    "with VMM and could not be checkpointed (pass --kernel to decide)", VMM_FIX)


def host_kernel_release():
    """The host kernel's release (``kern.osrelease``, e.g. ``5.9-DEVELOPMENT``), or None."""
    return sysctl("kern.osrelease") if shutil.which("sysctl") else None


def run(args, emitter):
    emitter.phase("preflight")
    rep = Report(emitter)
    workdir = args.workdir or args.session or os.getcwd()
    os.makedirs(workdir, exist_ok=True)
    if check_tools(rep) or shutil.which("sysctl"):
        check_vkernel_enable(rep)
        check_checkpoint(rep)
        check_vmm(rep, args.kernel)
    if shutil.which("vnconfig"):
        check_vn(rep)
    if args.net:
        hostchecks.check_net(rep, args.net)
    if args.host_checkpoint:
        hostchecks.check_host_checkpoint(rep, workdir)
    try:
        check_disk(rep, workdir, parse_size(args.image_size), parse_size(args.memory))
    except ValueError as exc:
        rep.problem("disk", str(exc), "pass sizes such as 2g and 256m")
    details = {"problems": rep.problems, "warnings": rep.warnings}
    host_kernel = host_kernel_release()
    if host_kernel:
        details["host_kernel"] = host_kernel      # what was tested on: the trends page shows it
        rep.emitter.human(f"info  host kernel: {host_kernel}")
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
