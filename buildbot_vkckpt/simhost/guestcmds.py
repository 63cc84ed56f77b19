"""Guest commands that only the (simulated) DragonFly kernel can answer: halt, reboot,
shutdown, sysctl, uname, uptime, dmesg, ifconfig, hostname (a mixin of
``guestshell.GuestEnvironment``; the guest side is ``guestbin``)."""
import re
import time

from . import ddb


def _ok(out):
    return {"out": out, "err": "", "rc": 0}


class GuestCommands:
    def handle(self, request):
        cmd = request.get("cmd")
        args = [str(a) for a in request.get("args", [])]
        k = self.kernel
        if cmd in ("halt", "poweroff", "reboot"):
            k.shutdown("reboot" if cmd == "reboot" else "halt")
            return None
        if cmd == "shutdown":
            return self.shutdown_cmd(args, request.get("pid", 0))
        if cmd == "sysctl":
            return self.sysctl(args)
        if cmd == "uname":
            return self.uname(args)
        if cmd == "uptime":
            up = int(time.time() - k.boottime)
            when = time.strftime("%I:%M%p", time.localtime()).lstrip("0")
            span = f"{up} sec{'s' if up != 1 else ''}" if up < 60 else f"{up // 60} mins"
            return _ok(f"{when}  up {span}, 1 user, load averages: 0.00, 0.00, 0.00\n")
        if cmd == "dmesg":
            return _ok("".join(line + "\n" for line in k.msgbuf))
        if cmd == "ifconfig":
            return self.ifconfig(args)
        if cmd == "hostname":   # bin/hostname: kern.hostname; -s cuts at the first dot
            name = getattr(k, "hostname", None) or self.hostname()
            return _ok((name.split(".")[0] if "-s" in args else name) + "\n")
        if cmd == "vkckpt-fault" and args:
            mode, word = args[0], (args[1] if len(args) > 1 else "?")
            if mode == "panic":
                k.panic("page fault", "trap",
                        preamble=ddb.fatal_trap(word, request.get("pid", 0)))
                return None
            return {"out": "", "err": f"{word}: Input/output error\n", "rc": 3}
        return {"out": "", "err": f"{cmd}: not available in this guest\n", "rc": 127}

    def shutdown_cmd(self, args, pid):
        usage = ("usage: shutdown [-] [-h | -p | -r | -k] [-o [-n]] time "
                 "[warning-message ...]\n")
        flags = set()
        while args and args[0].startswith("-") and len(args[0]) > 1:
            flags.update(args.pop(0)[1:])
        if not args or flags - set("hprkon"):
            return {"out": "", "err": usage, "rc": 1}
        if "k" in flags:
            return _ok("Shutdown NOW!\n")
        if not flags & set("hpr"):
            return {"out": "", "err": "shutdown: single-user mode is not simulated\n", "rc": 1}
        how = "reboot" if "r" in flags else "halt"
        self.kernel.after(0.05, lambda: self.kernel.shutdown(how))
        return _ok(f"Shutdown NOW!\nshutdown: [pid {pid}]\n")

    def sysctls(self):
        k = self.kernel
        release = re.match(r"DragonFly v(\d+\.\d+)", k.version)
        boot = time.strftime("%a %b %e %H:%M:%S %Y", time.localtime(k.boottime))
        values = {
            "kern.ostype": "DragonFly",
            "kern.osrelease": f"{release.group(1) if release else '5.9'}-DEVELOPMENT",
            "kern.version": f"{k.version}\n    {k.builder}\n",
            "kern.hostname": getattr(k, "hostname", "vkernel"),
            "kern.boottime": f"{{ sec = {int(k.boottime)}, usec = 0 }} {boot}",
            "hw.ncpu": k.opts.ncpus, "hw.physmem": k.memsize, "hw.machine": "x86_64",
            "hw.pagesize": 4096, "kern.securelevel": -1,
        }
        values.update(self.writable)
        return values

    def sysctl(self, args):
        flags = set()
        while args and args[0].startswith("-"):
            flags.update(args.pop(0)[1:])
        values = self.sysctls()
        out, err, rc = [], [], 0
        for item in args or sorted(values):
            name, eq, value = item.partition("=")
            if name not in values:
                err.append(f"sysctl: unknown oid '{name}'")
                rc = 1
                continue
            if not eq:
                out.append(str(values[name]) if "n" in flags else f"{name}: {values[name]}")
                continue
            if name not in self.writable:
                err.append(f"sysctl: oid '{name}' is read only")
                rc = 1
                continue
            old = values[name]
            try:
                new = int(value, 0) if isinstance(old, int) else value
            except ValueError:
                err.append(f"sysctl: invalid integer '{value}'")
                rc = 1
                continue
            if name == "debug.panic" and new:
                self.kernel.panic("debug.panic", "syscall")
                return None
            self.writable[name] = new
            if "n" not in flags:
                out.append(f"{name}: {old} -> {new}")
        return {"out": "".join(s + "\n" for s in out), "err": "".join(s + "\n" for s in err),
                "rc": rc}

    def ifconfig(self, args):
        """The guest's interfaces: ``lo0`` and the kernel's ``vkeN`` (``-I``)."""
        vkes = {n.name: n for n in self.kernel.netifs}
        lo0 = ["lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 16384",
               "\tinet 127.0.0.1 netmask 0xff000000"]
        if args == ["-l"]:
            return _ok(" ".join(["lo0", *vkes]) + "\n")
        if not args or args == ["-a"]:
            lines = lo0 + [ln for n in vkes.values() for ln in n.ifconfig()]
            return _ok("".join(ln + "\n" for ln in lines))
        name, verbs = args[0], args[1:]
        if name != "lo0" and name not in vkes:
            return {"out": "", "err": f"ifconfig: interface {name} does not exist\n", "rc": 1}
        vke = vkes.get(name)
        if not verbs:
            return _ok("".join(ln + "\n" for ln in (vke.ifconfig() if vke else lo0)))
        for verb in verbs:   # addresses and other settings are accepted and not modelled
            if vke and verb in ("up", "down"):
                vke.up = verb == "up"
        return _ok("")

    def uname(self, args):
        k = self.kernel
        flags = set("".join(a.lstrip("-") for a in args if a.startswith("-"))) or {"s"}
        if "a" in flags:
            flags = set("snrvm")
        version = f"{k.version}     {k.builder} "
        fields = [("s", "DragonFly"), ("n", getattr(k, "hostname", "vkernel")),
                  ("r", self.sysctls()["kern.osrelease"]), ("v", version),
                  ("m", "x86_64"), ("p", "x86_64"), ("i", "VKERNEL64")]
        return _ok(" ".join(v for f, v in fields if f in flags) + "\n")
