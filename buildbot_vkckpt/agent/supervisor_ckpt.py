"""The supervisor's checkpoint and restore requests (a mixin of ``supervisor.Supervisor``).

``checkpoint`` sends SIGCKPTEXIT to the vkernel child and waits for it to exit (reference §19):
exit 0 parks the session for ``restore``; a failed save wedges the vkernel, which is killed; a
stock vkernel dies by the signal. ``restore`` runs ``checkpt -r FILE`` on a fresh pty as the new
vkernel process and proves the frozen guest shell answers a sentinel.
"""
import os
import shutil
import signal
import time

from . import procs
from .diagnosis import CORE_LIMIT_FIX
from .events import Outcome, result_event
from .procs import SIGCKPTEXIT

# strerror texts of a failed checkpoint write that an admin fixes (DragonFly's, then Linux's)
CKPT_HOST_ERRORS = {
    "No space left on device": (
        "the checkpoint file did not fit: No space left on device",
        "free disk space where kern.ckptfile points (the session dir), or move the session dir"),
    "Result too large": (
        "RLIMIT_CORE of the vkernel is 0, checkpoint files cannot be written (ERANGE)",
        CORE_LIMIT_FIX),
    # kern.ckptgroup applies to root too (reference §23): the kernel refuses with EPERM
    "Operation not permitted": (
        "the host refused the checkpoint (EPERM): the vkernel's user is not in "
        "kern.ckptgroup", "sysctl kern.ckptgroup=-1, or the group of the agent's user "
        "(root is not exempt)"),
    # a file larger than the soft RLIMIT_CORE (FreeBSD-derived core writer; not observed)
    "Bad address": (
        "the checkpoint file did not fit under the vkernel's core size limit (EFAULT)",
        CORE_LIMIT_FIX),
    "Numerical result out of range": (
        "RLIMIT_CORE of the vkernel is 0, checkpoint files cannot be written (ERANGE)",
        CORE_LIMIT_FIX),
}


def describe_exit(rc):
    if rc is not None and rc < 0:
        try:
            return f"was killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"was killed by signal {-rc}"
    return f"exited (status {rc})"


class Op:
    """One client request in progress."""

    def __init__(self, kind, client, params, now):
        self.kind = kind
        self.client = client
        self.params = params
        self.started = now
        self.stage = None
        self.stage_deadline = None


class CheckpointOps:
    def start_checkpoint(self, sock, req, now):
        if self.refuse_unless_running(sock, "boot the vkernel (or restore its checkpoint) first"):
            return
        target = self.target_pid()
        if not self.restored and target == self.proc.pid:
            # no child in the pidfile (a guest reboot in progress): signal 34's default action
            # would checkpoint and kill the fork wrapper and orphan the child (reference §7, §15)
            self.send(sock, {"result": Outcome.infrastructure(
                "the vkernel child is not known (no pidfile): not signalling the fork wrapper",
                "wait for the guest to finish rebooting, then checkpoint again").to_event()})
            return
        self.op = Op("checkpoint", sock, {"timeout": float(req.get("timeout", 600)),
                                          "target": target}, now)
        self.emit({"ev": "phase", "name": "checkpoint"})
        self.emit({"ev": "info", "signal": SIGCKPTEXIT, "pid": target})
        self.op.params["sent"] = time.monotonic()
        if not procs.signal_pid(target, SIGCKPTEXIT):
            self.finish(Outcome.infrastructure(
                f"the vkernel process {target} is gone", "boot the vkernel again").to_event())

    def checkpoint_exited(self, rc):
        """The vkernel exited while a checkpoint was asked for: written (0), or killed."""
        op = self.op
        seconds = round(time.monotonic() - op.params["sent"], 3)
        details = {"seconds": seconds, "exit_status": rc, "pid": op.params["target"],
                   "tail": self.tail_lines()}
        if rc == 0 and self.halt_seen:  # exit 0 after a halt is not a checkpoint (§7, §22)
            self.finish(Outcome.kernel(
                "the vkernel halted instead of checkpointing; last line: "
                f"{self.last_line()}", **details).to_event())
        elif rc == 0:
            self.parked = {"seconds": seconds, "at": time.monotonic()}
            self.finish(result_event("ok", f"the vkernel exited {seconds:.1f} s after "
                                     "SIGCKPTEXIT", details=details))
        elif rc == -SIGCKPTEXIT:
            self.finish(Outcome.kernel(
                "checkpoint killed the vkernel: it died by signal 34, it has no checkpoint "
                "handler (stock DragonFly)", **details).to_event())
        else:
            self.finish(Outcome.kernel(
                f"the vkernel {describe_exit(rc)} after SIGCKPTEXIT; last line: "
                f"{self.last_line()}", **details).to_event())

    def checkpoint_save_failed(self, event):
        """``<prog>: Couldn't save checkpoint file: <strerror>``: the handler returned without
        restarting its CPUs, so the vkernel is wedged (reference §19): kill it."""
        error = (event.data.get("error") or "").strip()
        details = {"error": error, "message": event.text.strip(), "tail": self.tail_lines(),
                   "seconds": round(time.monotonic() - self.op.params["sent"], 3)}
        known = CKPT_HOST_ERRORS.get(error)
        if known:
            result = Outcome.infrastructure(known[0], known[1], **details).to_event()
        else:
            result = Outcome.kernel(f"checkpoint failed: Couldn't save checkpoint file: "
                                    f"{error or event.text.strip()}", **details).to_event()
        self.finish(result)
        self.stop_vkernel()

    def start_restore(self, sock, req, now):
        if self.parked is None:
            self.send(sock, {"result": Outcome.infrastructure(
                "no checkpointed vkernel waits for a restore in this session",
                "run checkpoint first (a failed or missing checkpoint ends the session)"
            ).to_event()})
            return
        path = os.path.abspath(os.path.join(self.session.dir, str(req.get("file") or "")))
        checkpt = req.get("checkpt") or shutil.which("checkpt") or "/usr/bin/checkpt"
        self.op = Op("restore", sock, {"timeout": float(req.get("timeout", 300)),
                                       "file": path}, now)
        self.op.stage = "restoring"
        self.parked = None
        self.restored = True
        self.exit_status = None
        self.crash, self.trace_state, self.trace_lines, self.frames = None, None, [], []
        self.halt_seen = False
        self.partial, self.partial_prompt = b"", False
        try:
            self.spawn([checkpt, "-r", path], phase="restore", restored_from=path)
        except OSError as exc:
            self.exit_status = -1
            self.finish(Outcome.infrastructure(
                f"cannot run {checkpt}: {exc.strerror or exc}",
                "install checkpt(1) (usr.bin/checkpt) on the host", argv=[checkpt]).to_event())

    def restored_seen(self):
        """``Restored from checkpoint...``: prove the frozen shell answers (still logged in,
        the same prompt) with a sentinel round trip."""
        op = self.op
        op.params["restored_at"] = time.monotonic()
        op.stage = "checking"
        self.write_console(self.guest.start_check())

    def restore_done(self):
        op = self.op
        now = time.monotonic()
        restore_s = round(op.params["restored_at"] - op.started, 3)
        console_s = round(now - op.started, 3)
        summary = f"restored in {restore_s:.1f} s, guest shell answered after {console_s:.1f} s"
        netif = op.params.get("netif") or []
        if netif:  # the guest is back; verify's network check decides what that means
            summary += f" · network not restored: {netif[-1]}"
        self.finish(result_event(
            "ok", summary,
            details={"restore_seconds": restore_s, "console_seconds": console_s,
                     "pid": self.proc.pid, "file": op.params["file"], "netif_errors": netif}))
