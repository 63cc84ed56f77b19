"""The session supervisor: owns the vkernel, its console pty, and the session's socket.

It runs detached from the step (new session, double fork, see ``boot.start_supervisor``) so an
interrupted step cannot take the vkernel down uncontrolled. One select() loop waits on the
console pty, the unix socket, its clients and a SIGCHLD wake-up pipe; nothing sleeps. Every
console byte goes to ``console.log`` and through the console monitor; panics are handled
whatever a client is waiting for.

Socket protocol: newline-delimited JSON. A client sends one request ``{"op": ...}``; the
supervisor answers with ``{"out": line}`` (console lines), ``{"event": {...}}`` (machine events)
and finally ``{"result": {...}}``. Ops: ``boot``, ``exec``, ``shutdown``, ``status``, ``ddb``,
``checkpoint`` and ``restore``.

Checkpoint and restore (reference/dragonfly.md §19): ``checkpoint`` sends SIGCKPTEXIT to the
running vkernel and waits for it to exit; the supervisor then stays up, *parked*, holding the
session until ``restore`` runs ``checkpt -r FILE`` on a fresh pty as the new vkernel process
(no fork-wrapper parent, no pidfile: the restored process is ``checkpt`` itself), or until
``shutdown``.
"""
import collections
import errno
import json
import os
import pty
import re
import resource
import selectors
import signal
import subprocess
import time

from ..monitor.console import ConsoleMonitor
from . import procs
from .diagnosis import host_problem
from .events import Outcome, append_journal, result_event
from .guest import BOOTING, LOGIN_SENT, PS1_SENT, READY, RUNNING, SH_SENT, GuestShell
from .ledger import Ledger
from .login import PromptFinder
from .session import CONSOLE_TIMES, Session, bind_socket
from .supervisor_ckpt import CheckpointOps, Op, describe_exit
from .supervisor_ddb import CrashOps

