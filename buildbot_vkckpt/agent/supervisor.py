"""The session supervisor: owns the vkernel, its console pty, and the session's socket.

It runs detached from the step (new session, double fork, see ``boot.start_supervisor``) so an
interrupted step cannot take the vkernel down uncontrolled. One select() loop waits on the
console pty, the unix socket, its clients and a SIGCHLD wake-up pipe; nothing sleeps. Every
console byte goes to ``console.log`` and through the console monitor
(``supervisor_vkernel``); panics are handled whatever a client is waiting for
(``supervisor_ddb.CrashOps``).

Socket protocol: newline-delimited JSON. A client sends one request ``{"op": ...}``; the
supervisor answers with ``{"out": line}`` (console lines), ``{"event": {...}}`` (machine events)
and finally ``{"result": {...}}``. ``status`` is answered at once; every other request is an
operation (``supervisor_op.Operation``): ``boot`` (supervisor_boot), ``exec``
(supervisor_exec), ``ddb`` (supervisor_ddb), ``checkpoint`` and ``restore`` (supervisor_ckpt),
``shutdown`` (supervisor_shutdown). Each owns its deadlines and its reaction to monitor events;
this module runs the loop and the rules common to all of them (which monitor events end any
operation, crashes aside), the socket is served by ``supervisor_server``.

After a checkpoint the supervisor stays up, *parked*, holding the session until ``restore``
runs ``checkpt -r FILE`` as the new vkernel process (no fork-wrapper parent, no pidfile: the
restored process is ``checkpt`` itself), or until ``shutdown``.
"""
import collections
import os
import resource
import selectors
import signal
import time

from ..monitor.console import ConsoleMonitor
from . import procs  # noqa: F401  (supervisor.procs: the signals every operation sends)
from .events import Outcome, append_journal, result_event
from .guest import PS1_SENT, READY, GuestShell
from .ledger import Ledger
from .login import PromptFinder
from .session import Session, bind_socket
from .supervisor_boot import PRE_SHELL, Boot
from .supervisor_ckpt import Checkpoint, Restore
from .supervisor_ddb import CrashOps, Ddb
from .supervisor_exec import Exec
from .supervisor_op import TAIL
from .supervisor_server import ClientServer
from .supervisor_shutdown import Shutdown
from .supervisor_vkernel import VkernelConsole
from .diagnosis import host_problem

IDLE_EXIT = 120.0        # a supervisor nobody asked to boot goes away after this
PARKED_MAX = 1800.0      # a checkpoint nobody restores: the supervisor goes (cleanup releases)
ORPHAN_TIMEOUT = 1800.0  # a running vkernel nobody asked anything for this long is stopped
CRASH_KINDS = ("panic", "fatal_trap", "double_fault")
OPERATIONS = {cls.kind: cls for cls in (Boot, Exec, Ddb, Checkpoint, Restore, Shutdown)}


def Op(kind, client, params, now):
    """The operation ``kind`` already under way (tests set up a state with it)."""
    return OPERATIONS[kind](client, params, now)


