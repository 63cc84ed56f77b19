"""The real DragonFly flavours the simulated host can be (reference/dragonfly.md §23).

One simulated host is exactly one flavour, chosen per host (state key ``flavour``), and its host
kernel has or lacks the GSoC checkpoint changes (state key ``host_kernel``: ``gsoc``/``stock``):

* ``gsoc2013`` — ``pdziepak/DragonFlyBSD`` branch ``vkernel_chkpt`` (tip 3515ca2f33, 2013):
  getopt ``c:hsvl:m:n:r:e:i:p:I:Ub:B:`` (no ``-d``), VMM from ``hw.vmm.enable`` alone, a
  fork-wrapper parent that does not forward SIGTERM, the checkpoint handler.
* ``master2020`` — DragonFly master f875a8eec7 (2020-07-24): ``-d``, TERM forwarded, no handler.
* ``master-with-port`` — master's options and parent plus the GSoC handler.

The built vkernel binary (``bmake.write_kernel``) carries its flavour's strings as a real ELF's
``.rodata`` does (:func:`rodata`), and the simulated vkernel finds its flavour by reading those
bytes back from its own file (:func:`of_binary`), never from a marker of its own.
"""
import collections

NAMES = ("gsoc2013", "master2020", "master-with-port")
DEFAULT = "master-with-port"
HOST_KERNELS = ("gsoc", "stock")

GSOC_OPTSTRING = "c:hsvl:m:n:r:e:i:p:I:Ub:B:"
MASTER_OPTSTRING = "c:hsvztTl:m:n:r:R:e:i:p:I:Ud"

# init.c usage_help(), GSoC branch (fprintf format, %s = argv0)
GSOC_USAGE = (
    "Usage: %s [-hsUv] [-c file] [-e name=value:name=value:...]\n"
    "\t[-i file] [-I interface[:address1[:address2][/netmask]]] [-l cpulock]\n"
    "\t[-m size] [-n numcpus[:lbits[:cbits]]]\n"
    "\t[-p file] [-r file]\n")
GSOC_HELP = (
    "\nArguments:\n"
    "\t-c\tSpecify a readonly CD-ROM image file to be used by the kernel.\n"
    "\t-e\tSpecify an environment to be used by the kernel.\n"
    "\t-h\tThis list of options.\n"
    "\t-i\tSpecify a memory image file to be used by the virtual kernel.\n"
    "\t-I\tCreate a virtual network device.\n"
    "\t-l\tSpecify which, if any, real CPUs to lock virtual CPUs to.\n"
    "\t-m\tSpecify the amount of memory to be used by the kernel in bytes.\n"
    "\t-n\tSpecify the number of CPUs and the topology you wish to emulate:\n"
    "\t  \t- numcpus - number of cpus\n"
    "\t  \t- :lbits - specify the number of bits within APICID(=CPUID) needed for "
    "representing\n"
    "\t  \t  the logical ID. Controls the number of threads/core (0bits - 1 thread, "
    "1bit - 2 threads).\n"
    "\t  \t- :cbits - specify the number of bits within APICID(=CPUID) needed for "
    "representing\n"
    "\t  \t  the core ID. Controls the number of core/package (0bits - 1 core, "
    "1bit - 2 cores).\n"
    "\t-p\tSpecify a file in which to store the process ID.\n"
    "\t-r\tSpecify a R/W disk image file to be used by the kernel.\n"
    "\t-s\tBoot into single-user mode.\n"
    "\t-U\tEnable writing to kernel memory and module loading.\n"
    "\t-v\tTurn on verbose booting.\n")
# master 2020 (§2)
MASTER_USAGE = (
    "Usage: %s [-hsUvdt] [-c file] [-e name=value:name=value:...]\n"
    "\t[-i file] [-I interface[:address1[:address2][/netmask][=mac]]] [-l cpulock]\n"
    "\t[-m size] [-n numcpus[:lbits[:cbits]]]\n"
    "\t[-p pidfile] [-r file[:serno]] [-R file[:serno]]\n")
