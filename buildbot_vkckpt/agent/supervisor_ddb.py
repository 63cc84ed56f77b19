"""The supervisor's panics and ddb (a mixin of ``supervisor.Supervisor``).

A panic, fatal trap or double fault seen on the console opens a crash: the supervisor waits
for ``db> `` (bounded by DDB_WAIT), asks ddb for ``trace``, then fails whatever op runs with the
backtrace and stops the vkernel (reference/dragonfly.md §8). The ``ddb`` request runs ddb
commands on a healthy vkernel and continues it unless told to stay.
"""
import time

from .events import Outcome, append_journal, result_event

DDB_WAIT = 10.0          # seconds to wait for db> (and the trace) after a panic


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
        self.ddb_deadline = time.monotonic() + DDB_WAIT
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
        op = self.op
        if op is not None and op.kind in ("boot", "restore") and op.stage == "hang-ddb":
            if not self.trace_lines:
                self.ddb_command("trace")
            else:
                self.finish_timeout(op.params["why"], backtrace=self.backtrace()[:60])
        elif op is not None and op.kind == "ddb":
            if op.stage == "capture":
                op.results.append({"cmd": op.params["cmds"][len(op.results)],
                                   "lines": self.ddb_output()})
            op.stage = "capture"
            if len(op.results) < len(op.params["cmds"]):
                self.ddb_command(op.params["cmds"][len(op.results)])
                return
            if not op.params["stay"]:
                self.write_console(b"continue\r")
            lines = [ln for r in op.results for ln in r["lines"]]
            names = ", ".join(r["cmd"] for r in op.results)
            self.finish(result_event("ok", f"ddb {names}: {len(lines)} lines"
                                     + ("" if op.params["stay"] else " · continued"),
                                     details={"lines": lines, "commands": op.results}))

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
        if self.op is not None and self.op.kind in ("boot", "exec", "ddb", "checkpoint",
                                                    "restore"):
            self.finish(result)
        elif self.failure is None:
            self.failure = result
            append_journal(self.session.events, result)
        self.stop_vkernel()