class Supervisor(ClientServer, VkernelConsole, CrashOps):
    def __init__(self, session, vkernel_argv, options=None, clock=time.monotonic):
        self.clock = clock
        self.session = session if isinstance(session, Session) else Session(session)
        self.argv = list(vkernel_argv)
        self.taps_booked = set()
        self.ledger = Ledger(self.session.dir)
        self.monitor = ConsoleMonitor(clock=clock, lines=True, guess_prompts=True)
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
        self.tail = collections.deque(maxlen=200)
        self.crash = None                      # {"kind", "message", ...} after a panic/trap
        self.trace_state = None                # None, "sent", "done"
        self.trace_lines = []
        self.capturing = False                 # a ddb command's output is being collected
        self.frames = []
        self.ddb_deadline = None
        self.failure = None                    # result of a failure that had no client
        self.info = {}
        self.started = self.clock()
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
            self.check_orphaned(self.clock())
        self.close()

    def _on_sigterm(self, *_):
        self.terminate = True

    def finished(self):
        if self.proc is None:
            return self.spawned_at is None and self.clock() - self.started > IDLE_EXIT
        if self.parked is not None:
            # the checkpointed guest waits for its restore (or shutdown), but not forever:
            # a step that died in between must not leave the supervisor up for good
            return self.op is None and self.clock() - self.parked["at"] > PARKED_MAX
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
        return max(0.0, min(deadlines) - self.clock())

    def _deadlines(self):
        yield self.ddb_deadline
        if self.op is not None:
            for when, _ in self.op.deadlines(self):
                yield when

    def check_deadlines(self):
        """The crash's wait for ddb, then the first of the op's deadlines that is due."""
        now = self.clock()
        if self.ddb_deadline is not None and now >= self.ddb_deadline:
            self.crash_done()
        op = self.op
        if op is None:
            return
        for when, action in op.deadlines(self):
            if when is not None and now >= when:
                action(self, now)
                return

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

    # --- clients (supervisor_server) ----------------------------------------------------
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
        if self.op is not None and self.op.ends_on_failure:
            self.finish(result)
        elif self.failure is None:
            self.failure = result
            append_journal(self.session.events, result)
        self.write_state()

    # --- requests -------------------------------------------------------------------------
    def handle(self, sock, req):
        op = req.get("op")
        now = self.clock()
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
        if op == "shutdown":
            self.start_shutdown(sock, req, now)
        elif op in OPERATIONS:
            OPERATIONS[op].start(self, sock, req, now)
        else:
            self.send(sock, {"result": Outcome.infrastructure(
                f"unknown supervisor request {op!r}",
                "use the vkckpt agent of the same version").to_event()})

    def start_shutdown(self, sock, req, now):
        """Also how an orphaned supervisor stops its vkernel (``check_orphaned``)."""
        Shutdown.start(self, sock, req, now)

    # the operation's own hooks under the names tests/agent/test_refusals.py drives
    def start_checkpoint(self, sock, req, now):
        Checkpoint.start(self, sock, req, now)

    def checkpoint_exited(self, rc):
        self.op.on_exit(self, rc)

    def sigterm(self, now):
        self.op.sigterm(self, now)

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

    # --- what the vkernel does -------------------------------------------------------------
    def on_vkernel_exit(self, rc):
        if self.crash and self.trace_state != "done":
            self.crash_done()
        if self.op is not None:
            self.op.on_exit(self, rc)

    def on_event(self, event):
        kind = event.kind
        self.finder.on_event(kind, event.data)
        self.emit({"ev": "console", **event.to_json()})
        if kind != "stall":
            self.last_progress = self.clock()
        if kind == "version":
            self.info.update({k: event.data.get(k) for k in ("version", "kernconf")})
            self.emit({"ev": "info", "version": event.data.get("version"),
                       "kernconf": event.data.get("kernconf")})
        elif kind == "trace_frame":
            self.frames.append(event.data.get("function"))
        elif kind in ("halted", "cpu_halt"):
            self.halt_seen = True
        elif kind == "milestone":
            self.book_milestone(event.data)
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
        elif self.op is not None and self.op.on_event(self, event):
            pass
        elif kind in ("ckpt_save_failed", "thaw_failed"):
            self.fail(Outcome.kernel(f"kernel: {kind.replace('_', ' ')}: {event.text}",
                                     tail=self.tail_lines()))
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
            self.op.on_shell_ready(self)

    # --- time -----------------------------------------------------------------------------
    def finish_timeout(self, why, **details):
        op = self.op
        phase = op.kind if op is not None else "session"
        tail = op.params.get("tail") if op is not None else None
        self.finish(Outcome.timeout(f"timeout in {phase}: {why}", phase=phase,
                                    tail=tail or self.tail_lines(), guest=self.guest.state,
                                    **details).to_event())
        if op is not None and op.stop_after_timeout:
            self.stop_vkernel()

    # --- reporting ------------------------------------------------------------------------
    def tail_lines(self, n=TAIL):
        lines = list(self.tail)[-n:]
        partial = self.monitor.partial_text()
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
