"""The simulated vkernel child: devices, signals, guest shell, shutdown (this module), console
(guestconsole.py), boot and login (guestboot.py), panic and ddb (guestddb.py), checkpoints
(kernelckpt.py).

One process, one event loop (``selectors``): console input on fd 0, console output on fd 1
(reference/dragonfly.md §4), the guest shell's pty, a unix socket through which the guest's
DragonFly-only commands (``guestbin``) reach the kernel, and signals through a wakeup pipe.

The guest is root's real shell (tcsh for csh, guestshell.py) on a pty in the guest root
directory (the root image unpacked next to the image file, see ``simfs``). The kernel is the
guest tty's line discipline: it echoes what is typed, collects a line and hands it to the
shell, so injected faults can replace a command word without the echo showing it. Kernel
messages (panics, shutdown) go straight to fd 1 and interleave with whatever the guest printed.
"""
import fcntl
import heapq
import itertools
import os
import selectors
import signal
import termios
import time

from . import ddb, flavours, guestshell, kernelckpt, netif, sigckpt
from .guestboot import BootMixin
from .guestconsole import ConsoleMixin
from .guestddb import DdbMixin
from .hostckpt import sysctls as effective_sysctls

EX_VKERNEL_REBOOT = 32
SIGCKPT, SIGCKPTEXIT = 33, 34   # 33 arrives through a signalfd (sigckpt.py)
CKPT_CONTINUE_MSG = flavours.CKPT_CONTINUE_MSG


class KernelExit(Exception):
    """Leave the event loop with an exit status (``errx`` before boot, halt, reset)."""

    def __init__(self, code, message=None):
        super().__init__(message)
        self.code = code
        self.message = message


