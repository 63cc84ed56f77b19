"""The supervisor's ``checkpoint`` and ``restore`` operations.

``checkpoint`` sends SIGCKPTEXIT to the vkernel child and waits for it to exit (reference §19):
exit 0 parks the session for ``restore``; a failed save wedges the vkernel, which is killed; a
stock vkernel dies by the signal. Deadline: ``timeout`` seconds after the signal, then the
vkernel is killed.

``restore`` runs ``checkpt -r FILE`` on a fresh pty as the new vkernel process and proves the
frozen guest shell answers a sentinel. Deadline: ``timeout`` seconds for both (``restoring``,
then ``checking``); a hung restore is looked at in ddb first (``LooksInDdb``).
"""
import errno
import os
import shutil

from . import procs
from .diagnosis import CHECKPT_EXIT1_FIX, CKPT_HOST_ERRORS, THAW_EPERM_FIX
from .events import Outcome, result_event
from .procs import SIGCKPTEXIT
from .supervisor_op import LooksInDdb, Operation, describe_exit


class Checkpoint(Operation):
    kind = "checkpoint"

    @classmethod
    def start(cls, sup, sock, req, now):
        if sup.refuse_unless_running(sock, "boot the vkernel (or restore its checkpoint) first"):
            return
        target = sup.target_pid()
        if not sup.restored and target == sup.proc.pid:
            # no child in the pidfile (a guest reboot in progress): signal 34's default action
            # would checkpoint and kill the fork wrapper and orphan the child (reference §7, §15)
            sup.send(sock, {"result": Outcome.infrastructure(
                "the vkernel child is not known (no pidfile): not signalling the fork wrapper",
                "wait for the guest to finish rebooting, then checkpoint again").to_event()})
            return
        sup.op = op = cls(sock, {"timeout": float(req.get("timeout", 600)),
                                 "target": target}, now)
        sup.emit({"ev": "phase", "name": "checkpoint"})
        sup.emit({"ev": "info", "signal": SIGCKPTEXIT, "pid": target})
        op.params["sent"] = sup.clock()
        if not procs.signal_pid(target, SIGCKPTEXIT):
            sup.finish(Outcome.infrastructure(
                f"the vkernel process {target} is gone", "boot the vkernel again").to_event())

    def deadlines(self, sup):
        return [(self.started + self.params["timeout"], self.expire)]

    def expire(self, sup, now):
        sup.finish_timeout(f"the vkernel did not exit within {self.params['timeout']:g} s "
                           f"of SIGCKPTEXIT; last line: {sup.last_line()}")
        sup.stop_vkernel()

    def on_event(self, sup, event):
        if event.kind != "ckpt_save_failed":
            return super().on_event(sup, event)
        self.save_failed(sup, event)
        return True

    def save_failed(self, sup, event):
        """``<prog>: Couldn't save checkpoint file: <strerror>``: the handler returned without
        restarting its CPUs, so the vkernel is wedged (reference §19): kill it."""
        error = (event.data.get("error") or "").strip()
        details = {"error": error, "message": event.text.strip(), "tail": sup.tail_lines(),
                   "seconds": round(sup.clock() - self.params["sent"], 3)}
        known = CKPT_HOST_ERRORS.get(error)
        if known:
            result = Outcome.infrastructure(known[0], known[1], **details).to_event()
        else:
            result = Outcome.kernel(f"checkpoint failed: Couldn't save checkpoint file: "
                                    f"{error or event.text.strip()}", **details).to_event()
        sup.finish(result)
        sup.stop_vkernel()

    def on_exit(self, sup, rc):
        """The vkernel exited while a checkpoint was asked for: written (0), or killed."""
        seconds = round(sup.clock() - self.params["sent"], 3)
        details = {"seconds": seconds, "exit_status": rc, "pid": self.params["target"],
                   "tail": sup.tail_lines()}
        if rc == 0 and sup.halt_seen:  # exit 0 after a halt is not a checkpoint (§7, §22)
            sup.finish(Outcome.kernel(
                "the vkernel halted instead of checkpointing; last line: "
                f"{sup.last_line()}", **details).to_event())
        elif rc == 0:
            sup.parked = {"seconds": seconds, "at": sup.clock()}
            sup.finish(result_event("ok", f"the vkernel exited {seconds:.1f} s after "
                                    "SIGCKPTEXIT", details=details))
        elif rc == -SIGCKPTEXIT:
            sup.finish(Outcome.kernel(
                "checkpoint killed the vkernel: it died by signal 34, it has no checkpoint "
                "handler (stock DragonFly)", **details).to_event())
        else:
            sup.finish(Outcome.kernel(
                f"the vkernel {describe_exit(rc)} after SIGCKPTEXIT; last line: "
                f"{sup.last_line()}", **details).to_event())


