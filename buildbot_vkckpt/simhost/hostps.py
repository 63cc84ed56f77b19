"""``ps`` on the simulated host, printing as DragonFly's ``bin/ps`` (keyword.c, print.c) does.

Supported: ``-p PID[,PID...]`` (repeatable), ``-a``, ``-x`` (``-ax``), ``-o KEYWORD[=HEADER][,...]``
(repeatable) with the keywords ``pid``, ``ppid``, ``uid``, ``lstart``, ``comm``, ``command``
(alias ``args``), ``state`` (alias ``stat``). A column with an empty header (``pid=``) prints
no header; when every header is empty no header line is printed. ``lstart`` is
``strftime("%c")`` of the process start in the C locale (``Sun Dec  6 05:02:34 2026``), fixed
at fork. ``comm`` is p_comm. Exit status 1 when ``-p`` matched nothing.

Process information comes from ``$VKCKPT_SIMHOST/hostproc`` when it is a mount point (a
harness hid ``/proc`` from the code under test), else from ``/proc``.
"""
import os
import sys
import time

from .host import SimHost

# keyword -> (header, width, right-justified)
KEYWORDS = {"pid": ("PID", 5, True), "ppid": ("PPID", 5, True), "uid": ("UID", 5, True),
            "lstart": ("STARTED", 28, False), "comm": ("COMMAND", 16, False),
            "command": ("COMMAND", 16, False), "state": ("STAT", 4, False)}
ALIASES = {"args": "command", "stat": "state"}
SIM_PACKAGE = "buildbot_vkckpt.simhost"
DEFAULT = ["pid", "state", "command"]
USAGE = ("usage: ps [-aCcefhHjlmrSTuvwx] [-M core] [-N system] [-O fmt] [-o fmt] [-p pid]\n"
         "          [-t tty] [-U username]\n       ps [-L]")


class Proc:
    def __init__(self, proc, pid, btime, hz):
        base = f"{proc}/{pid}"
        with open(f"{base}/stat") as fh:
            stat = fh.read()
        rest = stat.rpartition(")")[2].split()
        self.pid = int(pid)
        self.letter, self.ppid, self.pgrp, self.sid, self.tty = (
            rest[0], int(rest[1]), int(rest[2]), int(rest[3]), int(rest[4]))
        self.tpgid = int(rest[5])
        self.start = btime + int(rest[19]) / hz
        with open(f"{base}/comm") as fh:
            self.comm = fh.read().rstrip("\n")
        with open(f"{base}/cmdline", "rb") as fh:
            args = [a.decode(errors="replace") for a in fh.read().rstrip(b"\0").split(b"\0")]
        self.args = " ".join(a for a in dragonfly_argv(args) if a) or f"({self.comm})"
        self.uid = 0
        with open(f"{base}/status") as fh:
            for line in fh:
                if line.startswith("Uid:"):
                    self.uid = int(line.split()[2])   # effective uid
                    break

    def value(self, key):
        if key == "pid":
            return str(self.pid)
        if key == "ppid":
            return str(self.ppid)
        if key == "uid":
            return str(self.uid)
        if key == "lstart":
            return time.strftime("%a %b %e %H:%M:%S %Y", time.localtime(self.start))
        if key == "comm":
            return self.comm[:16]
        if key == "command":
            return self.args
        if key == "state":
            letter = {"t": "T", "X": "Z", "P": "D", "W": "D"}.get(self.letter, self.letter)
            flags = ("s" if self.sid == self.pid else "") + (
                "+" if self.tty and self.pgrp == self.tpgid else "")
            return letter + flags
        return "-"


def dragonfly_argv(args):
    """A simulated program's argv as DragonFly would show it: ``python -m
    buildbot_vkckpt.simhost.vkernel /path/kernel -m 1g`` is ``/path/kernel -m 1g``, ``python -m
    buildbot_vkckpt.simhost.hosttools checkpt -r f`` is ``checkpt -r f``."""
    for i, arg in enumerate(args[:-1]):
        if arg == "-m" and args[i + 1].startswith(SIM_PACKAGE + "."):
            return args[i + 2:]
    return args


