"""The supervisor's ``exec``: one guest command, wrapped with a sentinel (``guest``).

Deadline: ``timeout`` seconds after the command was typed. A command that runs out of time
(or stalls the console) gets ^C so the shell stays usable; the shell then has INTERRUPT_WAIT
seconds to give its prompt back.
"""
from .events import Outcome, result_event
from .guest import READY, RUNNING
from .supervisor_op import TAIL, Operation

INTERRUPT_WAIT = 5.0     # a timed-out guest command gets this long to give the shell back


class Exec(Operation):
    kind = "exec"
    stall_times_out = True

    @classmethod
    def start(cls, sup, sock, req, now):
        if sup.refuse_unless_running(sock, "boot the vkernel first"):
            return
        if sup.guest.state != READY:
            sup.send(sock, {"result": Outcome.infrastructure(
                f"the guest shell is not ready ({sup.guest.state})",
                "boot the vkernel first and run one guest command at a time").to_event()})
            return
        cmd = req.get("cmd") or ""
        sup.op = cls(sock, {"timeout": float(req.get("timeout", 600)), "cmd": cmd}, now)
        try:
            sup.write_console(sup.guest.command(cmd))
        except ValueError as exc:
            sup.finish(Outcome.infrastructure(str(exc), "pass one shell line").to_event())

    # --- time -----------------------------------------------------------------------------
    def deadlines(self, sup):
        if self.stage == "interrupt":
            return [(self.stage_deadline, lambda sup, now: sup.finish_timeout(
                self.params["why"], interrupted=False))]
        timeout = self.params["timeout"]
        return [self.timeout_rule(self.started + timeout, f"still running after {timeout:g} s")]

    def timeout(self, sup, why):
        why = self.explain(sup, why)
        if sup.guest.state != RUNNING:
            sup.finish_timeout(why)
            return
        self.params["why"] = why
        self.stage, self.stage_deadline = "interrupt", sup.clock() + INTERRUPT_WAIT
        sup.emit({"ev": "info", "interrupt": "^C", "cmd": self.params["cmd"]})
        sup.write_console(sup.guest.interrupt())

    # --- events ---------------------------------------------------------------------------
    def on_shell_ready(self, sup):
        if self.stage == "interrupt":
            sup.finish_timeout(self.params["why"], interrupted=True,
                               output_tail=sup.guest.output[-TAIL:])
            return
        elapsed = sup.clock() - self.started
        sup.emit({"ev": "metric", "name": "exec_time", "value": round(elapsed, 3),
                  "unit": "s"})
        status = sup.guest.status
        details = {"status": status, "cmd": self.params["cmd"],
                   "output_tail": sup.guest.output[-TAIL:]}
        if status == 0:
            sup.finish(result_event("ok", "guest command succeeded", details=details))
        else:
            sup.finish(result_event("failure", f"guest command exited {status}", "test",
                                    details=details))
