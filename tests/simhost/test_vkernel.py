"""The simulated vkernel: options, host checks, fork model, console, boot, guest shell, ddb."""
import fcntl
import os
import pty
import re
import select
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from buildbot_vkckpt.simhost import hosttools, kernelbin, tree
from buildbot_vkckpt.simhost.guestshell import session_pids
from buildbot_vkckpt.simhost.host import SimHost

REPO = Path(__file__).resolve().parents[2]
VERSION = "DragonFly v5.9.0.42.gabc1234-DEVELOPMENT #3: Fri Jul 24 10:00:00 UTC 2020"
AUTOLOGIN_TTYS = 'console "/usr/libexec/getty al.Pc" cons25 on secure\n'


def host_tool(host, *argv):
    """Run a simulated host tool in-process against ``host``; returns its exit status."""
    old = os.environ.get("VKCKPT_SIMHOST")
    os.environ["VKCKPT_SIMHOST"] = str(host.root)
    try:
        return hosttools.main(list(argv))
    finally:
        if old is None:
            del os.environ["VKCKPT_SIMHOST"]
        else:
            os.environ["VKCKPT_SIMHOST"] = old


def build_image(host, path, files, size="64m"):
    """A root image made the test/vkernel/Makefile way, holding ``files`` {relpath: text}."""
    steps = [("vnconfig", "-c", "-T", "-S", size, "vn0", str(path)), ("fdisk", "-IB", "vn0"),
             ("disklabel", "-r", "-w", "vn0s1", "auto")]
    for step in steps:
        assert host_tool(host, *step) == 0, step
    label = path.parent / "label.tmp"
    label.write_text("a: * 0 4.2BSD\n")
    mnt = path.parent / "mnt"
    mnt.mkdir(exist_ok=True)
    for step in [("disklabel", "-R", "vn0s1", str(label)), ("disklabel", "-B", "vn0s1"),
                 ("newfs", "/dev/vn0s1a"), ("mount", "/dev/vn0s1a", str(mnt))]:
        assert host_tool(host, *step) == 0, step
    for rel, text in files.items():
        (mnt / rel).parent.mkdir(parents=True, exist_ok=True)
        (mnt / rel).write_text(text)
    assert host_tool(host, "umount", str(mnt)) == 0
    assert host_tool(host, "vnconfig", "-u", "vn0") == 0
    return path