def parse_args(argv):
    pids, columns, flags = [], [], set()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-") or arg == "-":
            raise ValueError(f"ps: {arg}: unexpected argument")
        j = 1
        while j < len(arg):
            c = arg[j]
            if c in "po":
                value = arg[j + 1:] or (argv[i + 1] if i + 1 < len(argv) else None)
                if value is None:
                    raise ValueError(f"ps: option requires an argument -- {c}")
                if not arg[j + 1:]:
                    i += 1
                if c == "p":
                    for p in value.replace(" ", ",").split(","):
                        if p and not p.isdigit():
                            raise ValueError(f"ps: process id must be a number: {p}")
                        if p:
                            pids.append(int(p))
                else:
                    columns += parse_format(value)
                break
            if c in "axwhjluvcH":
                flags.add(c)
            else:
                raise ValueError(f"ps: illegal option -- {c}\n{USAGE}")
            j += 1
        i += 1
    return pids, columns, flags


def parse_format(text):
    out = []
    parts = text.split(",")
    while parts:
        part = parts.pop(0)
        name, eq, header = part.partition("=")
        if eq:   # a header takes the rest of the argument, commas included
            header = ",".join([header] + parts)
            parts = []
        key = ALIASES.get(name.strip(), name.strip())
        if key not in KEYWORDS:
            raise ValueError(f"ps: {name}: keyword not found")
        out.append((key, header if eq else KEYWORDS[key][0]))
    return out


def processes(proc):
    with open(f"{proc}/stat") as fh:
        btime = next(int(line.split()[1]) for line in fh if line.startswith("btime"))
    hz = os.sysconf("SC_CLK_TCK")
    out = []
    for name in os.listdir(proc):
        if name.isdigit():
            try:
                out.append(Proc(proc, name, btime, hz))
            except (OSError, ValueError, IndexError):
                continue
    return sorted(out, key=lambda p: p.pid)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    from .procname import set_comm
    set_comm("ps")
    if argv and argv[0] == "ps":
        argv = argv[1:]
    try:
        pids, columns, flags = parse_args(argv)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    columns = columns or [(k, KEYWORDS[k][0]) for k in DEFAULT]
    try:
        proc = SimHost.from_env().proc_dir()
    except RuntimeError:
        proc = "/proc"
    try:
        procs = processes(proc)
    except (OSError, StopIteration):
        # the simulator needs Linux's proc to know the processes (DragonFly's ps reads kvm)
        print(f"ps: no process information: {proc} is not a proc filesystem and "
              "$VKCKPT_SIMHOST/hostproc is not mounted", file=sys.stderr)
        return 1
    if pids:
        procs = [p for p in procs if p.pid in pids]
    else:
        me = os.geteuid()
        procs = [p for p in procs if ("a" in flags or p.uid == me) and ("x" in flags or p.tty)]
    rows = [[p.value(k) for k, _ in columns] for p in procs]
    widths = []
    for n, (key, header) in enumerate(columns):
        widths.append(max([len(header), KEYWORDS[key][1] if header else 0]
                          + [len(r[n]) for r in rows]))
    lines = []
    if any(h for _, h in columns):
        lines.append(_line([h for _, h in columns], columns, widths))
    lines += [_line(r, columns, widths) for r in rows]
    sys.stdout.write("".join(line + "\n" for line in lines))
    return 0 if (procs or not pids) else 1


def _line(cells, columns, widths):
    out = []
    for n, (cell, (key, _)) in enumerate(zip(cells, columns)):
        last = n == len(columns) - 1
        if KEYWORDS[key][2]:
            out.append(cell.rjust(widths[n]))
        else:
            out.append(cell if last else cell.ljust(widths[n]))
    return " ".join(out)


if __name__ == "__main__":
    sys.exit(main())
