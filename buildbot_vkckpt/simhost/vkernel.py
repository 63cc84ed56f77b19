"""The simulated vkernel binary: option parsing, host checks and the fork-wrapper parent.

Invoked by the ``kernel.debug`` script that the simulated ``make buildkernel`` links::

    python -m buildbot_vkckpt.simhost.vkernel "$0" "$@"

so ``argv[1]`` is the vkernel's own argv0. It follows reference/dragonfly.md §2 (options and
their errors), §3 (``vm.vkernel_enable``, full path) and §7 (the parent that loops on fork,
ignores INT/QUIT/HUP and restarts the child when it exits 32), per flavour (§23, flavours.py):
the flavour is what the binary's own bytes say (``flavours.of_binary(argv0)``). As in init.c,
only the full-path check runs before the fork; the vkernel_enable check and the option parsing
run in the child, so a usage error is the child's exit 64 and the parent still returns 0. The
GSoC parent does not forward SIGTERM (it dies of it and the child runs on); master's does
(0b1d306226). The child — the guest kernel itself — lives in ``guestkernel``.
"""
import os
import signal
import sys

from . import bsdgetopt as getopt
from . import flavours

EX_USAGE = 64
EX_SOFTWARE = 70
EX_VKERNEL_REBOOT = 32
SIGCKPTEXIT = 34
OPTSTRING = flavours.MASTER_OPTSTRING
MAXCPU = 256
MAX_DISKS = 16
MAX_NETIF = 16
SEG_SIZE = 1 << 21
DEFAULT_VERSION = flavours.FLAVOURS["master2020"].default_version()
SHORT_USAGE = flavours.MASTER_USAGE
LONG_HELP = flavours.MASTER_HELP


class UsageError(Exception):
    """``usage_err()``: ``<argv0>: <message>``, exit 64."""


class Options:
    """The parsed command line. A plain class, not a dataclass: dataclasses (with inspect and
    ast behind it) was half of every simulated vkernel's imports."""

    def __init__(self, argv0, flavour=flavours.DEFAULT, args=()):
        self.argv0 = argv0
        self.disks = []            # [(path, cow)]
        self.cdroms = []
        self.boot_device = None    # "disk" or "cd"
        self.kenv = {}
        self.memimg = None
        self.netifs = []
        self.cpulock = "any"
        self.memsize = None
        self.ncpus = 2
        self.pidfile = None
        self.single_user = False
        self.verbose = False
        self.zero = False
        self.precise_timer = False
        self.writable_kernel = False
        self.dflag = False
        self.flavour = flavour
        self.args = list(args)     # argv[1:] as given

    def __repr__(self):
        return f"Options({vars(self)!r})"

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


def parse_args(argv0, args, flavour=None):
    """Options as init.c's getopt loop reads them; raises UsageError or returns "usage"."""
    flavour = flavour or flavours.get(flavours.DEFAULT)
    opts = Options(argv0, flavour=flavour.name, args=args)
    try:
        pairs, _ = getopt.getopt(args, flavour.optstring)
    except getopt.GetoptError as exc:
        sys.stderr.write(f"{opts.prog}: {exc.msg}\n")
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
        elif opt in ("-b", "-B"):   # GSoC: vkernel_b_arg/vkernel_B_arg (CPU topology bits)
            pass
        else:  # -T is still in the getopt string but has no case any more
            return "usage"
    return opts


def run_parent(argv0, args, host, flavour):
    """The fork wrapper: restart the child while it exits 32, then return 0 (§7, §23)."""
    child = None

    def forward_term(signum, frame):
        if child:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass

    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    # GSoC: no TERM handler in the parent, so TERM kills it and the child runs on
    signal.signal(signal.SIGTERM, forward_term if flavour.forwards_term else signal.SIG_DFL)
    while True:
        sys.stdout.flush()
        sys.stderr.flush()
        child = os.fork()
        if child == 0:
            for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_DFL)  # SIGHUP stays ignored, as inherited
            code = 1
            try:
                code = run_child(argv0, args, host, flavour)
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
        return 0


def run_child(argv0, args, host, flavour):
    """The child's main(): host checks, options, then the kernel."""
    from . import guestkernel, procname
    from .hostckpt import sysctls

    procname.set_comm(os.path.basename(os.path.realpath(argv0)))
    prog = os.path.basename(argv0)
    if int(sysctls(host).get("vm.vkernel_enable", 0) or 0) == 0:
        sys.stderr.write(f"{prog}: vm.vkernel_enable is 0, must be set to 1 "
                         "to execute a vkernel!\n")
        return 1
    if not args and flavour.name == "gsoc2013":   # if (ac < 2) usage_help(false);
        sys.stderr.write(flavour.usage % argv0)
        return EX_USAGE
    try:
        opts = parse_args(argv0, args, flavour)
    except UsageError as exc:
        sys.stderr.write(f"{argv0}: {exc}\n")
        return EX_USAGE
    if opts in ("usage", "help"):
        sys.stderr.write(flavour.usage % argv0)
        if opts == "help":
            sys.stderr.write(flavour.help)
        return EX_USAGE
    return guestkernel.Kernel(opts, host).run()


def main(argv=None):
    from .host import SimHost

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
    from .procname import set_comm
    set_comm(os.path.basename(os.path.realpath(argv0)))   # p_comm of parent and child
    flavour = flavours.get(flavours.of_binary(argv0))
    host = SimHost.from_env()
    from .guestproc import give_back_proc
    give_back_proc(host.hostproc)
    return run_parent(argv0, args, host, flavour)


if __name__ == "__main__":
    sys.exit(main())