class Vkernel:
    """The vkernel started by its full path with its console on a pty."""

    def __init__(self, sim, args, stdin_tty=True, extra_env=None):
        self.sim = sim
        self.master, slave = pty.openpty()
        env = dict(os.environ, VKCKPT_SIM_SPEED=sim.speed, **(extra_env or {}))
        env["PYTHONPATH"] = str(REPO)
        self.errfile = open(sim.dir / f"stderr.{time.monotonic_ns()}", "w+")
        stdin = slave if stdin_tty else subprocess.DEVNULL
        self.proc = subprocess.Popen([str(sim.kernel), *args], stdin=stdin, stdout=slave,
                                     stderr=self.errfile, cwd=sim.dir, env=env,
                                     start_new_session=True)
        os.close(slave)
        self.buf = b""
        self.pos = 0
        self.started = time.monotonic()

    def read_some(self, timeout):
        r, _, _ = select.select([self.master], [], [], timeout)
        if r:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                data = b""
            self.buf += data
            return bool(data)
        return False

    def expect(self, pattern, timeout=5.0):
        """Wait for ``pattern`` (str or compiled regex) after the last match; return the text."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.buf[self.pos:].decode(errors="replace")
            m = (pattern.search(text) if hasattr(pattern, "search")
                 else re.search(re.escape(pattern), text))
            if m:
                self.pos += len(text[:m.end()].encode())
                return text[:m.end()]
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timeout waiting for {pattern!r}; got:\n{text[-1500:]}")
            self.read_some(min(left, 0.1))

    def quiet_for(self, seconds):
        """Everything printed during ``seconds``."""
        start = len(self.buf)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.read_some(deadline - time.monotonic())
        return self.buf[start:].decode(errors="replace")

    def send(self, text):
        os.write(self.master, text.encode())

    def run(self, command, timeout=5.0):
        """Run a guest shell command with a sentinel; returns (output, status)."""
        line = f'{command}; echo "@@rc:$?@@"'
        self.send(line + "\r")
        self.expect(line + "\r\n", timeout)     # the tty's echo
        out = self.expect(re.compile(r"@@rc:(\d+)@@\r?\n"), timeout)
        status = int(re.search(r"@@rc:(\d+)@@\r?\n$", out).group(1))
        return out[:out.rfind("@@rc:")], status

    def child_pid(self):
        for _ in range(100):
            try:
                text = (self.sim.dir / "vk.pid").read_text().strip()
                if text:
                    return int(text)
            except OSError:
                pass
            time.sleep(0.02)
        raise AssertionError("no pidfile")

    def wait(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            self.read_some(0.05)
            if time.monotonic() > deadline:
                raise AssertionError(f"vkernel still running; output:\n{self.text()[-1500:]}")
        self.read_some(0.05)
        return self.proc.returncode

    def text(self):
        return self.buf.decode(errors="replace")

    def stderr(self):
        self.errfile.seek(0)
        return self.errfile.read()

    def close(self):
        """Kill whatever is left: every process in the vkernel's session, then the parent."""
        for pid in session_pids(self.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        os.close(self.master)
        self.errfile.close()


class Sim:
    def __init__(self, tmp_path, flavour="master-with-port", host_kernel=None):
        self.dir = tmp_path
        self.flavour = flavour
        self.host = SimHost(tmp_path / "host").create(flavour=flavour, host_kernel=host_kernel)
        with self.host.update_state() as st:   # kern.ckptgroup: our group (wheel when root)
            st["sysctl"]["kern.ckptgroup"] = os.getegid()
        self.speed = "3"
        self.kernel = tmp_path / "boot" / "kernel" / "kernel"
        self.kernel.parent.mkdir(parents=True)
        kernelbin.write_vkernel(self.kernel, self.host.root, "VKERNEL64", VERSION, flavour)
        self.started = []

    def image(self, name="root.img", ttys=AUTOLOGIN_TTYS, extra=None):
        files = {"etc/rc.conf": 'hostname="vkernel"\n',
                 "etc/master.passwd": tree.MASTER_PASSWD, "root/.cshrc": tree.DOT_CSHRC}
        if ttys is not None:
            files["etc/ttys"] = ttys
        files.update(extra or {})
        return build_image(self.host, self.dir / name, files)

    def results(self, size=1 << 20):
        path = self.dir / "results.img"
        with open(path, "wb") as f:
            f.truncate(size)
        return path

    def start(self, *args, memory=True, pidfile=True, **kw):
        argv = ["-m", "64m"] if memory else []
        if pidfile:
            argv += ["-p", str(self.dir / "vk.pid")]
        vk = Vkernel(self, argv + list(args), **kw)
        self.started.append(vk)
        return vk

    def faults(self, **faults):
        self.host.set_faults({k.replace("_", "-"): v for k, v in faults.items()})

    def run(self, *args, argv0=None, timeout=10):
        env = dict(os.environ, VKCKPT_SIMHOST=str(self.host.root), PYTHONPATH=str(REPO))
        return subprocess.run([sys.executable, "-m", "buildbot_vkckpt.simhost.vkernel",
                               argv0 or str(self.kernel), *args], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, env=env, timeout=timeout,
                              cwd=self.dir)


@pytest.fixture
def sims(tmp_path):
    """A simulated host per flavour (and host kernel); every vkernel started is closed."""
    made = []

    def make(flavour, host_kernel=None):
        made.append(Sim(tmp_path / f"{flavour}-{len(made)}", flavour, host_kernel))
        return made[-1]
    yield make
    for s in made:
        for vk in s.started:
            vk.close()


@pytest.fixture
def sim(tmp_path):
    s = Sim(tmp_path)
    yield s
    for vk in s.started:
        vk.close()


def to_sh(vk):
    """From root's csh prompt (``vkernel# ``) to sh (``# ``), as the agent does."""
    vk.expect("vkernel# ")
    vk.send("exec /bin/sh\r")
    vk.expect("exec /bin/sh\r\n")
    vk.expect("# ")
    return vk


def boot_shell(sim, *extra):
    """Boot to root's csh prompt, then ``exec /bin/sh``."""
    return to_sh(sim.start("-r", str(sim.image()), *extra))


# --- options and host checks ----------------------------------------------------------------
@pytest.mark.parametrize("args,message", [
    (["-T"], "Usage: {argv0} [-hsUvdt] [-c file] [-e name=value:name=value:...]"),
    (["-Q"], "kernel: illegal option -- Q"),
    (["-m"], "kernel: option requires an argument -- m"),
    (["-m", "10m"], "{argv0}: Bad maxmem specification: 64MB minimum, multiples of 2MB only"),
    (["-m", "65m"], "{argv0}: Bad maxmem specification: 64MB minimum, multiples of 2MB only"),
    (["-m", "64x"], "{argv0}: Bad maxmem option"),
    (["-n", "0"], "{argv0}: Bad ncpus, valid range is 1-256"),
    (["-n", "257"], "{argv0}: Bad ncpus, valid range is 1-256"),
    (["-h"], "\t-r\tSpecify a R/W disk image file, iterates vkd0..n"),
])
def test_usage_errors_in_the_child_parent_exits_0(sim, args, message):
    """init.c parses options after the fork: the child exits 64, the parent returns 0 (§23)."""
    res = sim.run(*args)
    assert res.returncode == 0
    assert message.format(argv0=sim.kernel) in res.stderr
    assert res.stdout == ""


def test_must_run_with_full_path(sim):
    res = sim.run("-m", "64m", argv0="kernel")
    assert res.returncode == 1
    assert res.stderr == "Must run kernel with full path\n"


def test_vkernel_enable_zero_refuses_to_start(sim):
    with sim.host.update_state() as st:
        st["sysctl"]["vm.vkernel_enable"] = 0
    res = sim.run("-m", "64m")
    assert res.returncode == 0   # the child's errx(1); the fork-wrapper parent returns 0
    assert res.stderr == ("kernel: vm.vkernel_enable is 0, must be set to 1 to execute a "
                          "vkernel!\n")


def test_memory_file_needs_size(sim):
    res = sim.run("-r", str(sim.image()))
    assert res.returncode == 0   # the child's errx(1); the fork-wrapper parent returns 0
    memimg = sim.host.var_vkernel / "memimg.000000"
    assert (f"kernel: Cannot create new memory file {memimg} unless system memory size is "
            "specified with -m") in res.stderr
    assert res.stdout == "VMM is not available\n"


# --- boot and login -------------------------------------------------------------------------
def test_boot_output_order_and_login_prompt(sim):
    sim.speed = "1"
    vk = sim.start("-r", str(sim.image(ttys=None)), "-r", str(sim.results(4 << 20)), "-n", "3")
    vk.expect("login: ")
    elapsed = time.monotonic() - vk.started
    lines = vk.text().replace("\r\n", "\n").split("\n")
    expected = [
        "VMM is not available", re.compile(r"KVM mapped at 0x[0-9a-f]+-0x[0-9a-f]+"),
        "Copyright (c) 2003-2020 The DragonFly Project.",
        "Copyright (c) 1992-2003 The FreeBSD Project.",
        "Copyright (c) 1979, 1980, 1983, 1986, 1988, 1989, 1991, 1992, 1993, 1994",
        "\tThe Regents of the University of California. All rights reserved.",
        VERSION, re.compile(r"    \S+@\S+:/usr/obj/usr/src/sys/VKERNEL64"),
        "real memory = 67108864 (65536K bytes)", re.compile(r"avail memory = \d+ \(\d+K bytes\)"),
        "DragonFly/MP: Multiprocessor", " cpu0 (BSP)", " cpu1 (AP)", " cpu2 (AP)",
        "vkd0: <Virtual disk> ", "vkd0: 64MB (131072 512 byte sectors)",
        "vkd1: <Virtual disk> ", "vkd1: 4MB (8192 512 byte sectors)",
        "Mounting root from ufs:vkd0s1a", "DragonFly/x86_64 (vkernel) (ttyv0)", "login: "]
    i = 0
    for line in lines:
        want = expected[i]
        if (want.fullmatch(line) if hasattr(want, "fullmatch") else line == want):
            i += 1
            if i == len(expected):
                break
    assert i == len(expected), f"missing {expected[i]!r} in order:\n" + "\n".join(lines)
    assert elapsed < 1.0
    memimg = sim.host.var_vkernel / "memimg.000000"
    assert f"Using memory file: {memimg}\n" in vk.stderr()
    assert memimg.stat().st_size == 64 << 20
    vk.send("root\r")
    vk.expect("root\r\n")         # the guest tty echoes what is typed
    vk.expect("# ")
    out, status = vk.run("uname -sr")
    assert (out.strip(), status) == ("DragonFly 5.9-DEVELOPMENT", 0)


def test_wrong_login_name_is_refused(sim):
    vk = sim.start("-r", str(sim.image(ttys=None)))
    vk.expect("login: ")
    vk.send("guest\r")
    vk.expect("Password:")
    vk.send("x\r")
    vk.expect("Login incorrect\r\nlogin: ")


def test_autologin_shell_commands_and_halt(sim):
    vk = boot_shell(sim)
    assert "login: " not in vk.text()
    out, status = vk.run("sysctl -n hw.ncpu kern.ostype")
    assert (out.split(), status) == (["2", "DragonFly"], 0)
    out, status = vk.run("false")
    assert status == 1
    vk.send("exec /bin/sh\r")
    vk.send("PS1='[vk''sim]# '\r")
    vk.expect("[vksim]# ")
    out, status = vk.run("cd / && pwd >/dev/null && sysctl kern.version")
    assert status == 0 and VERSION in out
    vk.send("halt\r")
    vk.expect("syncing disks... done\r\nThe operating system has halted.\r\n"
              "cpu halt, exiting vkernel\r\n")
    assert vk.wait() == 0
    assert not (sim.dir / "vk.pid").exists()


def test_shutdown_p_now_halts(sim):
    vk = boot_shell(sim)
    vk.send("shutdown -p now\r")
    vk.expect("Shutdown NOW!")
    vk.expect("cpu halt, exiting vkernel")
    assert vk.wait() == 0


def test_sigterm_shuts_down_cleanly(sim):
    vk = boot_shell(sim)
    os.kill(vk.proc.pid, signal.SIGTERM)   # the parent forwards it to the child
    vk.expect("Caught SIGTERM from host system. Shutting down...\r\n")
    vk.expect("syncing disks... done")
    vk.expect("cpu halt, exiting vkernel")
    assert vk.wait() == 0


def test_reboot_restarts_the_child(sim):
    vk = boot_shell(sim)
    first = vk.child_pid()
    vk.send("reboot\r")
    vk.expect("Rebooting...\r\ncpu reset, rebooting vkernel\r\n")
    vk.expect("Copyright (c) 2003-2020 The DragonFly Project.")
    to_sh(vk)
    assert vk.proc.poll() is None
    assert vk.child_pid() != first
    vk.send("halt\r")
    vk.expect("cpu halt, exiting vkernel")
    assert vk.wait() == 0


def test_pidfile_lock_refuses_a_second_vkernel(sim):
    pidfile = sim.dir / "vk.pid"
    with open(pidfile, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        vk = sim.start("-r", str(sim.image()))
        assert vk.wait() == 0    # child exit 70, parent 0
    assert "Failed to lock pidfile, vkernel already running" in vk.stderr()


def test_disk_image_in_use(sim):
    image = sim.image()
    with open(image, "rb") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        vk = sim.start("-r", str(image))
        assert vk.wait() == 0
    assert f"kernel: Disk image {image} is already in use" in vk.stderr()


def test_sigkill_of_the_child_ends_the_parent_with_0(sim):
    vk = boot_shell(sim)
    os.kill(vk.child_pid(), signal.SIGKILL)
    assert vk.wait() == 0


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_sigkilled_vkernel_takes_its_guest_processes_with_it(sim):
    """On DragonFly a guest process is a vmspace of the vkernel: nothing of the guest outlives
    a SIGKILLed vkernel, not even a background job of root's shell."""
    vk = boot_shell(sim)
    out, status = vk.run("sleep 300 & echo bg=$!")
    assert status == 0, out
    guest = int(re.search(r"bg=(\d+)", out).group(1))
    assert alive(guest)
    os.kill(vk.child_pid(), signal.SIGKILL)
    vk.wait()
    deadline = time.monotonic() + 5
    while alive(guest) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(guest), f"guest process {guest} outlived its vkernel"


def test_results_disk_receives_a_tar(sim):
    results = sim.results(2 << 20)
    vk = boot_shell(sim, "-r", str(results))
    out, status = vk.run("mkdir -p out && echo ok > out/result.txt && tar cf /dev/vkd1 out")
    assert status == 0, out
    assert results.stat().st_size == 2 << 20   # a device keeps its size
    with tarfile.open(results) as tar:
        assert tar.extractfile("out/result.txt").read() == b"ok\n"


def test_guest_files_come_from_the_image(sim):
    vk = sim.start("-r", str(sim.image(extra={"etc/motd": "Welcome to DragonFly!\n",
                                               "usr/local/share/hello": "hi\n"})))
    vk.expect("Welcome to DragonFly!")
    to_sh(vk)
    out, status = vk.run("cat ../usr/local/share/hello")
    assert (out.strip(), status) == ("hi", 0)


def test_vfs_root_mountfrom_from_kenv(sim):
    # ':' separates -e entries unless quoted, as in the man page's example
    vk = sim.start("-r", str(sim.image()), "-e", 'vfs.root.mountfrom="hammer:vkd0s1a"')
    vk.expect("Mounting root from hammer:vkd0s1a\r\nRoot mount failed: 22\r\n")
    vk.expect("mountroot> ")


# --- ddb ------------------------------------------------------------------------------------
def test_sigquit_enters_ddb_trace_ps_continue(sim):
    vk = boot_shell(sim)
    os.kill(vk.child_pid(), signal.SIGQUIT)
    vk.expect(re.compile(r"CAUGHT SIG 3 RIP 0x[0-9a-f]+ RSP 0x[0-9a-f]+ TD 0x[0-9a-f]+\r\n"
                         r'Debugger\("interrupt from console"\)\r\n'
                         r"Stopped at\tDebugger\+0x7c: movb \$0,0x[0-9a-f]+\(%rip\)\r\n"
                         r"db> $"))
    os.kill(vk.proc.pid, signal.SIGTERM)        # does nothing while ddb holds the CPUs
    assert "Caught SIGTERM" not in vk.quiet_for(0.3)
    vk.send("trace\r")
    trace = vk.expect("db> ")
    assert re.search(r"Debugger\(\) at Debugger\+0x7c 0xffffffff[0-9a-f]+", trace)
    vk.send("ps\r")
    assert "init" in vk.expect("db> ")
    vk.send("c\r")
    out, status = vk.run("echo alive")
    assert (out.strip(), status) == ("alive", 0)


def test_ddb_reset_reboots(sim):
    vk = boot_shell(sim)
    os.kill(vk.child_pid(), signal.SIGQUIT)
    vk.expect("db> ")
    vk.send("reset\r")
    vk.expect("cpu reset, rebooting vkernel\r\n")
    vk.expect("Copyright (c) 2003-2020")
