"""The simulated vkernel binary: option parsing, host checks and the fork-wrapper parent.

Invoked by the ``kernel.debug`` script that the simulated ``make buildkernel`` links::

    python -m buildbot_vkckpt.simhost.vkernel "$0" "$@"

so ``argv[1]`` is the vkernel's own argv0. It follows reference/dragonfly.md §2 (options and
their errors), §3 (``vm.vkernel_enable``, full path) and §7 (the parent that loops on fork,
ignores INT/QUIT/HUP, forwards TERM and restarts the child when it exits 32). The child — the
guest kernel itself — lives in ``guestkernel``.
"""
import dataclasses
import getopt
import os
import signal
import sys

EX_USAGE = 64
EX_SOFTWARE = 70
EX_VKERNEL_REBOOT = 32
SIGCKPTEXIT = 34
OPTSTRING = "c:hsvztTl:m:n:r:R:e:i:p:I:Ud"
MAXCPU = 256
MAX_DISKS = 16
MAX_NETIF = 16
SEG_SIZE = 1 << 21
DEFAULT_VERSION = ("DragonFly v5.9.0.1.gf875a8-DEVELOPMENT #0: "
                   "Fri Jul 24 00:00:00 UTC 2020")

SHORT_USAGE = (
    "Usage: %s [-hsUvdt] [-c file] [-e name=value:name=value:...]\n"
    "\t[-i file] [-I interface[:address1[:address2][/netmask][=mac]]] [-l cpulock]\n"
    "\t[-m size] [-n numcpus[:lbits[:cbits]]]\n"
    "\t[-p pidfile] [-r file[:serno]] [-R file[:serno]]\n")
LONG_HELP = (
    "\nArguments:\n"
    "\t-c\tSpecify a readonly CD-ROM image file to be used by the kernel.\n"
    "\t-e\tSpecify an environment to be used by the kernel.\n"
    "\t-h\tThis list of options.\n"
    "\t-i\tSpecify a memory image file to be used by the virtual kernel.\n"
    "\t-I\tCreate a virtual network device.\n"
    "\t-l\tSpecify which, if any, real CPUs to lock virtual CPUs to.\n"
    "\t-m\tSpecify the amount of memory to be used by the kernel in bytes.\n"
    "\t-n\tSpecify the number of CPUs and the topology you wish to emulate:\n"
    "\t\t\tnumcpus - number of cpus\n"
    "\t\t\tlbits - specify the number of bits within APICID(=CPUID) needed for "
    "representing\n\t\t\tthe logical ID. Controls the number of threads/core "
    "(0bits - 1 thread, 1bit - 2 threads).\n"
    "\t\t\tcbits - specify the number of bits within APICID(=CPUID) needed for "
    "representing\n\t\t\tthe core ID. Controls the number of core/package "
    "(0bits - 1 core, 1bit - 2 cores).\n"
    "\t-p\tSpecify a file in which to store the process ID.\n"
    "\t-r\tSpecify a R/W disk image file, iterates vkd0..n\n"
    "\t-R\tSpecify a COW disk image file, iterates vkd0..n\n"
    "\t-s\tBoot into single-user mode.\n"
    "\t-t\tUse a precise host timer when calculating clock values.\n"
    "\t-U\tEnable writing to kernel memory and module loading.\n"
    "\t-v\tTurn on verbose booting.\n")


class UsageError(Exception):
    """``usage_err()``: ``<argv0>: <message>``, exit 64."""


@dataclasses.dataclass
class Options:
    argv0: str
    disks: list = dataclasses.field(default_factory=list)     # [(path, cow)]
    cdroms: list = dataclasses.field(default_factory=list)
    boot_device: str = None                                    # "disk" or "cd"
    kenv: dict = dataclasses.field(default_factory=dict)
    memimg: str = None
    netifs: list = dataclasses.field(default_factory=list)
    cpulock: str = "any"
    memsize: int = None
    ncpus: int = 2
    pidfile: str = None
    single_user: bool = False
    verbose: bool = False
    zero: bool = False
    precise_timer: bool = False
    writable_kernel: bool = False
    dflag: bool = False

    @property
    def prog(self):
        return os.path.basename(self.argv0)


def parse_memsize(text):
    """``-m``: number with k/m/g suffix, ≥ 64 MB and a multiple of 2 MB."""
    digits = text.rstrip("kKmMgG")
    suffix = text[len(digits):]
    if not digits.isdigit() or len(suffix) > 1:
        raise UsageError("Bad maxmem option")
    size = int(digits) << {"": 0, "k": 10, "m": 20, "g": 30}[suffix.lower()]
    if size < 64 << 20 or size % SEG_SIZE:
        raise UsageError("Bad maxmem specification: 64MB minimum, multiples of 2MB only")
    return size


def split_kenv(text):
    """``-e``: ``:`` separates entries unless inside ``"`` or ``'`` quotes."""
    entries, cur, quote = [], "", None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
            else:
                cur += ch
        elif ch in "\"'":
            quote = ch
        elif ch == ":":
            entries.append(cur)
            cur = ""
        else:
            cur += ch
    entries.append(cur)
    env = {}
    for e in entries:
        if e:
            name, _, value = e.partition("=")
            env[name] = value
    return env