class Kernel(ConsoleMixin, BootMixin, DdbMixin):
    def __init__(self, opts, host, stdin=0, stdout=1):
        self.opts = opts
        self.host = host
        self.fd_in, self.fd_out = stdin, stdout
        self.speed = _speed()
        self.sel = selectors.PollSelector()  # epoll refuses /dev/null and files as stdin
        self.timers = []
        self.seq = itertools.count()
        self.epoch = 0
        self.frozen = []           # timers saved while ddb holds the CPUs
        self.state = "boot"
        self.resume_state = None
        self.panicked = None       # ddb trace kind after a panic, None after a console break
        self.ddb_kind = "console"
        self.line = bytearray()
        self.reading_console = False
        self.console_eof = False
        self.saved_tc = None
        self.msgbuf = []
        self.held = []             # fds whose flocks are the pidfile/disk/memimg locks
        self.pidfile_held = False
        self.pending_signals = []
        self.shell = None
        self.netifs = []           # vke0, vke1, ... (netif.Netif)
        self.countdown_aborted = False
        self.boottime = time.time()
        self.sysctls = {}
        self.flavour = flavours.get(getattr(opts, "flavour", None) or flavours.DEFAULT)
        self.binary = os.path.realpath(opts.argv0)     # the file actually executed
        self.comm = os.path.basename(self.binary)[:16]
        self.argv = list(getattr(opts, "args", None) or [])
        self.sig_fd = None
        self.memimg_fd = None
        self.memimg_path = None
        self.cleanpid = False      # cpu_halt()/cpu_reset() remove the pidfile; exit(0) not
        self.version = (os.environ.get("VKCKPT_KERNEL_VERSION")
                        or self.flavour.default_version())
        self.builder = "{}@{}:/usr/obj/usr/src/sys/VKERNEL64".format(
            os.environ.get("USER") or "root", os.uname().nodename.split(".")[0])

    # --- output -----------------------------------------------------------------------------
    def write(self, text):
        data = text.encode() if isinstance(text, str) else text
        while data:
            try:
                n = os.write(self.fd_out, data)
            except OSError:
                return  # nobody reads the console any more; the kernel carries on
            data = data[n:]

    def kprintf(self, line):
        """A kernel console line, also kept in the message buffer for dmesg."""
        self.msgbuf.append(line)
        self.write(line + "\n")

    # --- timers ------------------------------------------------------------------------------
    def after(self, delay, fn):
        # same sense as the build's speed (bmake.speed_from): 2 = twice as fast, 0 = no pauses
        scaled = delay / self.speed if self.speed else 0.0
        heapq.heappush(self.timers, (time.monotonic() + scaled, next(self.seq),
                                     self.epoch, fn))

    def play(self, steps, then=None):
        """Print kernel lines with pauses: ``steps`` is [(pause, line-or-callable)]."""
        t = 0.0
        for pause, item in steps:
            t += pause
            self.after(t, (lambda i=item: i() if callable(i) else self.kprintf(i)))
        if then:
            self.after(t, then)

    def cancel_timers(self):
        self.epoch += 1

    def freeze_timers(self):
        now = time.monotonic()
        self.frozen = [(max(0.0, w - now), fn) for w, _, e, fn in self.timers if e == self.epoch]
        self.cancel_timers()

    def thaw_timers(self):
        for remaining, fn in self.frozen:
            heapq.heappush(self.timers, (time.monotonic() + remaining, next(self.seq),
                                         self.epoch, fn))
        self.frozen = []

    # --- main loop ---------------------------------------------------------------------------
    def run(self, resume=None):
        """Boot, or with ``resume=(state, pty_master)`` continue a checkpointed guest."""
        try:
            if resume:
                self.resume(*resume)
            else:
                self.attach_devices()
                self.console_init()
                self.install_signals()
                self.start_boot()
            while True:
                self.step()
        except KernelExit as done:
            if done.message:
                self.write_err(f"{self.opts.prog}: {done.message}\n")
            return done.code
        finally:
            self.teardown()
            written = getattr(self, "ckpt_written", None)
            if written:  # the simulated handler's exit (keeper, devices) is the kernel's time
                kernelckpt.record_io(self.host, "exit", *written)

    def write_err(self, text):
        try:
            os.write(2, text.encode())
        except OSError:
            pass

    def step(self):
        timeout = None
        while self.timers and self.timers[0][2] != self.epoch:
            heapq.heappop(self.timers)
        if self.timers:
            timeout = max(0.0, self.timers[0][0] - time.monotonic())
        for key, _ in self.sel.select(timeout):
            key.data()
        self.handle_signals()
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _, _, epoch, fn = heapq.heappop(self.timers)
            if epoch == self.epoch:
                fn()

    # --- devices (before the console exists) -------------------------------------------------
    def attach_devices(self):
        self.write_pidfile()
        self.init_memory()
        self.disk_fds = []
        for path, cow in self.opts.disks:
            self.open_disk(path, cow)
        self.netifs = netif.attach_all(self)
        self.guest = guestshell.GuestEnvironment(self)

    def write_pidfile(self):
        if not self.opts.pidfile:
            return
        try:
            fd = os.open(self.opts.pidfile, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise KernelExit(70, f"{self.opts.pidfile}: {exc.strerror}")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            self.write_err("Failed to lock pidfile, vkernel already running\n")
            raise KernelExit(70)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.held.append(fd)
        self.pidfile_held = True

    def init_memory(self):
        sysctl = effective_sysctls(self.host)
        vmm = bool(int(sysctl.get("hw.vmm.enable", 0) or 0))
        if self.flavour.vmm_from_dflag:
            vmm = vmm and not self.opts.dflag   # master: vmm_enabled = hw.vmm.enable && !dflag
        if vmm:
            if self.flavour.vmm_lines:
                self.write("VMM is available\n")
            else:
                self.write("VKERNEL VMM BOOTSTRAP OK2!\n")   # GSoC init.c, VMM path
            self.memimg_path = None
            self.memsize = self.opts.memsize or 128 << 20
            return
        if self.flavour.vmm_lines:
            self.write("VMM is not available\n")
        path = self.opts.memimg
        if path:
            fd = self.open_memimg(path, required=True)
        else:
            fd = None
            for i in itertools.count():
                path = str(self.host.var_vkernel / f"memimg.{i:06d}")
                fd = self.open_memimg(path, required=(i > 64))
                if fd is not None:
                    break
        size = os.fstat(fd).st_size
        if self.opts.memsize is None and size == 0:
            raise KernelExit(1, f"Cannot create new memory file {path} unless system memory "
                                "size is specified with -m")
        self.memsize = self.opts.memsize or size
        os.ftruncate(fd, 0)              # init_sys_memory(): full of holes, old contents gone
        os.ftruncate(fd, self.memsize)
        self.held.append(fd)
        self.memimg_fd = fd
        self.memimg_path = os.path.abspath(path)
        self.write_err(f"Using memory file: {path}\n")
        base = 0x800000000
        self.write(f"KVM mapped at {base:#x}-{base + self.memsize:#x}\n")

    def open_memimg(self, path, required):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise KernelExit(1, f"Unable to open/create {path}: {exc.strerror}")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if required:
                raise KernelExit(1, f"Unable to open/create {path}: {exc.strerror}")
            return None
        return fd

    def open_disk(self, path, cow):
        flags = os.O_RDONLY if cow else os.O_RDWR
        try:
            fd = os.open(path, flags)
        except OSError as exc:
            raise KernelExit(1, f"Unable to open/create {path}: {exc.strerror}")
        self.held.append(fd)
        if not cow:
            locked = self.host.fault("disk-image-locked") is not None and not self.disk_fds
            try:
                if locked:
                    raise BlockingIOError
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise KernelExit(1, f"Disk image {path} is already in use")
        self.disk_fds.append(fd)

    # --- signals -----------------------------------------------------------------------------
    def install_signals(self):
        r, w = os.pipe()
        os.set_blocking(w, False)
        os.set_blocking(r, False)
        self.wakeup = (r, w)
        signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        self.sel.register(r, selectors.EVENT_READ, self.drain_wakeup)
        for sig in (signal.SIGTERM, signal.SIGQUIT, signal.SIGINT, signal.SIGTSTP,
                    signal.SIGWINCH):
            signal.signal(sig, self.on_signal)
        # SIGCKPTEXIT: the GSoC handler (§19) where the flavour has it, else the host
        # kernel's default action (SA_KILL|SA_CKPT), simulated in this process
        signal.signal(SIGCKPTEXIT, self.on_signal)
        self.sig_fd = sigckpt.open_signalfd((SIGCKPT,))
        if self.sig_fd is not None:
            self.sel.register(self.sig_fd, selectors.EVENT_READ, self.on_sigckpt)

    @property
    def has_handler(self):
        return self.flavour.handler and self.host.fault("stock-vkernel") is None

    def on_sigckpt(self):
        self.pending_signals += sigckpt.read_signals(self.sig_fd)

    def on_signal(self, signum, frame):
        self.pending_signals.append(signum)

    def drain_wakeup(self):
        try:
            os.read(self.wakeup[0], 512)
        except OSError:
            pass

    def handle_signals(self):
        while self.pending_signals:
            sig = self.pending_signals.pop(0)
            if sig == signal.SIGTERM:
                self.on_sigterm()
            elif sig == signal.SIGQUIT:
                if self.state not in ("ddb", "down", "countdown", "halted-wait"):
                    self.enter_ddb(ddb.console_break(self.opts.ncpus), panicked=None)
            elif sig in (signal.SIGINT, signal.SIGTSTP):
                # vconssignal: restore the tty, then die by the signal's default action
                self.teardown()
                signal.signal(sig, signal.SIG_DFL)
                os.kill(os.getpid(), sig)
            elif sig == signal.SIGWINCH and self.shell:
                self.shell.resize_from(self.fd_in)
            elif sig in (SIGCKPT, SIGCKPTEXIT) and not self.has_handler:
                kernelckpt.default_action(self, sig)
            elif sig == SIGCKPT and self.state not in ("down", "wedged"):
                self.kprintf(CKPT_CONTINUE_MSG)
            elif sig == SIGCKPTEXIT and self.state not in ("down", "wedged"):
                kernelckpt.handler_exit(self)

    def on_sigterm(self):
        if self.state in ("ddb", "down", "hung", "countdown", "halted-wait", "wedged"):
            return  # delivered as a virtual interrupt: nothing services it in these states
        self.kprintf("Caught SIGTERM from host system. Shutting down...")
        self.shutdown("halt")

    # --- the guest shell ---------------------------------------------------------------------
    def on_shell_output(self):
        data = self.shell.read()
        if data:
            self.write(data)
            return
        # the login shell exited: init respawns getty on the console
        self.sel.unregister(self.shell.master)
        self.shell.close()
        self.shell = None
        self.state = "boot"
        self.after(0.05, self.start_getty)

    def shell_line(self, line):
        self.shell.send(self.guest.rewrite(line).encode() + b"\n")

    def guest_request(self, request):
        """A guest command asks the kernel (halt, reboot, sysctl, panic, ...)."""
        return self.guest.handle(request)

    # --- shutdown ----------------------------------------------------------------------------
    def shutdown(self, how):
        """halt (exit 0) or reboot (exit 32): stop the guest, sync, tell the host."""
        if self.state == "down":
            return
        self.state = "down"
        self.cleanpid = True
        self.cancel_timers()
        self.read_console(False)
        self.stop_guest()
        steps = [(0.02, "syncing disks... done")]
        if how == "reboot":
            steps += [(0.01, "Rebooting..."), (0.01, "cpu reset, rebooting vkernel")]
            code = EX_VKERNEL_REBOOT
        else:
            steps += [(0.01, "The operating system has halted."),
                      (0.01, "cpu halt, exiting vkernel")]
            code = 0
        self.play(steps, then=lambda: self.exit(code))

    def stop_guest(self):
        if self.shell:
            try:
                self.sel.unregister(self.shell.master)
            except (KeyError, ValueError):
                pass
            self.shell.kill()
            self.shell = None

    def exit(self, code):
        raise KernelExit(code)

    def reboot_now(self):
        self.cleanpid = True
        self.kprintf("Rebooting...")
        self.kprintf("cpu reset, rebooting vkernel")
        raise KernelExit(EX_VKERNEL_REBOOT)

    # --- checkpoint and restore (kernelckpt.py) ---------------------------------------------
    def resume(self, state, master, memory_ok=True):
        kernelckpt.resume(self, state, master, memory_ok)

    def reopen_devices(self):
        """The descriptors a thaw restored by handle: pidfile, memory image, disks (locks
        taken again; whether flocks survive a real thaw is unknown, §19)."""
        self.disk_fds = []
        if self.opts.pidfile:
            try:
                fd = os.open(self.opts.pidfile, os.O_RDWR)
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.held.append(fd)
                self.pidfile_held = True
            except OSError:
                pass
        if self.memimg_path:
            try:
                self.memimg_fd = os.open(self.memimg_path, os.O_RDWR)
                self.held.append(self.memimg_fd)
            except OSError:
                pass
        for path, cow in self.opts.disks:
            try:
                self.disk_fds.append(os.open(path, os.O_RDONLY if cow else os.O_RDWR))
                self.held.append(self.disk_fds[-1])
            except OSError as exc:
                raise KernelExit(1, f"Couldn't reopen device file: {exc.strerror}")

    # --- exit --------------------------------------------------------------------------------
    def teardown(self, cleanpid=None):
        if cleanpid is not None:
            self.cleanpid = cleanpid
        if getattr(self, "_torn_down", False):
            return
        self._torn_down = True
        self.stop_guest()
        netif.close_all(self, self.netifs)
        if self.saved_tc:
            try:
                termios.tcsetattr(self.fd_in, termios.TCSANOW, self.saved_tc)
            except termios.error:
                pass
        if self.pidfile_held and self.cleanpid:
            try:
                os.unlink(self.opts.pidfile)
            except OSError:
                pass
        for fd in self.held:
            try:
                os.close(fd)
            except OSError:
                pass
        self.held = []
        guest = getattr(self, "guest", None)
        if guest:
            guest.close()


def _speed():
    try:
        return max(0.0, float(os.environ.get("VKCKPT_SIM_SPEED", "1")))
    except ValueError:
        return 1.0
