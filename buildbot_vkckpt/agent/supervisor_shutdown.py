"""The supervisor's ``shutdown``: halt the guest, else SIGTERM, else SIGKILL.

A ready guest shell is asked to ``halt`` (deadline: half the timeout); a crashed, busy or hung
guest gets SIGTERM (deadline: half the timeout, at least 2 s, or TERM_SILENCE seconds without
console output — a hung guest, or one sitting in ddb, never services SIGTERM); then SIGKILL
(5 s). A shutdown abandons whatever other request runs, and a failure does not end it.
"""
import signal

from . import procs
from .events import Outcome, result_event
from .guest import READY
from .supervisor_op import Operation

TERM_SILENCE = 3.0       # after SIGTERM, a vkernel that prints nothing this long gets SIGKILL
KILL_WAIT = 5.0


class Shutdown(Operation):
    kind = "shutdown"
    ends_on_failure = False

    @classmethod
    def start(cls, sup, sock, req, now):
        if sup.op is not None and sup.op.kind != "shutdown":
            sup.to_op({"out": "vkckpt: shutdown requested; abandoning " + sup.op.kind})
            sup.finish(Outcome.infrastructure(
                f"{sup.op.kind} interrupted by shutdown", "none needed").to_event())
        timeout = float(req.get("timeout", 60))
        sup.parked = None
        sup.op = op = cls(sock, {"timeout": timeout}, now)
        if sup.proc is None or sup.exit_status is not None:
            sup.finish(result_event("ok", "no vkernel was running", details=sup.status()))
            return
        if sup.guest.state == READY and not sup.crash:
            sup.emit({"ev": "phase", "name": "shutdown", "how": "halt"})
            sup.write_console(b"halt\r")
            op.stage = "halt"
            op.stage_deadline = now + timeout / 2
        else:
            op.sigterm(sup, now)

    def sigterm(self, sup, now):
        """SIGTERM to the vkernel child (the pidfile's pid): the GSoC 2013 fork-wrapper parent
        does not forward it and would die leaving the child running (reference §23); master's
        parent forwards it, so the child is the right target on every flavour."""
        target = sup.target_pid()
        sup.emit({"ev": "phase", "name": "shutdown", "how": "SIGTERM", "pid": target})
        procs.signal_pid(target, signal.SIGTERM)
        self.stage = "term"
        self.stage_deadline = now + max(2.0, self.params["timeout"] / 2)
        self.params["term_sent"] = now

    def sigkill(self, sup, now):
        self.stage = "kill"
        self.stage_deadline = now + KILL_WAIT
        sup.emit({"ev": "phase", "name": "shutdown", "how": "SIGKILL"})
        sup.stop_vkernel()

    def survived(self, sup, now):
        sup.finish(Outcome.infrastructure(
            "the vkernel survived SIGKILL", "check the host for a stuck process",
            pid=sup.proc.pid).to_event())

    def deadlines(self, sup):
        if not self.stage_deadline:
            return []
        if self.stage == "halt":
            return [(self.stage_deadline, self.sigterm)]
        if self.stage == "term":
            silent = max(self.params["term_sent"], sup.last_output or 0.0) + TERM_SILENCE
            return [(self.stage_deadline, self.sigkill), (silent, self.sigkill)]
        return [(self.stage_deadline, self.survived)]

    def on_exit(self, sup, rc):
        how = "halted cleanly" if sup.halt_seen else f"stopped ({self.stage})"
        sup.finish(result_event("ok", f"vkernel {how}", details={
            "exit_status": rc, "how": self.stage, "tail": sup.tail_lines()}))