def parse_args(argv0, args):
    """Options as init.c's getopt loop reads them; raises UsageError or returns "usage"."""
    opts = Options(argv0=argv0)
    try:
        pairs, _ = getopt.getopt(args, OPTSTRING)
    except getopt.GetoptError as exc:
        if "requires argument" in exc.msg:
            sys.stderr.write(f"{opts.prog}: option requires an argument -- {exc.opt}\n")
        else:
            sys.stderr.write(f"{opts.prog}: illegal option -- {exc.opt}\n")
        return "usage"
    for opt, val in pairs:
        if opt in ("-r", "-R"):
            if len(opts.disks) >= MAX_DISKS:
                raise UsageError("Too many disk devices!")
            opts.disks.append((val.split(":", 1)[0], opt == "-R"))
            opts.boot_device = opts.boot_device or "disk"
        elif opt == "-c":
            opts.cdroms.append(val.split(":", 1)[0])
            opts.boot_device = opts.boot_device or "cd"
        elif opt == "-e":
            opts.kenv.update(split_kenv(val))
        elif opt == "-i":
            opts.memimg = val
        elif opt == "-I":
            if len(opts.netifs) >= MAX_NETIF:
                raise UsageError("Too many network devices!")
            if not val or val.startswith(":"):
                raise UsageError("Invalid argument to '-I'")
            opts.netifs.append(val)
        elif opt == "-l":
            if not (val == "any" or val.startswith("map") or val.isdigit()):
                raise UsageError("Bad cpulock specification")
            opts.cpulock = val
        elif opt == "-m":
            opts.memsize = parse_memsize(val)
        elif opt == "-n":
            first = val.split(":", 1)[0]
            if not first.isdigit() or not 1 <= int(first) <= MAXCPU:
                raise UsageError(f"Bad ncpus, valid range is 1-{MAXCPU}")
            opts.ncpus = int(first)
        elif opt == "-p":
            opts.pidfile = val
        elif opt == "-s":
            opts.single_user = True
        elif opt == "-v":
            opts.verbose = True
        elif opt == "-z":
            opts.zero = True
        elif opt == "-t":
            opts.precise_timer = True
        elif opt == "-U":
            opts.writable_kernel = True
        elif opt == "-d":
            opts.dflag = True
        elif opt == "-h":
            return "help"
        else:  # -T is still in the getopt string but has no case any more
            return "usage"
    return opts


def run_parent(opts, host):
    """The fork wrapper: restart the child while it exits 32, then return 0 (§7)."""
    from . import guestkernel

    child = None

    def forward_term(signum, frame):
        if child:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass

    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, forward_term)
    while True:
        sys.stdout.flush()
        sys.stderr.flush()
        child = os.fork()
        if child == 0:
            for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_DFL)  # SIGHUP stays ignored, as inherited
            code = 1
            try:
                code = guestkernel.Kernel(opts, host).run()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        try:
            _, status = os.waitpid(child, 0)
        except ChildProcessError:
            return 1
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == EX_VKERNEL_REBOOT:
            continue
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == SIGCKPTEXIT:
            stock_checkpoint(opts, host, child)
        return 0


def stock_checkpoint(opts, host, pid):
    """What a stock host's SA_KILL|SA_CKPT default action leaves when the child has no handler
    (§15, §18): a process checkpoint without the VPAGETABLE kernel memory. The simulated child
    cannot write it while dying, so the parent writes it for the host kernel."""
    import resource

    from . import ckptfile
    from .hosttools import effective_sysctls
    if resource.getrlimit(resource.RLIMIT_CORE)[0] == 0:
        return
    template = str(effective_sysctls(host).get("kern.ckptfile") or "%N.ckpt")
    name, _ = ckptfile.expand_name(template, opts.prog[:16], pid, os.getuid())
    path = os.path.join(os.getcwd(), name)
    try:
        os.unlink(path)
    except OSError:
        pass
    try:
        ckptfile.write_core(path, comm=opts.prog[:16], args=opts.argv0, pid=pid,
                            threads=opts.ncpus, state={"stock": True}, stock=True)
    except OSError:
        pass


def main(argv=None):
    from .host import SimHost
    from .hosttools import effective_sysctls

    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        sys.stderr.write("usage: python -m buildbot_vkckpt.simhost.vkernel ARGV0 [options]\n")
        return EX_USAGE
    argv0, args = argv[0], argv[1:]
    # init.c sets LD_SHAREDLIB_BASE and re-execs av[0]; without a path that exec fails.
    if "/" not in argv0:
        sys.stderr.write(f"Must run {argv0} with full path\n")
        return 1
    os.environ["LD_SHAREDLIB_BASE"] = "0x10000000"
    try:
        opts = parse_args(argv0, args)
    except UsageError as exc:
        sys.stderr.write(f"{argv0}: {exc}\n")
        return EX_USAGE
    if opts in ("usage", "help"):
        sys.stderr.write(SHORT_USAGE % argv0)
        if opts == "help":
            sys.stderr.write(LONG_HELP)
        return EX_USAGE
    host = SimHost.from_env()
    if int(effective_sysctls(host).get("vm.vkernel_enable", 0) or 0) == 0:
        sys.stderr.write(f"{opts.prog}: vm.vkernel_enable is 0, must be set to 1 "
                         "to execute a vkernel!\n")
        return 1
    return run_parent(opts, host)


if __name__ == "__main__":
    sys.exit(main())
