"""A stand-in vkernel for agent tests until the simulated one is used: one process, console on
stdin/stdout (the pty's own echo), behaviour picked with FAKE_VK_MODE (boot, panic, hang,
enable0, autologin: getty's al.Pc, no login: line). FAKE_VK_PROMPT is root's first prompt (csh's
``vkernel# `` on DragonFly, or anything); after ``exec /bin/sh`` the prompt is sh's ``# ``."""
import os
import re
import sys


def out(text):
    sys.stdout.write(text)
    sys.stdout.flush()


def main():
    mode = os.environ.get("FAKE_VK_MODE", "boot")
    args = sys.argv[1:]
    pidfile = args[args.index("-p") + 1]
    if mode == "enable0":
        out("vm.vkernel_enable is 0, must be set to 1 to execute a vkernel!\n")
        return 1
    with open(pidfile, "w") as fh:
        fh.write(f"{os.getpid()}\n")
    out("Copyright (c) 2003-2020 The DragonFly Project.\n")
    out("DragonFly v6.5.0.123-DEVELOPMENT #1: Fri Jul 24 2020\n")
    out("    root@host:/usr/obj/usr/src/sys/VKERNEL64\n")
    out("Mounting root from ufs:vkd0s1a\n")
    if mode == "panic":
        out("panic: vm_fault: fault on nofault entry, addr: 0xdeadbeef\ncpuid = 0\n"
            "Trace beginning at frame 0x1\nDebugger(\"panic\")\nCPU0 stopping CPUs: 0x00000001\n"
            " stopped\nStopped at\tDebugger+0x7c: movb $0,0x0\ndb> ")
    elif mode == "hang":
        for line in sys.stdin:  # say nothing more
            pass
        return 0
    elif mode == "autologin":
        out("\r\nDragonFly/x86_64 (vkernel) (ttyv0)\r\n\r\n"
            + os.environ.get("FAKE_VK_PROMPT", "vkernel# "))
    else:
        out("\r\nDragonFly/x86_64 (vkernel) (ttyv0)\r\n\r\nlogin: ")
    first = os.environ.get("FAKE_VK_PROMPT", "# ")
    prompt = first
    for line in sys.stdin:
        cmd = line.strip()
        if mode == "panic":
            if cmd == "trace":
                out("Debugger() at Debugger+0x7c\nvm_fault() at vm_fault+0x10\ndb> ")
            continue
        if cmd == "root":
            out(prompt)
            continue
        if cmd == "exec /bin/sh":
            prompt = "# "
            out(prompt)
            continue
        m = re.match(r"PS1='(.*)'$", cmd)
        if m:
            prompt = m.group(1).replace("''", "")
            out(prompt)
            continue
        if cmd == "halt":
            out("syncing disks... done\nThe operating system has halted.\n"
                "cpu halt, exiting vkernel\n")
            os.unlink(pidfile)
            return 0
        status = 0
        for part in cmd.split("; "):
            m = re.match(r"echo (VKS-\S+:)\$\?:", part)
            if m:
                out(f"{m.group(1)}{status}:\n")
            elif part == "false":
                status = 1
            elif part.startswith("echo "):
                out(part[5:].replace("''", "") + "\n")
                status = 0
            elif part == "panic":
                out("panic: from a guest command\ncpuid = 0\ndb> ")
                mode = "panic"
                break
        if mode != "panic":
            out(prompt)
    return 0


if __name__ == "__main__":
    sys.exit(main())
