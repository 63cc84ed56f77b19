"""The supervisor's panics (``CrashOps``, a mixin of ``supervisor.Supervisor``) and its ``ddb``
operation.

A panic, fatal trap or double fault seen on the console opens a crash: the supervisor waits
for ``db> `` (bounded by DDB_WAIT), asks ddb for ``trace``, then fails whatever op runs with the
backtrace and stops the vkernel (reference/dragonfly.md §8). The ``ddb`` request runs ddb
commands on a healthy vkernel and continues it unless told to stay; its deadline is
``timeout`` seconds from the request.
"""
import signal

from . import procs
from .events import Outcome, append_journal, result_event
from .supervisor_op import Operation

DDB_WAIT = 10.0          # seconds to wait for db> (and the trace) after a panic


class Ddb(Operation):
    kind = "ddb"

    @classmethod
    def start(cls, sup, sock, req, now):
        if sup.proc is None or sup.exit_status is not None:
            sup.send(sock, {"result": Outcome.infrastructure(
                "no vkernel runs in this session", "boot the vkernel first").to_event()})
            return
        if sup.crash is not None:
            sup.send(sock, {"result": sup.crash_result() or Outcome.infrastructure(
                "the vkernel crashed; its trace is being captured", "run shutdown").to_event()})
            return
        cmds = req.get("cmd") or "trace"
        cmds = [cmds] if isinstance(cmds, str) else [str(c) for c in cmds]
        if any("\r" in c or "\n" in c for c in cmds):
            sup.send(sock, {"result": Outcome.infrastructure(
                "a ddb command is one line", "pass one command per argument").to_event()})
            return
        sup.op = op = cls(sock, {"timeout": float(req.get("timeout", 30)), "cmds": cmds,
                                 "stay": bool(req.get("stay"))}, now)
        op.stage = "enter"
        op.results = []
        sup.enter_ddb()

    def deadlines(self, sup):
        timeout = self.params["timeout"]
        return [self.timeout_rule(self.started + timeout, f"still running after {timeout:g} s")]

    def on_ddb_prompt(self, sup):
        params = self.params
        if self.stage == "capture":
            self.results.append({"cmd": params["cmds"][len(self.results)],
                                 "lines": sup.ddb_output()})
        self.stage = "capture"
        if len(self.results) < len(params["cmds"]):
            sup.ddb_command(params["cmds"][len(self.results)])
            return
        if not params["stay"]:
            sup.write_console(b"continue\r")
        lines = [ln for r in self.results for ln in r["lines"]]
        names = ", ".join(r["cmd"] for r in self.results)
        sup.finish(result_event("ok", f"ddb {names}: {len(lines)} lines"
                                + ("" if params["stay"] else " · continued"),
                                details={"lines": lines, "commands": self.results}))


class CrashOps:
    def on_crash(self, event):
        if self.crash is not None:
            return
        data = event.data
        if event.kind == "fatal_trap":
            what = f"fatal trap {data.get('trap')}: {data.get('message') or ''}".strip()
        elif event.kind == "double_fault":
            what = "double fault"
        else:
            what = f"panic: {data.get('message') or event.text}"
        self.crash = {"kind": event.kind, "what": what, **data}
        self.ddb_deadline = self.clock() + DDB_WAIT
        self.emit({"ev": "phase", "name": "ddb"})
        self.write_state()

    def on_ddb_prompt(self):
        self.capturing = False
        if self.crash is not None:
            if self.trace_state is None:
                self.trace_state = "sent"
                self.ddb_command("trace")
            elif self.trace_state == "sent":
                self.trace_state = "done"
                self.crash_done()
            return
        if self.op is not None:
            self.op.on_ddb_prompt(self)

    def enter_ddb(self):
        """^\\ on a real console: SIGQUIT to the vkernel child (its parent ignores it)."""
        self.trace_lines = []
        self.emit({"ev": "phase", "name": "ddb"})
        procs.signal_pid(self.target_pid(), signal.SIGQUIT)

    def ddb_command(self, cmd):
        self.trace_lines = []
        self.capturing = True
        self.write_console(cmd.encode() + b"\r")

    def ddb_output(self):
        """What the last ddb command printed, without its echo and the prompt."""
        lines = [ln for ln in self.trace_lines if ln.strip()
                 and not ln.lstrip().startswith("db>")]
        return lines

    def backtrace(self):
        lines = [ln for ln in self.ddb_output() if ln.strip() != "trace"]
        return lines or [f for f in self.frames if f]

    def crash_result(self):
        if self.crash is None or self.trace_state != "done":
            return None
        captured = "ddb trace captured" if self.trace_lines else "no ddb trace"
        return Outcome.kernel(f"kernel: {self.crash['what']} · {captured}",
                              panic=self.crash.get("message"), crash=self.crash,
                              backtrace=self.backtrace()[:60],
                              tail=self.tail_lines()).to_event()

    def crash_done(self):
        self.trace_state = "done"
        self.ddb_deadline = None
        result = self.crash_result()
        self.emit({"ev": "info", "backtrace": result["details"]["backtrace"]})
        if self.op is not None and self.op.ends_on_failure:
            self.finish(result)
        elif self.failure is None:
            self.failure = result
            append_journal(self.session.events, result)
        self.stop_vkernel()
