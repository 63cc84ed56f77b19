"""The guest side of the simulated vkernel: root directory, shell, DragonFly-only commands.

The root image's filesystem is unpacked into ``<image>.root/`` (again only when the image
changed since the last boot, so guest files survive a reboot). Runtime files live in
``<image>.sim/``: ``bin/`` (first on the guest's PATH) holds ``halt``, ``shutdown``,
``reboot``, ``sysctl``, ``uname``, ``uptime``, ``dmesg``, ``ifconfig`` — thin wrappers around ``guestbin``
that ask the kernel over an abstract unix socket — plus ``tar``/``dd`` wrappers that map
``/dev/vkdN`` to the N-th ``-r`` disk file, and ``checkpt``.

Process checkpoints inside the guest: guest programs are Linux processes, so the suite's fork
emulation stands in for the guest kernel (``CKPT_EMULATE=dragonfly``, or ``vkernel_chkpt`` on the
GSoC flavours, in the shell's environment: ``kill -34`` makes a suite program checkpoint itself
with that kernel's restore rules), and the
guest's ``checkpt -r FILE`` is the suite's ``lib/emulated_checkpt.sh``.
"""
import json
import os
import re
import selectors
import shlex
import shutil
import signal
import socket
import termios

from . import guestreaper, launch, sigckpt, simfs
from .guestreaper import session_pids
from .guestcmds import GuestCommands
from .host import proc_dir

GUEST_COMMANDS = ("halt", "poweroff", "reboot", "shutdown", "sysctl", "uname", "uptime",
                  "dmesg", "ifconfig", "hostname", "vkckpt-fault")
DEFAULT_ROOT_SHELL = "/bin/csh"   # etc/master.passwd: root::0:0::0:0:Charlie &:/root:/bin/csh
FAULTS = {"guest-command-fails": "fail", "panic-in-guest-command": "panic"}
# guest-test-fails[=NAME,...]: these suite tests corrupt their state before verifying
GUEST_TEST_FAULT = "guest-test-fails"
GUEST_TEST_FAULT_DEFAULT = "memory"
# guest-test-flaky[=NAME,...[:K]]: the same, on the first K (default 1) runs of each test only
# (a test knob for the suite's --retries; the runs are counted in the host's state dir)
GUEST_TEST_FLAKY = "guest-test-flaky"
SUITE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "suite")
KEYWORDS = {"if", "then", "else", "elif", "while", "until", "do", "!", "time", "exec",
            "command", "nohup", "env"}


