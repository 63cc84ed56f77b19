"""The supervisor's side of the vkernel process and its console (a mixin of
``supervisor.Supervisor``).

``spawn`` starts the vkernel (or ``checkpt -r``) on a fresh pty and books it in the ledger;
``check_process`` notices its exit; ``read_console`` appends every byte to ``console.log`` and
feeds the console monitor, whose events the supervisor acts on. Nothing is split or grepped
here: the monitor's ``line`` events carry the transcript (the client's ``out`` stream, the tail
kept for results, the guest shell's output and sentinels, captured ddb output), and its
``unknown_prompt`` event is root's first shell before the agent set a prompt of its own.
"""
import errno
import os
import pty
import selectors
import signal
import subprocess

from . import procs
from .supervisor_boot import PRE_SHELL


def select_writable(fd):
    import select
    select.select([], [fd], [], 1.0)


class VkernelConsole:
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
        self.spawned_at = self.last_output = self.last_progress = self.clock()
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
        self.last_output = self.clock()
        if self.times is not None:  # "arrival offset length", for benchmarks/session.py
            self.times.write(f"{self.last_output:.6f} {self.console_bytes} {len(data)}\n")
        self.console_bytes += len(data)
        for event in self.monitor.feed(data):
            if event.kind == "line":
                self.on_line(event.data["line"])
            elif event.kind == "unknown_prompt":
                self.on_unknown_prompt()
            else:
                self.on_event(event)
        return True

    def on_unknown_prompt(self):
        """Until the agent's own prompt is set, root's shell prompt (csh's ``vkernel# ``,
        sh's ``# ``, see ``login``) is one the monitor was not told about."""
        if not self.crash and self.guest.state in PRE_SHELL:
            self.on_guest_prompt("shell_prompt")

    def on_line(self, line):
        if not self.tail or line != self.tail[-1]:
            self.last_progress = self.clock()
        self.tail.append(line)
        self.to_op({"out": line})
        if self.capturing:
            self.trace_lines.append(line)
        self.guest.on_line(line)
        if self.guest.state in PRE_SHELL and self.finder.on_line(line) and not self.crash:
            self.on_guest_prompt("shell_prompt")  # a quiet console proved to be a shell

    def book_milestone(self, data):
        """The monitor's ``memory_file`` and ``tap_unit`` milestones: what the vkernel itself
        created goes into the ledger as soon as it is named."""
        name = data.get("name")
        if name == "memory_file" and data.get("path"):
            path = os.path.join(self.session.dir, data["path"])
            self.ledger.allocate("file", path=path, role="memory image")
        elif name == "tap_unit" and self.creates_taps():
            unit = str(data.get("unit"))
            if unit not in self.taps_booked:
                # only an "auto" -I clones its tap; a tap the admin named stays theirs, and a
                # restore that reopens the same unit books nothing new
                self.taps_booked.add(unit)
                self.ledger.allocate("tap", name=f"tap{unit}")
