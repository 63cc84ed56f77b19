"""Text of the simulated guest kernel's panics and of its ddb(4) debugger.

Pure functions: they return console lines; ``guestkernel`` decides when to print them. The
shapes follow reference/dragonfly.md §7–§8 (panic block, ``CAUGHT SIG 3``, ``Stopped at``,
``db> ``). Addresses are derived from the symbol names so a given trace is always the same.
"""
import zlib

PROMPT = "db> "
STOPPED_AT = "Stopped at\tDebugger+0x7c: movb $0,0x9f3e81(%rip)"

# Call chains (innermost first, without the Debugger/panic frames) for each kind of stop.
CHAINS = {
    "boot": [("vm_fault", 0x1a2), ("trap_pfault", 0x1b8), ("trap", 0x6c5),
             ("calltrap", 0x8), ("vm_page_alloc", 0x31c), ("mi_startup", 0x9c)],
    "mountroot": [("vconsgetc", 0x8e), ("cngetc", 0x33), ("cngets", 0x81),
                  ("vfs_mountroot_ask", 0x1d0), ("vfs_mountroot", 0x133), ("mi_startup", 0x9c)],
    "trap": [("trap_fatal", 0x2a1), ("trap_pfault", 0x1b8), ("trap", 0x6c5),
             ("calltrap", 0x8), ("sys_write", 0x61), ("syscall2", 0x2d8)],
    "syscall": [("kern_sysctl", 0x147), ("sys___sysctl", 0x8a), ("syscall2", 0x2d8),
                ("user_trap", 0x3f1), ("go_user", 0x2b), ("vmspace_ctl", 0x0)],
    "console": [("exc_debugger", 0x34), ("__sigsetjmp", 0x1d), ("cpu_idle", 0x14b),
                ("lwkt_switch", 0x4e3), ("lwkt_idleloop", 0x8a), ("pthread_start", 0x0)],
}


def address(symbol, offset):
    """A stable, plausible kernel text address for ``symbol+offset``."""
    return 0xffffffff80000000 + (zlib.crc32(symbol.encode()) & 0x3fffff) * 0x10 + offset


def frame(symbol, offset):
    return f"{symbol}() at {symbol}+{offset:#x} {address(symbol, offset):#x}"


def frame_pointer(kind):
    return 0x7fffffbfe000 + (zlib.crc32(kind.encode()) & 0xff0)


def short_trace(kind):
    """The 6-frame backtrace a panic prints (``debug.trace_on_panic=1``)."""
    chain = [("panic", 0x236)] + CHAINS[kind]
    return [f"Trace beginning at frame {frame_pointer(kind):#x}"] + [
        frame(s, o) for s, o in chain[:6]]


def full_trace(kind, panicked):
    """What ddb's ``trace``/``where`` prints: every frame from Debugger down."""
    chain = [("Debugger", 0x7c)]
    if panicked:
        chain.append(("panic", 0x236))
    chain += CHAINS[kind]
    return [frame(s, o) for s, o in chain]


def stopping_cpus(ncpus, cpuid=0):
    """``CPU0 stopping CPUs: 0x…`` — the mask of every other CPU, 16 hex digits."""
    mask = ((1 << ncpus) - 1) & ~(1 << cpuid)
    return [f"CPU{cpuid} stopping CPUs: 0x{mask:016x}", " stopped"]


def panic_block(message, kind, ncpus, cpuid=0):
    """The whole panic sequence up to (not including) the ``db> `` prompt."""
    return ([f"panic: {message}", f"cpuid = {cpuid}"] + short_trace(kind)
            + ['Debugger("panic")'] + stopping_cpus(ncpus, cpuid) + [STOPPED_AT])


def fatal_trap(process, pid, cpuid=0):
    """A page fault in kernel mode while running ``process`` (then: panic "page fault")."""
    rip = address("sys_write", 0x61)
    return [
        "",
        "",
        "Fatal trap 12: page fault while in kernel mode",
        f"cpuid = {cpuid}; lapic id = {cpuid}",
        "fault virtual address\t= 0x28",
        "fault code\t\t= supervisor read data, page not present",
        f"instruction pointer\t= 0x8:{rip:#x}",
        "stack pointer\t        = 0x10:0x7fffffbfe8d0",
        "frame pointer\t        = 0x10:0x7fffffbfe930",
        "code segment\t\t= base 0x0, limit 0xfffff, type 0x1b",
        "\t\t\t= DPL 0, pres 1, long 1, def32 0, gran 1",
        "processor eflags\t= interrupt enabled, resume, IOPL = 0",
        f"current process\t\t= {pid} ({process})",
        "current thread          = pri 10 ",
        "trap number\t\t= 12",
    ]


def console_break(ncpus):
    """What SIGQUIT on the console prints before the prompt (§7 "Signals")."""
    rip = address("__sigsetjmp", 0x1d)
    td = 0xffffffff80c3e000 + 0x340 * (ncpus - 1)
    return [f"CAUGHT SIG 3 RIP {rip:#x} RSP 0x7fffffbfe7c8 TD {td:#x}",
            'Debugger("interrupt from console")', STOPPED_AT]


def ps(processes):
    """ddb ``ps``: ``processes`` is a list of (pid, ppid, pgrp, comm, wmesg)."""
    lines = ["  pid      lwp  uid  ppid  pgrp  pflags  lflags stat  wmesg    wchan cmd"]
    for pid, ppid, pgrp, comm, wmesg in processes:
        lines.append(f"{pid:5d} {pid + 100000:8d}    0 {ppid:5d} {pgrp:5d} 00004000 0000080"
                     f" 3  {wmesg:<8s} {address(wmesg or 'idle', 0) & 0xffffffffff:#012x} {comm}")
    return lines


def command(line):
    """Parse a ddb command line into (verb, args); verbs are normalised (``c`` → continue)."""
    words = line.strip().split()
    if not words:
        return "", []
    verb = words[0].lower()
    return {"c": "continue", "cont": "continue", "where": "trace", "bt": "trace",
            "t": "trace"}.get(verb, verb), words[1:]