class GuestEnvironment(GuestCommands):
    def __init__(self, kernel):
        self.kernel = kernel
        self.root = None
        self.sim = None
        self.conns = []
        self.writable = {"kern.ckptfile": "%N.ckpt", "kern.ckptgroup": 0,
                         "kern.sugid_coredump": 0, "debug.panic": 0}
        self.sock_name = f"vkckpt-vkernel-{os.getpid()}-{os.urandom(4).hex()}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind("\0" + self.sock_name)
        self.sock.listen(8)
        self.sock.setblocking(False)
        kernel.sel.register(self.sock, selectors.EVENT_READ, self.on_accept)

    # --- root filesystem ---------------------------------------------------------------------
    def mount_root(self, image, part):
        image = os.path.abspath(image)
        self.root = image + ".root"
        self.sim = image + ".sim"
        os.makedirs(os.path.join(self.sim, "bin"), exist_ok=True)
        st = os.stat(image)
        meta = simfs.read_meta(image)
        stamp = f"{st.st_mtime_ns} {st.st_size} {json.dumps(meta.get('fs'), sort_keys=True)}"
        stamp_file = os.path.join(self.sim, "stamp")
        old = _read(stamp_file)
        if old != stamp or not os.path.isdir(self.root):
            if os.path.isdir(self.root):
                shutil.rmtree(self.root)
            simfs.unpack(image, part, self.root)
            with open(stamp_file, "w") as f:
                f.write(stamp)
        os.makedirs(os.path.join(self.root, "root"), exist_ok=True)
        self.write_bin()

    def write_bin(self):
        bindir = os.path.join(self.sim, "bin")
        for name in GUEST_COMMANDS:
            _script(os.path.join(bindir, name), f"VKCKPT_GUEST_SOCK=@{self.sock_name} "
                    + launch.exec_line("guestbin", f'{name} "$@"'))
        cases = ""
        for i, (path, _) in enumerate(self.kernel.opts.disks):
            q = shlex.quote(os.path.abspath(path))
            keep = f'keep="$keep {q}:$(stat -c %s {q})"'
            cases += (f"    /dev/vkd{i}) a={q}; {keep} ;;\n"
                      f"    *=/dev/vkd{i}) a=\"${{a%%=*}}\"={q}; {keep} ;;\n")
        for tool in ("tar", "dd"):
            real = shutil.which(tool, path="/usr/bin:/bin") or f"/bin/{tool}"
            _script(os.path.join(bindir, tool),
                    "# the guest's /dev/vkdN are the vkernel's disk files; writing one must\n"
                    "# not shrink it (a device keeps its size), so sizes are put back after\n"
                    "keep=\nfor a do\n  shift\n  case $a in\n" + cases + "  esac\n"
                    "  set -- \"$@\" \"$a\"\ndone\n"
                    f"{real} \"$@\"\nrc=$?\n"
                    "for k in $keep; do\n"
                    "  f=${k%:*} s=${k##*:}\n"
                    "  [ \"$(stat -c %s \"$f\")\" -lt \"$s\" ] && truncate -s \"$s\" \"$f\"\n"
                    "done\nexit $rc\n")
        _script(os.path.join(bindir, "checkpt"),
                "# process restore in the guest: the suite's fork emulation (see the module doc)\n"
                f"exec /bin/sh {shlex.quote(os.path.join(SUITE_DIR, 'lib', 'emulated_checkpt.sh'))}"
                " \"$@\"\n")

    def etc(self, name):
        return _read(os.path.join(self.root, "etc", name)) if self.root else None

    def hostname(self):
        m = re.search(r'^\s*hostname\s*=\s*"?([^"\s#]+)', self.etc("rc.conf") or "", re.M)
        return m.group(1).split(".")[0] if m else "vkernel"

    def motd(self):
        return self.etc("motd")

    def console_getty(self):
        """"autologin", "login", or None when no getty runs on the console (§6)."""
        ttys = self.etc("ttys")
        if ttys is None:
            return "login"
        entries = {}
        for line in ttys.splitlines():
            try:
                words = shlex.split(line, comments=True)
            except ValueError:
                continue
            if len(words) >= 4:
                entries[words[0]] = words
        for name in ("console", "ttyv0"):
            words = entries.get(name)
            if words and words[3] == "on" and "getty" in words[1]:
                kind = words[1].split()[-1]
                return "autologin" if kind.startswith("al.") else "login"
        return None

    # --- the shell ---------------------------------------------------------------------------
    def root_shell(self):
        """Root's shell from the image's /etc/master.passwd (field 10)."""
        for line in (self.etc("master.passwd") or "").splitlines():
            fields = line.split(":")
            if fields[0] == "root" and len(fields) >= 10 and fields[9]:
                return fields[9]
        return DEFAULT_ROOT_SHELL

    def shell_argv(self, shell):
        """The program that plays the guest's shell: this machine's tcsh for csh/tcsh
        (DragonFly's /bin/csh is tcsh), /bin/sh for sh. Not started as a login shell: a login
        shell reads /etc/profile or /etc/csh.login, which here are this machine's (Debian's
        /etc/profile resets PATH to its own /sbin and /bin, whose ``halt`` is real)."""
        name = os.path.basename(shell)
        if name in ("csh", "tcsh"):
            tcsh = shutil.which("tcsh") or shutil.which("csh")
            if tcsh:
                return tcsh, [name]
        return "/bin/sh", ["sh", "-i"]

    def spawn_shell(self):
        home = os.path.join(self.root, "root")
        shell = self.root_shell()
        program, argv = self.shell_argv(shell)
        # TERM=dumb: tcsh's line editor stays off, as the simulated line discipline echoes
        env = {"HOME": home, "USER": "root", "LOGNAME": "root", "SHELL": shell,
               "TERM": "dumb", "LANG": "C", "PWD": home, "PS1": "# ",
               "PATH": os.path.join(self.sim, "bin")
               + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
        env.update(self.checkpoint_env())
        pid, master = os.forkpty()
        if pid == 0:
            try:
                os.chdir(home)
                # a guest process starts with default dispositions, not the vkernel's ignored
                # SIGHUP: when the vkernel dies, the hangup of ttyv0 ends its guest as well
                signal.signal(signal.SIGHUP, signal.SIG_DFL)
                sigckpt.unblock((sigckpt.SIGCKPT,))   # the kernel's own signalfd block
                os.execve(program, argv, env)
            finally:
                os._exit(127)
        attrs = termios.tcgetattr(master)
        attrs[1] &= ~termios.OPOST   # the host console's ONLCR translates, once
        attrs[3] &= ~termios.ECHO    # the kernel echoes (it is the line discipline)
        termios.tcsetattr(master, termios.TCSANOW, attrs)
        return ShellPty(pid, master)

    def checkpoint_env(self):
        """What stands in for the guest kernel's process checkpointing (fork emulation), and
        the ``guest-test-fails`` fault, read when the shell starts."""
        # the guest kernel's own kern_checkpoint.c: the GSoC flavours' restores threads and
        # kqueues (the branch's sys_checkpoint.2), stock master's does not
        env = {"CKPT_EMULATE": "vkernel_chkpt" if self.kernel.flavour.handler else "dragonfly"}
        tests = self.kernel.host.fault(GUEST_TEST_FAULT)
        flaky = self.kernel.host.fault(GUEST_TEST_FLAKY)
        if tests is None and flaky is not None:
            tests, _, runs = str(flaky).partition(":")
            counts = self.kernel.host.state_dir / "guest-test-runs"
            counts.mkdir(parents=True, exist_ok=True)
            env["CKPT_FAULT_RUNS"] = runs if runs.isdigit() else "1"
            env["CKPT_FAULT_COUNTS"] = str(counts)
        if tests is not None:
            env["CKPT_FAULT"] = "corrupt"
            env["CKPT_FAULT_ONLY"] = str(tests or GUEST_TEST_FAULT_DEFAULT)
        return env

    def rewrite(self, line):
        """Route commands hit by an injected fault through ``vkckpt-fault``."""
        faults = self.kernel.host.faults()
        targets = {str(faults[f]): mode for f, mode in FAULTS.items() if faults.get(f)}
        if not targets:
            return line
        helper = shlex.quote(os.path.join(self.sim, "bin", "vkckpt-fault"))
        for start, end, word in reversed(command_words(line)):
            if word in targets:
                line = f"{line[:start]}{helper} {targets[word]} {shlex.quote(word)}{line[end:]}"
        return line

    def processes(self):
        """(pid, ppid, pgrp, comm, wmesg) of init and every process of the console session."""
        procs = [(1, 0, 1, "init", "wait")]
        shell = self.kernel.shell
        for pid in session_pids(shell.pid) if shell else []:
            stat = _read(f"{proc_dir()}/{pid}/stat") or ""
            m = re.match(r"\d+ \((.*)\) (\S) (\d+) (\d+)", stat)
            if m:
                procs.append((pid, int(m.group(3)), int(m.group(4)), m.group(1),
                              "ttyin" if m.group(2) == "S" else "run"))
        return procs

    # --- requests from guest commands --------------------------------------------------------
    def on_accept(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        conn.settimeout(2)
        try:
            data = b""
            while not data.endswith(b"\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            request = json.loads(data.decode())
        except (OSError, ValueError):
            conn.close()
            return
        self.conns.append(conn)   # kept open: halt and panic never answer
        reply = self.handle(request)
        if reply is not None:
            try:
                conn.sendall(json.dumps(reply).encode() + b"\n")
            except OSError:
                pass
            conn.close()
            self.conns.remove(conn)

    def close(self):
        for conn in self.conns:
            conn.close()
        self.conns = []
        try:
            self.kernel.sel.unregister(self.sock)
        except (KeyError, ValueError):
            pass
        self.sock.close()


class ShellPty:
    """The login shell on its pty (``ttyv0`` as the guest sees it)."""

    def __init__(self, pid, master):
        self.pid = pid
        self.master = master
        self.frozen = False
        # the guest dies with the vkernel, even a SIGKILLed one (guestreaper)
        self.reaper = guestreaper.watch(pid) if pid else None

    def hand_over(self):
        """The guest goes to a checkpoint keeper: it must outlive this vkernel."""
        guestreaper.stand_down(self.reaper)
        self.reaper = None

    def send(self, data):
        try:
            os.write(self.master, data)
        except OSError:
            pass

    def read(self):
        try:
            return os.read(self.master, 65536)
        except OSError:
            return b""

    def signal_all(self, sig):
        for pid in session_pids(self.pid):
            try:
                os.kill(pid, sig)
            except OSError:
                pass

    def freeze(self, sel):
        """ddb stopped the CPUs: guest processes stop and their output waits."""
        if self.frozen:
            return
        self.frozen = True
        self.signal_all(signal.SIGSTOP)
        try:
            sel.unregister(self.master)
        except (KeyError, ValueError):
            pass

    def thaw(self, sel, callback):
        if not self.frozen:
            return
        self.frozen = False
        self.signal_all(signal.SIGCONT)
        sel.register(self.master, selectors.EVENT_READ, callback)

    def resize_from(self, fd):
        try:
            import fcntl
            size = fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, size)
        except OSError:
            pass

    def kill(self):
        self.signal_all(signal.SIGKILL)
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass
        self.close()

    def close(self):
        if self.master is not None:
            try:
                os.close(self.master)
            except OSError:
                pass
            self.master = None
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


def command_words(line):
    """(start, end, word) of each word in command position of a sh command line."""
    spans, i, n, expect, skip_next = [], 0, len(line), True, False
    while i < n:
        c = line[i]
        if c in " \t":
            i += 1
            continue
        if c == "#" and expect:
            break
        if c in ";&|(){}\n":
            expect, skip_next = True, False
            i += 1
            continue
        if c in "<>":
            skip_next = True
            i += 1
            continue
        start, word = i, ""
        while i < n and line[i] not in " \t;&|(){}<>\n":
            ch = line[i]
            if ch in "\"'":
                j = line.find(ch, i + 1)
                j = n if j < 0 else j
                word += line[i + 1:j]
                i = j + 1
            elif ch == "\\" and i + 1 < n:
                word += line[i + 1]
                i += 2
            else:
                word += ch
                i += 1
        if skip_next:
            skip_next = False
            continue
        if not expect:
            continue
        if re.match(r"[A-Za-z_][A-Za-z0-9_]*=", word) or word in KEYWORDS:
            continue
        spans.append((start, i, word))
        expect = False
    return spans


def _read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _script(path, body):
    with open(path + ".tmp", "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path + ".tmp", 0o755)
    os.replace(path + ".tmp", path)