HANG_DDB_WAIT = 3.0      # a hung boot gets this long to enter ddb and print its trace
TERM_SILENCE = 3.0       # after SIGTERM, a vkernel that prints nothing this long gets SIGKILL
INTERRUPT_WAIT = 5.0     # a timed-out guest command gets this long to give the shell back
IDLE_EXIT = 120.0        # a supervisor nobody asked to boot goes away after this
PARKED_MAX = 1800.0      # a checkpoint nobody restores: the supervisor goes (cleanup releases)
ORPHAN_TIMEOUT = 1800.0  # a running vkernel nobody asked anything for this long is stopped
TAIL = 20
MAX_PARTIAL = 16384
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]|\x1b\[[0-9;?]*[A-Za-z]")
_MEMFILE = re.compile(r"Using memory file: (\S+)")
_TAPUNIT = re.compile(r"TAP UNIT (\d+)")
PRE_SHELL = (BOOTING, LOGIN_SENT, SH_SENT)   # root's own shell is still being looked for
CRASH_KINDS = ("panic", "fatal_trap", "double_fault")


def clean_line(raw):
    return _CONTROL.sub("", raw.decode("utf-8", "replace").rstrip("\r\n"))


class Supervisor(CheckpointOps, CrashOps):
    def __init__(self, session, vkernel_argv, options=None):
        self.session = session if isinstance(session, Session) else Session(session)
        self.argv = list(vkernel_argv)
        self.taps_booked = set()
        self.ledger = Ledger(self.session.dir)
        self.monitor = ConsoleMonitor()
        self.guest = GuestShell()
        self.sel = selectors.DefaultSelector()
        self.clients = {}                      # socket -> bytearray of unread input
        self.op = None
        self.proc = None
        self.vk_entry = None
        self.master = None
        self.console = None
        self.console_bytes = 0                 # bytes read from the console so far
        self.times = None                      # console.times, when asked to record arrivals
        self.partial = b""
        self.partial_prompt = False            # a generic prompt on this partial line was used
        self.tail = collections.deque(maxlen=200)
        self.crash = None                      # {"kind", "message", ...} after a panic/trap
        self.trace_state = None                # None, "sent", "done"
        self.trace_lines = []
        self.capturing = False                 # a ddb command's output is being collected
        self.frames = []
        self.ddb_deadline = None
        self.failure = None                    # result of a failure that had no client
        self.info = {}
        self.started = time.monotonic()
        self.spawned_at = None
        self.last_output = None
        self.last_progress = None
        self.exit_status = None
        self.halt_seen = False
        self.terminate = False
        self.parked = None                     # after a checkpoint: {"seconds": ...} until restore
        self.restored = False                  # the vkernel is a `checkpt -r` process
        options = options or {}
        self.info.update(options.get("info") or {})
        self.orphan_timeout = float(options.get("orphan_timeout") or ORPHAN_TIMEOUT)
        self.last_request = self.started
        self.orphaned = None                   # why the supervisor ended on its own
        self.finder = PromptFinder(self.guest.token)

    # --- the loop -------------------------------------------------------------------------
    def serve(self, listener, ready_fd=None):
        wake_r, wake_w = os.pipe()
        for fd in (wake_r, wake_w):
            os.set_blocking(fd, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._on_sigterm)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.set_wakeup_fd(wake_w)
        listener.listen(8)
        listener.setblocking(False)
        self.sel.register(listener, selectors.EVENT_READ, "listen")
        self.sel.register(wake_r, selectors.EVENT_READ, "wake")
        self.write_state()
        if ready_fd is not None:
            os.write(ready_fd, f"ready {os.getpid()}\n".encode())
            os.close(ready_fd)
        while not self.finished():
            for key, _ in self.sel.select(self.next_timeout()):
                what = key.data
                if what == "listen":
                    self.accept(listener)
                elif what == "wake":
                    try:
                        os.read(wake_r, 4096)
                    except BlockingIOError:
                        pass
                elif what == "console":
                    self.read_console()
                else:
                    self.read_client(key.fileobj)
            if self.terminate:
                self.terminate = False
                self.fail(Outcome.infrastructure(
                    "the session supervisor was told to stop", "boot the vkernel again"))
                self.stop_vkernel()
            self.check_process()
            self.check_deadlines()
            self.check_orphaned(time.monotonic())
        self.close()

    def _on_sigterm(self, *_):
        self.terminate = True

    def finished(self):
        if self.proc is None:
            return self.spawned_at is None and time.monotonic() - self.started > IDLE_EXIT
        if self.parked is not None:
            # the checkpointed guest waits for its restore (or shutdown), but not forever:
            # a step that died in between must not leave the supervisor up for good
            return self.op is None and time.monotonic() - self.parked["at"] > PARKED_MAX
        return self.exit_status is not None and self.op is None

    def orphan_deadline(self):
        """A running vkernel whose supervisor heard from no client for orphan_timeout."""
        if self.proc is None or self.exit_status is not None or self.parked is not None \
                or self.op is not None or self.orphaned:
            return None
        return self.last_request + self.orphan_timeout

    def check_orphaned(self, now):
        deadline = self.orphan_deadline()
        if deadline is None or now < deadline:
            return
        self.orphaned = (f"no agent command reached the supervisor for "
                         f"{self.orphan_timeout:g} s: stopping the vkernel and releasing the "
                         "session")
        print(f"vkckpt supervisor: {self.orphaned}", flush=True)
        append_journal(self.session.events, {"ev": "info", "orphaned": self.orphaned})
        self.start_shutdown(None, {"timeout": 60}, now)

    def next_timeout(self):
        deadlines = [d for d in self._deadlines() if d is not None]
        if self.proc is None:
            deadlines.append(self.started + IDLE_EXIT)
        if self.parked is not None:
            deadlines.append(self.parked["at"] + PARKED_MAX)
        orphan = self.orphan_deadline()
        if orphan is not None:
            deadlines.append(orphan)
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    def _deadlines(self):
        yield self.ddb_deadline
        op = self.op
        if op is None:
            return
        yield op.stage_deadline
        if op.kind == "shutdown" and op.stage == "term":
            yield self.term_silence_deadline()
        if op.kind == "boot" and self.spawned_at is not None and op.stage is None:
            yield self.last_output + op.params["silence"]
            yield self.last_progress + op.params["timeout"]
            if self.guest.state in PRE_SHELL and not self.crash:
                yield self.finder.deadline(self.last_output)
        elif op.kind == "exec" and op.stage is None or op.kind in ("ddb", "checkpoint"):
            yield op.started + op.params["timeout"]
        elif op.kind == "restore" and op.stage in ("restoring", "checking"):
            yield op.started + op.params["timeout"]

    def close(self):
        for sock in list(self.clients):
            self.drop(sock)
        if self.console:
            self.console.close()
        if self.times:
            self.times.close()
        try:
            os.unlink(self.session.socket_path)
        except OSError:
            pass
        self.write_state()

    # --- clients --------------------------------------------------------------------------
    def accept(self, listener):
        try:
            sock, _ = listener.accept()
        except OSError:
            return
        sock.settimeout(5.0)
        self.clients[sock] = bytearray()
        self.sel.register(sock, selectors.EVENT_READ, "client")

    def drop(self, sock):
        self.clients.pop(sock, None)
        try:
            self.sel.unregister(sock)
        except (KeyError, ValueError):
            pass
        sock.close()
        if self.op is not None and self.op.client is sock:
            self.op.client = None  # the op goes on; its result still lands in events.jsonl

    def read_client(self, sock):
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.drop(sock)
            return
        buf = self.clients.get(sock)
        if buf is None:
            return
        buf.extend(data)
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ValueError("not an object")
            except ValueError:
                self.send(sock, {"result": result_event(
                    "infrastructure", "malformed request to the supervisor",
                    "infrastructure", "use the vkckpt agent of the same version")})
                continue
            self.handle(sock, request)

    def send(self, sock, message):
        if sock is None:
            return
        try:
            sock.sendall((json.dumps(message, separators=(",", ":"), default=str) + "\n")
                         .encode())
        except OSError:
            self.drop(sock)

    def to_op(self, message):
        if self.op is not None:
            self.send(self.op.client, message)

    def emit(self, event):
        append_journal(self.session.events, event)
        self.to_op({"event": event})

    def finish(self, result):
        """End the current op with ``result`` (a result event)."""
        append_journal(self.session.events, result)
        if self.op is None:
            return
        op, self.op = self.op, None
        self.send(op.client, {"result": result})
        self.write_state()

    def fail(self, outcome):
        result = outcome.to_event()
        if self.op is not None and self.op.kind != "shutdown":
            self.finish(result)
        elif self.failure is None:
            self.failure = result
            append_journal(self.session.events, result)
        self.write_state()

    # --- requests -------------------------------------------------------------------------
    def handle(self, sock, req):
        op = req.get("op")
        now = time.monotonic()
        self.last_request = now
        if op == "status":
            self.send(sock, {"result": result_event("ok", self.status_line(),
                                                   details=self.status())})
            return
        if self.op is not None and op != "shutdown":
            self.send(sock, {"result": Outcome.infrastructure(
                f"the supervisor is busy with {self.op.kind}",
                "run one agent command at a time per session").to_event()})
            return
        if op == "boot":
            self.start_boot(sock, req, now)
        elif op == "exec":
            self.start_exec(sock, req, now)
        elif op == "shutdown":
            self.start_shutdown(sock, req, now)
        elif op == "ddb":
            self.start_ddb(sock, req, now)
        elif op == "checkpoint":
            self.start_checkpoint(sock, req, now)
        elif op == "restore":
            self.start_restore(sock, req, now)
        else:
            self.send(sock, {"result": Outcome.infrastructure(
                f"unknown supervisor request {op!r}",
                "use the vkckpt agent of the same version").to_event()})

    def start_boot(self, sock, req, now):
        if self.proc is not None:
            self.send(sock, {"result": Outcome.infrastructure(
                "a vkernel already runs in this session",
                "shut it down first (vkckpt-agent shutdown)").to_event()})
            return
        self.op = Op("boot", sock, {"timeout": float(req.get("timeout", 600)),
                                    "silence": float(req.get("silence", 120))}, now)
        self.finder.quiet = float(req.get("quiet", 5.0))
        if req.get("console_times"):
            self.times = open(self.session.file(CONSOLE_TIMES), "a", buffering=1)
        try:
            self.spawn()
        except OSError as exc:
            self.finish(Outcome.infrastructure(
                f"cannot start the vkernel {self.argv[0]}: {exc.strerror or exc}",
                "check that --kernel names an executable vkernel built for this host",
                argv=self.argv).to_event())
            self.exit_status = -1

    def refuse_unless_running(self, sock, fix):
        """Answer at once (True) when an earlier failure or crash stands, or no vkernel runs."""
        pending = self.failure or self.crash_result()
        if pending is None and self.crash is not None:  # the ddb trace is still being taken
            pending = Outcome.kernel(f"kernel: {self.crash['what']} · capturing the ddb trace",
                                     tail=self.tail_lines()).to_event()
        if pending is None and (self.proc is None or self.exit_status is not None):
            pending = Outcome.infrastructure("no vkernel runs in this session", fix).to_event()
        if pending is not None:
            self.send(sock, {"result": pending})
            return True
        return False

    def start_exec(self, sock, req, now):
        if self.refuse_unless_running(sock, "boot the vkernel first"):
            return
        if self.guest.state != READY:
            self.send(sock, {"result": Outcome.infrastructure(
                f"the guest shell is not ready ({self.guest.state})",
                "boot the vkernel first and run one guest command at a time").to_event()})
            return
        cmd = req.get("cmd") or ""
        self.op = Op("exec", sock, {"timeout": float(req.get("timeout", 600)), "cmd": cmd}, now)
        try:
            self.write_console(self.guest.command(cmd))
        except ValueError as exc:
            self.finish(Outcome.infrastructure(str(exc), "pass one shell line").to_event())

    def start_shutdown(self, sock, req, now):
        if self.op is not None and self.op.kind != "shutdown":
            self.to_op({"out": "vkckpt: shutdown requested; abandoning " + self.op.kind})
            self.finish(Outcome.infrastructure(
                f"{self.op.kind} interrupted by shutdown", "none needed").to_event())
        timeout = float(req.get("timeout", 60))
        self.parked = None
        self.op = Op("shutdown", sock, {"timeout": timeout}, now)
        if self.proc is None or self.exit_status is not None:
            self.finish(result_event("ok", "no vkernel was running", details=self.status()))
            return
        if self.guest.state == READY and not self.crash:
            self.emit({"ev": "phase", "name": "shutdown", "how": "halt"})
            self.write_console(b"halt\r")
            self.op.stage = "halt"
            self.op.stage_deadline = now + timeout / 2
        else:
            self.sigterm(now)

    def sigterm(self, now):
        """SIGTERM to the vkernel child (the pidfile's pid): the GSoC 2013 fork-wrapper parent
        does not forward it and would die leaving the child running (reference §23); master's
        parent forwards it, so the child is the right target on every flavour."""
        target = self.target_pid()
        self.emit({"ev": "phase", "name": "shutdown", "how": "SIGTERM", "pid": target})
        procs.signal_pid(target, signal.SIGTERM)
        self.op.stage = "term"
        self.op.stage_deadline = now + max(2.0, self.op.params["timeout"] / 2)
        self.op.params["term_sent"] = now

    def start_ddb(self, sock, req, now):
        if self.proc is None or self.exit_status is not None:
            self.send(sock, {"result": Outcome.infrastructure(
                "no vkernel runs in this session", "boot the vkernel first").to_event()})
            return
        if self.crash is not None:
            self.send(sock, {"result": self.crash_result() or Outcome.infrastructure(
                "the vkernel crashed; its trace is being captured", "run shutdown").to_event()})
            return
        cmds = req.get("cmd") or "trace"
        cmds = [cmds] if isinstance(cmds, str) else [str(c) for c in cmds]
        if any("\r" in c or "\n" in c for c in cmds):
            self.send(sock, {"result": Outcome.infrastructure(
                "a ddb command is one line", "pass one command per argument").to_event()})
            return
        self.op = Op("ddb", sock, {"timeout": float(req.get("timeout", 30)), "cmds": cmds,
                                   "stay": bool(req.get("stay"))}, now)
        self.op.stage = "enter"
        self.op.results = []
        self.enter_ddb()

    def enter_ddb(self):
        """^\\ on a real console: SIGQUIT to the vkernel child (its parent ignores it)."""
        self.trace_lines = []
        self.emit({"ev": "phase", "name": "ddb"})
        procs.signal_pid(self.target_pid(), signal.SIGQUIT)

    def ddb_command(self, cmd):
        self.trace_lines = []
        self.capturing = True
        self.write_console(cmd.encode() + b"\r")

    # --- the vkernel ----------------------------------------------------------------------
    def spawn(self, argv=None, phase="boot", **entry):
        argv = argv or self.argv
        if not entry:
            entry = {"pidfile": self.session.pidfile}
        self.vk_entry = self.ledger.allocate("vkernel", argv=argv, cwd=self.session.dir, **entry)
        if self.master is not None:  # the checkpointed vkernel's console, maybe not at EOF yet
            self.drop_console()
        master, slave = pty.openpty()
        try:
            self.proc = subprocess.Popen(
                argv, stdin=slave, stdout=slave, stderr=slave, cwd=self.session.dir,
                start_new_session=True, close_fds=True)
        except OSError:
            os.close(master)
            self.ledger.release(self.vk_entry, error="did not start")
            raise
        finally:
            os.close(slave)
        self.ledger.update(self.vk_entry, pid=self.proc.pid)
        self.master = master
        os.set_blocking(master, False)
        if self.console is None:
            self.console = open(self.session.console_log, "ab")
        self.sel.register(master, selectors.EVENT_READ, "console")
        self.spawned_at = self.last_output = self.last_progress = time.monotonic()
        self.emit({"ev": "phase", "name": phase})
        self.emit({"ev": "info", "vkernel_pid": self.proc.pid, "argv": argv})
        self.write_state()

    def creates_taps(self):
        nets = [self.argv[i + 1] for i, a in enumerate(self.argv[:-1]) if a == "-I"]
        return any(n == "auto" or n.startswith("auto:") for n in nets)

    def write_console(self, data):
        if self.master is None or not data:
            return
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.master, view)
            except BlockingIOError:
                select_writable(self.master)
                continue
            except OSError:
                return
            view = view[n:]

    def child_pid(self):
        """The fork-wrapper's child from the pidfile; none after a restore (the pidfile was
        removed with the checkpointed vkernel, and a stale one must not name a stranger)."""
        if self.restored:
            return None
        return procs.read_pidfile(self.session.pidfile)

    def target_pid(self):
        """The process that receives the vkernel's signals (SIGQUIT, SIGCKPTEXIT)."""
        if self.proc is None:
            return None
        child = self.child_pid()
        return child if child and child != self.proc.pid else self.proc.pid

    def stop_vkernel(self):
        """Kill the vkernel now (child first, then the parent that would fork it again)."""
        child = self.child_pid()
        if child and self.proc and child != self.proc.pid:
            procs.signal_pid(child, signal.SIGKILL)
        if self.proc is not None and self.exit_status is None:
            procs.signal_pid(self.proc.pid, signal.SIGKILL)

    def check_process(self):
        if self.proc is None or self.exit_status is not None:
            return
        rc = self.proc.poll()
        if rc is None:
            return
        self.drain_console()
        child = self.child_pid()
        if child and child != self.proc.pid and procs.alive(child):
            procs.kill(child)
        self.exit_status = rc
        self.ledger.release(self.vk_entry, exit_status=rc)
        self.emit({"ev": "info", "vkernel_exit": rc})
        self.on_vkernel_exit(rc)
        self.write_state()

    def drain_console(self):
        while self.master is not None:
            if not self.read_console():
                break

    def on_vkernel_exit(self, rc):
        op = self.op
        if self.crash and self.trace_state != "done":
            self.crash_done()
            op = self.op
        if op is None:
            return
        if op.kind in ("boot", "restore") and op.stage == "hang-ddb":  # SIGQUIT killed it
            self.finish_timeout(op.params["why"], backtrace=self.backtrace()[:60])
            return
        if op.kind == "checkpoint":
            self.checkpoint_exited(rc)
            return
        if op.kind == "restore":
            if rc == 1:  # usage, or "unable to open <file>" (reference §16): not the kernel
                self.finish(Outcome.infrastructure(
                    f"restore failed: checkpt exited 1: {self.last_line()}",
                    "check that the checkpoint file exists and is readable by the agent",
                    exit_status=rc, tail=self.tail_lines()).to_event())
                return
            self.finish(Outcome.kernel(
                f"restore failed: checkpt {describe_exit(rc)}; last line: {self.last_line()}",
                exit_status=rc, tail=self.tail_lines()).to_event())
            return
        if op.kind == "shutdown":
            how = "halted cleanly" if self.halt_seen else f"stopped ({op.stage})"
            self.finish(result_event("ok", f"vkernel {how}", details={
                "exit_status": rc, "how": op.stage, "tail": self.tail_lines()}))
            return
        for line in reversed(self.tail_lines()):
            problem = host_problem(line)
            if problem:
                self.finish(Outcome.infrastructure(problem[0], problem[1], message=line,
                                                   tail=self.tail_lines()).to_event())
                return
        self.finish(Outcome.kernel(
            f"vkernel exited (status {rc}) during {op.kind}; last line: {self.last_line()}",
            exit_status=rc, tail=self.tail_lines()).to_event())

    # --- console --------------------------------------------------------------------------
    def drop_console(self):
        self.sel.unregister(self.master)
        os.close(self.master)
        self.master = None

    def read_console(self):
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EIO, errno.EBADF):
                raise
            data = b""
        if not data:
            self.drop_console()
            return False
        self.console.write(data)
        self.console.flush()
        self.last_output = time.monotonic()
        if self.times is not None:  # "arrival offset length", for benchmarks/session.py
            self.times.write(f"{self.last_output:.6f} {self.console_bytes} {len(data)}\n")
        self.console_bytes += len(data)
        self.partial += data
        *complete, self.partial = self.partial.split(b"\n")
        if len(self.partial) > MAX_PARTIAL:
            complete.append(self.partial)
            self.partial = b""
        if complete:
            self.partial_prompt = False
        for raw in complete:
            self.on_line(clean_line(raw))
        for event in self.monitor.feed(data):
            self.on_event(event)
        self.check_generic_prompt()
        return True

    def check_generic_prompt(self):
        """Until the agent's own prompt is set, root's shell prompt is recognised here (csh's
        ``vkernel# ``, sh's ``# ``, see ``login``): the console monitor only knows the prompt
        it is told."""
        if (self.crash or self.partial_prompt or self.guest.state not in PRE_SHELL
                or not PromptFinder.looks_like_prompt(clean_line(self.partial))):
            return
        self.partial_prompt = True
        self.on_guest_prompt("shell_prompt")

    def on_line(self, line):
        if not self.tail or line != self.tail[-1]:
            self.last_progress = time.monotonic()
        self.tail.append(line)
        self.to_op({"out": line})
        if self.capturing:
            self.trace_lines.append(line)
        m = _MEMFILE.search(line)
        if m:
            path = os.path.join(self.session.dir, m.group(1))
            # the vkernel creates it itself, so it is recorded as soon as it is named
            self.ledger.allocate("file", path=path, role="memory image")
        m = _TAPUNIT.search(line)
        if m and self.creates_taps() and m.group(1) not in self.taps_booked:
            # only an "auto" -I clones its tap; a tap the admin named stays theirs, and a
            # restore that reopens the same unit books nothing new
            self.taps_booked.add(m.group(1))
            self.ledger.allocate("tap", name=f"tap{m.group(1)}")
        self.guest.on_line(line)
        if self.guest.state in PRE_SHELL and self.finder.on_line(line) and not self.crash:
            self.on_guest_prompt("shell_prompt")  # a quiet console proved to be a shell

    def on_event(self, event):
        kind = event.kind
        self.finder.on_event(kind, event.data)
        self.emit({"ev": "console", **event.to_json()})
        if kind != "stall":
            self.last_progress = time.monotonic()
        if kind == "version":
            self.info.update({k: event.data.get(k) for k in ("version", "kernconf")})
            self.emit({"ev": "info", "version": event.data.get("version"),
                       "kernconf": event.data.get("kernconf")})
        elif kind == "trace_frame":
            self.frames.append(event.data.get("function"))
        elif kind in ("halted", "cpu_halt"):
            self.halt_seen = True
        if kind in CRASH_KINDS:
            self.on_crash(event)
        elif kind == "ddb_prompt":
            self.on_ddb_prompt()
        elif kind == "mountroot_prompt":
            self.fail(Outcome.kernel("boot failed: mountroot prompt",
                                     tail=self.tail_lines()))
            self.stop_vkernel()
        elif kind == "boot_failure":
            self.fail(Outcome.kernel(f"boot failed: {event.data.get('reason') or event.text}",
                                     tail=self.tail_lines()))
            self.stop_vkernel()
        elif kind == "vkernel_error":
            message = event.data.get("message") or event.text
            problem = host_problem(message)
            if problem:
                self.fail(Outcome.infrastructure(problem[0], problem[1], message=message))
            else:
                self.fail(Outcome.kernel(f"vkernel error: {message}", tail=self.tail_lines()))
        elif kind == "ckpt_save_failed" and self.op is not None and self.op.kind == "checkpoint":
            self.checkpoint_save_failed(event)
        elif kind == "thaw_failed" and self.op is not None and self.op.kind == "restore":
            data = event.data
            what = (f"thaw failed error {data['errno']} {data.get('message') or ''}".strip()
                    if data.get("errno") is not None else event.text.strip())
            if data.get("errno") == errno.EPERM:  # a permission, not the kernel (§14)
                self.finish(Outcome.infrastructure(
                    f"restore failed: {what}", "let the agent's user checkpoint: "
                    "sysctl kern.ckptgroup=-1, or run the agent in group wheel",
                    errno=data.get("errno"), tail=self.tail_lines()).to_event())
            else:
                self.finish(Outcome.kernel(f"restore failed: {what}", errno=data.get("errno"),
                                           tail=self.tail_lines()).to_event())
        elif kind == "restored" and self.op is not None and self.op.kind == "restore":
            self.restored_seen()
        elif kind == "restore_netif_failed" and self.op is not None \
                and self.op.kind == "restore":
            self.op.params.setdefault("netif", []).append(event.data.get("message"))
        elif kind in ("ckpt_save_failed", "thaw_failed"):
            self.fail(Outcome.kernel(f"kernel: {kind.replace('_', ' ')}: {event.text}",
                                     tail=self.tail_lines()))
        elif kind == "stall" and self.op is not None and self.op.kind in ("boot", "exec"):
            self.timeout(f"console stalled ({event.text.strip()})")
        if self.crash:
            return
        self.on_guest_prompt(kind)

    def on_guest_prompt(self, kind):
        before = self.guest.state
        self.write_console(self.guest.on_event(kind))
        if before in PRE_SHELL and self.guest.state != before:
            self.finder.next_shell()
        if self.guest.state == PS1_SENT:
            self.monitor.set_shell_prompt(self.guest.prompt)
        if kind == "shell_prompt" and self.guest.state == READY and self.op is not None:
            if self.op.kind == "boot":
                self.booted()
            elif self.op.kind == "exec" and self.op.stage == "interrupt":
                self.finish_timeout(self.op.params["why"], interrupted=True,
                                    output_tail=self.guest.output[-TAIL:])
            elif self.op.kind == "exec":
                self.executed()
            elif self.op.kind == "restore" and self.op.stage == "checking":
                self.restore_done()

    def booted(self):
        elapsed = time.monotonic() - self.spawned_at
        self.emit({"ev": "metric", "name": "boot_time", "value": round(elapsed, 3),
                   "unit": "s"})
        version = self.info.get("version")
        if version and version.startswith("v"):
            version = "DragonFly " + version
        what = " ".join(v for v in (version, self.info.get("kernconf")) if v)
        summary = f"booted in {elapsed:.1f} s" + (f" · {what}" if what else "")
        if self.info.get("flavour"):
            summary += f" · {self.info['flavour']}"
        self.finish(result_event("ok", summary, details={
            "boot_time": round(elapsed, 3), "prompt": self.guest.prompt,
            "shells_found_by_sentinel": self.finder.answered, **self.info}))

    def executed(self):
        op = self.op
        elapsed = time.monotonic() - op.started
        self.emit({"ev": "metric", "name": "exec_time", "value": round(elapsed, 3),
                   "unit": "s"})
        status = self.guest.status
        details = {"status": status, "cmd": op.params["cmd"],
                   "output_tail": self.guest.output[-TAIL:]}
        if status == 0:
            self.finish(result_event("ok", "guest command succeeded", details=details))
        else:
            self.finish(result_event("failure", f"guest command exited {status}", "test",
                                     details=details))

    # --- time -----------------------------------------------------------------------------
    def check_deadlines(self):
        now = time.monotonic()
        if self.ddb_deadline is not None and now >= self.ddb_deadline:
            self.crash_done()
        op = self.op
        if op is None:
            return
        if op.kind in ("boot", "restore") and op.stage == "hang-ddb":
            if now >= op.stage_deadline:
                self.finish_timeout(op.params["why"], backtrace=self.backtrace()[:60])
        elif op.kind == "checkpoint" and now - op.started >= op.params["timeout"]:
            self.finish_timeout(f"the vkernel did not exit within {op.params['timeout']:g} s "
                                f"of SIGCKPTEXIT; last line: {self.last_line()}")
            self.stop_vkernel()
        elif op.kind == "restore" and op.stage in ("restoring", "checking") \
                and now - op.started >= op.params["timeout"]:
            waiting = ("no 'Restored from checkpoint...'" if op.stage == "restoring"
                       else "the guest shell did not answer")
            self.timeout(f"{waiting} within {op.params['timeout']:g} s")
        elif op.kind == "boot" and self.spawned_at is not None:
            silence, timeout = op.params["silence"], op.params["timeout"]
            probe_at = (self.finder.deadline(self.last_output)
                        if self.guest.state in PRE_SHELL and not self.crash else None)
            if probe_at is not None and now >= probe_at and now - self.last_output < silence:
                self.emit({"ev": "info", "prompt_probe": self.finder.probes + 1,
                           "last_seen": self.last_line()})
                self.write_console(self.finder.probe())
            elif now - self.last_output >= silence:
                self.timeout(f"no console output for {silence:g} s")
            elif now - self.last_progress >= timeout:
                self.timeout(f"no boot progress for {timeout:g} s")
        elif op.kind == "exec" and op.stage == "interrupt":
            if now >= op.stage_deadline:
                self.finish_timeout(op.params["why"], interrupted=False)
        elif op.kind in ("exec", "ddb") and now - op.started >= op.params["timeout"]:
            self.timeout(f"still running after {op.params['timeout']:g} s")
        elif op.kind == "shutdown" and op.stage_deadline and (
                now >= op.stage_deadline
                # a hung guest, or one sitting in ddb, never services SIGTERM (reference §8)
                or op.stage == "term" and now >= self.term_silence_deadline()):
            if op.stage == "halt":
                self.sigterm(now)
            elif op.stage == "term":
                op.stage = "kill"
                op.stage_deadline = now + 5.0
                self.emit({"ev": "phase", "name": "shutdown", "how": "SIGKILL"})
                self.stop_vkernel()
            else:
                self.finish(Outcome.infrastructure(
                    "the vkernel survived SIGKILL", "check the host for a stuck process",
                    pid=self.proc.pid).to_event())

    def term_silence_deadline(self):
        return max(self.op.params["term_sent"], self.last_output or 0.0) + TERM_SILENCE

    def timeout(self, why):
        """A phase ran out of time. A hung boot is first looked at in ddb (SIGQUIT, then
        ``trace``, bounded by HANG_DDB_WAIT); a guest command is interrupted with ^C so the
        shell stays usable (bounded by INTERRUPT_WAIT)."""
        op = self.op
        now = time.monotonic()
        if op is not None and op.kind == "boot" and self.guest.state in PRE_SHELL:
            why = f"{why}; {self.finder.describe()}; last line: {self.last_line()}"
        else:
            why = f"{why}; last line: {self.last_line()}"
        if op is not None and op.kind in ("boot", "restore") and self.exit_status is None:
            op.params["why"] = why
            op.params["tail"] = self.tail_lines()
            op.stage, op.stage_deadline = "hang-ddb", now + HANG_DDB_WAIT
            self.enter_ddb()
            return
        if op is not None and op.kind == "exec" and self.guest.state == RUNNING:
            op.params["why"] = why
            op.stage, op.stage_deadline = "interrupt", now + INTERRUPT_WAIT
            self.emit({"ev": "info", "interrupt": "^C", "cmd": op.params["cmd"]})
            self.write_console(self.guest.interrupt())
            return
        self.finish_timeout(why)

    def finish_timeout(self, why, **details):
        op = self.op
        phase = op.kind if op is not None else "session"
        tail = op.params.get("tail") if op is not None else None
        self.finish(Outcome.timeout(f"timeout in {phase}: {why}", phase=phase,
                                    tail=tail or self.tail_lines(), guest=self.guest.state,
                                    **details).to_event())
        if phase in ("boot", "restore"):
            self.stop_vkernel()

    # --- reporting ------------------------------------------------------------------------
    def tail_lines(self, n=TAIL):
        lines = list(self.tail)[-n:]
        partial = clean_line(self.partial)
        if partial.strip():
            lines.append(partial)
        return lines

    def last_line(self):
        for line in reversed(self.tail_lines()):
            if line.strip():
                return line.strip()
        return "(no console output)"

    def status(self):
        child = self.child_pid()
        running = self.proc is not None and self.exit_status is None
        return {
            "supervisor_pid": os.getpid(),
            "vkernel_pid": self.proc.pid if self.proc else None,
            "vkernel_child_pid": child,
            "vkernel_target": self.target_pid() if running else None,
            "vkernel_argv": self.argv,
            "restored": self.restored,
            "parked": self.parked,
            "rlimit_core": list(resource.getrlimit(resource.RLIMIT_CORE)),
            "vkernel_exit": self.exit_status,
            "guest": self.guest.state,
            "op": self.op.kind if self.op else None,
            "crash": self.crash,
            "failure": self.failure and self.failure.get("summary"),
            "prompt": self.guest.prompt,
            **self.info,
        }

    def status_line(self):
        if self.proc is None:
            return "supervisor up, no vkernel started"
        if self.parked is not None:
            return "vkernel checkpointed, waiting for its restore"
        if self.exit_status is not None:
            return f"vkernel exited (status {self.exit_status})"
        if self.crash:
            return f"vkernel crashed: {self.crash['what']}"
        return f"vkernel running (pid {self.proc.pid}), guest shell {self.guest.state}"

    def write_state(self):
        try:
            self.session.write_state(dict(self.status(), summary=self.status_line(),
                                          alive=self.exit_status is None))
        except OSError:
            pass


def select_writable(fd):
    import select
    select.select([], [fd], [], 1.0)


def main(session_dir, vkernel_argv, ready_fd=None, entry=None, options=None):
    """Body of the detached supervisor process."""
    session = Session(session_dir)
    ledger = Ledger(session.dir)
    if entry is not None:
        ledger.update(entry, pid=os.getpid())
    try:
        os.unlink(session.socket_path)
    except OSError:
        pass
    listener = bind_socket(session.socket_path)
    sup = Supervisor(session, vkernel_argv, options)
    try:
        sup.serve(listener, ready_fd)
    finally:
        listener.close()
        if sup.orphaned:  # nobody will run shutdown: release what the session holds
            from .cleanup import release_all
            released, problems = release_all(session.dir, keep=("supervisor",))
            print(f"vkckpt supervisor: released {len(released)} resource(s)"
                  + (f"; could not release: {problems}" if problems else ""), flush=True)
        if entry is not None:
            ledger.release(entry)
    return 0