class Restore(LooksInDdb):
    kind = "restore"

    @classmethod
    def start(cls, sup, sock, req, now):
        if sup.parked is None:
            sup.send(sock, {"result": Outcome.infrastructure(
                "no checkpointed vkernel waits for a restore in this session",
                "run checkpoint first (a failed or missing checkpoint ends the session)"
            ).to_event()})
            return
        path = os.path.abspath(os.path.join(sup.session.dir, str(req.get("file") or "")))
        checkpt = req.get("checkpt") or shutil.which("checkpt") or "/usr/bin/checkpt"
        sup.op = op = cls(sock, {"timeout": float(req.get("timeout", 300)), "file": path}, now)
        op.stage = "restoring"
        sup.parked = None
        sup.restored = True
        sup.exit_status = None
        sup.crash, sup.trace_state, sup.trace_lines, sup.frames = None, None, [], []
        sup.halt_seen = False
        sup.monitor.drop_partial()
        try:
            sup.spawn([checkpt, "-r", path], phase="restore", restored_from=path)
        except OSError as exc:
            sup.exit_status = -1
            sup.finish(Outcome.infrastructure(
                f"cannot run {checkpt}: {exc.strerror or exc}",
                "install checkpt(1) (usr.bin/checkpt) on the host", argv=[checkpt]).to_event())

    # --- time -----------------------------------------------------------------------------
    def deadlines(self, sup):
        if self.stage == "hang-ddb":
            return self.hang_rules()
        if self.stage not in ("restoring", "checking"):
            return []
        waiting = ("no 'Restored from checkpoint...'" if self.stage == "restoring"
                   else "the guest shell did not answer")
        timeout = self.params["timeout"]
        return [self.timeout_rule(self.started + timeout, f"{waiting} within {timeout:g} s")]

    # --- events ---------------------------------------------------------------------------
    def on_event(self, sup, event):
        kind, data = event.kind, event.data
        if kind == "thaw_failed":
            what = (f"thaw failed error {data['errno']} {data.get('message') or ''}".strip()
                    if data.get("errno") is not None else event.text.strip())
            if data.get("errno") == errno.EPERM:  # a permission, not the kernel (§14)
                sup.finish(Outcome.infrastructure(
                    f"restore failed: {what}", THAW_EPERM_FIX,
                    errno=data.get("errno"), tail=sup.tail_lines()).to_event())
            else:
                sup.finish(Outcome.kernel(f"restore failed: {what}", errno=data.get("errno"),
                                          tail=sup.tail_lines()).to_event())
        elif kind == "restored":
            # prove the frozen shell answers (still logged in, the same prompt)
            self.params["restored_at"] = sup.clock()
            self.stage = "checking"
            sup.write_console(sup.guest.start_check())
        elif kind == "restore_netif_failed":
            self.params.setdefault("netif", []).append(data.get("message"))
        else:
            return super().on_event(sup, event)
        return True

    def on_shell_ready(self, sup):
        if self.stage != "checking":
            return
        now = sup.clock()
        restore_s = round(self.params["restored_at"] - self.started, 3)
        console_s = round(now - self.started, 3)
        summary = f"restored in {restore_s:.1f} s, guest shell answered after {console_s:.1f} s"
        netif = self.params.get("netif") or []
        if netif:  # the guest is back; verify's network check decides what that means
            summary += f" · network not restored: {netif[-1]}"
        sup.finish(result_event(
            "ok", summary,
            details={"restore_seconds": restore_s, "console_seconds": console_s,
                     "pid": sup.proc.pid, "file": self.params["file"], "netif_errors": netif}))

    def on_exit(self, sup, rc):
        if self.stage == "hang-ddb":  # SIGQUIT killed it
            self.hang_done(sup)
        elif rc == 1:  # usage, or "unable to open <file>" (reference §16): not the kernel
            sup.finish(Outcome.infrastructure(
                f"restore failed: checkpt exited 1: {sup.last_line()}", CHECKPT_EXIT1_FIX,
                exit_status=rc, tail=sup.tail_lines()).to_event())
        else:
            sup.finish(Outcome.kernel(
                f"restore failed: checkpt {describe_exit(rc)}; last line: {sup.last_line()}",
                exit_status=rc, tail=sup.tail_lines()).to_event())