MASTER_HELP = (
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

# init.c ckpt_sighandler() (GSoC branch)
CKPT_CONTINUE_MSG = "Checkpointing and continuing is not supported. Use SIGCKPTEXIT instead."
CKPT_FAILED_MSG = "Couldn't save checkpoint file"
UCB = ["Copyright (c) 1979, 1980, 1983, 1986, 1988, 1989, 1991, 1992, 1993, 1994",
       "\tThe Regents of the University of California. All rights reserved."]


# a named tuple, not a dataclass: every simulated tool imports this, and dataclasses (with
# inspect and ast behind it) would be a fifth of a tool's start-up
class Flavour(collections.namedtuple("Flavour", [
        "name", "optstring", "usage", "help",
        "handler",          # init_checkpoint()/ckpt_sighandler() present
        "forwards_term",    # fork-wrapper parent forwards SIGTERM (0b1d306226, 2014-12)
        "vmm_from_dflag",   # -d turns VMM off; else hw.vmm.enable alone decides
        "version_base",     # newvers.sh RELEASE of the era
        "version_date",
        "copyright",        # sys/sys/copyright.h, in the order copyright[] prints them
        "vmm_lines"])):     # prints "VMM is (not) available" (master); GSoC prints nothing
    __slots__ = ()

    @property
    def has_dflag(self):
        return "d" in self.optstring.replace(":", "")

    def default_version(self, build=0):
        return (f"DragonFly v{self.version_base}-DEVELOPMENT #{build}: {self.version_date}")


FLAVOURS = {
    "gsoc2013": Flavour(
        "gsoc2013", GSOC_OPTSTRING, GSOC_USAGE, GSOC_HELP, handler=True, forwards_term=False,
        vmm_from_dflag=False, version_base="3.5.0.1234.g3515c",
        version_date="Mon Sep 23 00:00:00 UTC 2013",
        copyright=("Copyright (c) 2003-2013 The DragonFly Project.",
                   "Copyright (c) 1992-2003 The FreeBSD Project.", *UCB),
        vmm_lines=False),
    "master2020": Flavour(
        "master2020", MASTER_OPTSTRING, MASTER_USAGE, MASTER_HELP, handler=False,
        forwards_term=True, vmm_from_dflag=True, version_base="5.9.0.1.gf875a",
        version_date="Fri Jul 24 00:00:00 UTC 2020",
        copyright=("Copyright (c) 2003-2020 The DragonFly Project.",
                   "Copyright (c) 1992-2003 The FreeBSD Project.", *UCB),
        vmm_lines=True),
}
# master with the GSoC work ported: master's binary and era, plus the handler
FLAVOURS["master-with-port"] = FLAVOURS["master2020"]._replace(name="master-with-port",
                                                               handler=True)


def get(name):
    if name not in FLAVOURS:
        raise ValueError(f"unknown flavour {name!r} (one of {', '.join(NAMES)})")
    return FLAVOURS[name]


def default_host_kernel(flavour):
    """contract: ``stock`` for master2020, ``gsoc`` for the other two."""
    return "stock" if flavour == "master2020" else "gsoc"


def rodata(name):
    """The strings the flavour's linked binary holds, NUL-terminated, as in ``.rodata``."""
    f = get(name)
    strings = [f.optstring, f.usage, f.help, "Must run %s with full path\n",
               "vm.vkernel_enable is 0, must be set to 1 to execute a vkernel!",
               "Failed to lock pidfile, vkernel already running",
               "Caught SIGTERM from host system. Shutting down...\n",
               "cpu halt, exiting vkernel\n", "cpu reset, rebooting vkernel\n",
               "\n".join(f.copyright) + "\n"]
    if f.vmm_lines:
        strings += ["VMM is available", "VMM is not available"]
    if f.handler:
        strings += [CKPT_CONTINUE_MSG + "\n", CKPT_FAILED_MSG, "Restoring vmspaces...\n",
                    "Restored from checkpoint...\n", "Couldn't reopen device file: %s",
                    "Couldn't reinitialize network interface",
                    "Couldn't set signal handlers"]
    return b"".join(s.encode() + b"\0" for s in strings)


def of_binary(path):
    """The flavour whose strings the binary at ``path`` holds (what a reader of its
    ``.rodata`` concludes); ``DEFAULT`` when it holds none of them (a hand-made script)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(1 << 20)
    except OSError:
        return DEFAULT
    if (GSOC_OPTSTRING.encode() + b"\0") in data:
        return "gsoc2013"
    if (MASTER_OPTSTRING.encode() + b"\0") in data:
        return "master-with-port" if CKPT_CONTINUE_MSG.encode() in data else "master2020"
    return DEFAULT
