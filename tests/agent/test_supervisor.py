"""The supervisor's operations driven alone: a fake clock, console bytes fed through the real
console monitor, no vkernel, no socket, no sleeping.

Each test puts one operation (``supervisor_boot``, ``_exec``, ``_ddb``, ``_ckpt``,
``_shutdown``) in front of the supervisor, moves the clock and checks what the one deadline
model (``Operation.deadlines``) and the monitor's events make of it.
"""
import io
import os
import signal

import pytest

from buildbot_vkckpt.agent import procs, supervisor
from buildbot_vkckpt.agent.guest import READY, RUNNING
from buildbot_vkckpt.agent.procs import SIGCKPTEXIT
from buildbot_vkckpt.agent.supervisor_boot import Boot
from buildbot_vkckpt.agent.supervisor_ckpt import Checkpoint, Restore
from buildbot_vkckpt.agent.supervisor_ddb import DDB_WAIT, Ddb
from buildbot_vkckpt.agent.supervisor_exec import INTERRUPT_WAIT, Exec
from buildbot_vkckpt.agent.supervisor_op import HANG_DDB_WAIT
from buildbot_vkckpt.agent.supervisor_shutdown import TERM_SILENCE, Shutdown

VKERNEL_PID = 999_999_999


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


class Proc:
    pid = VKERNEL_PID


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def signals(monkeypatch):
    sent = []
    monkeypatch.setattr(procs, "signal_pid", lambda pid, sig: sent.append((pid, sig)) or True)
    return sent


@pytest.fixture
def sup(tmp_path, clock, signals):
    s = supervisor.Supervisor(str(tmp_path), ["/boot/kernel/kernel", "-I", "auto:bridge0"],
                              clock=clock)
    s.sent, s.typed = [], []
    s.send = lambda sock, message: s.sent.append(message)
    s.write_console = lambda data: s.typed.append(bytes(data)) if data else None
    s.console = io.BytesIO()
    s.proc = Proc()
    s.spawned_at = s.last_output = s.last_progress = clock()
    r, w = os.pipe()
    os.set_blocking(r, False)
    s.master, s.feed_fd = r, w
    yield s
    os.close(r)
    os.close(w)


def feed(sup, data):
    """Console bytes as the pty would deliver them."""
    os.write(sup.feed_fd, data)
    assert sup.read_console()


def result(sup):
    results = [m["result"] for m in sup.sent if "result" in m]
    assert results, sup.sent
    return results[-1]


def tick(sup, clock, seconds):
    """Let ``seconds`` pass and run the loop's deadline check once."""
    clock.advance(seconds)
    sup.check_deadlines()


def ready_shell(sup):
    """Log in as the supervisor does: login:, root's csh, exec sh, PS1, a sentinel."""
    g = sup.guest
    feed(sup, b"login: ")
    feed(sup, b"root\r\nvkernel# ")
    feed(sup, b"exec /bin/sh\r\n# ")
    feed(sup, g.ps1_command().encode() + b"\r\n" + g.prompt.encode())
    feed(sup, f"echo VKS-{g.token}-1:$?:\r\nVKS-{g.token}-1:0:\r\n{g.prompt}".encode())
    assert g.state == READY


# --- boot ------------------------------------------------------------------------------------
def start_boot(sup, clock, **req):
    Boot.start(sup, "client", dict(req), clock())
    return sup.op


@pytest.fixture
def no_spawn(monkeypatch):
    monkeypatch.setattr(supervisor.Supervisor, "spawn", lambda self, *a, **k: None)
    monkeypatch.setattr(supervisor.Supervisor, "stop_vkernel", lambda self: None)


def test_boot_finds_the_shell_and_reports_its_time(sup, clock, no_spawn):
    sup.proc = None
    start_boot(sup, clock, timeout=600, silence=120)
    sup.proc = Proc()
    clock.advance(12.5)
    ready_shell(sup)
    res = result(sup)
    assert res["status"] == "ok" and res["summary"].startswith("booted in 12.5 s")
    assert res["details"]["prompt"] == sup.guest.prompt and sup.op is None


def test_boot_silence_is_looked_at_in_ddb_then_times_out(sup, clock, signals, no_spawn):
    sup.proc = None
    start_boot(sup, clock, timeout=600, silence=120)
    sup.proc = Proc()
    assert sup.next_timeout() == 120
    tick(sup, clock, 119.9)
    assert sup.op.stage is None
    tick(sup, clock, 0.1)
    assert sup.op.stage == "hang-ddb" and signals == [(VKERNEL_PID, signal.SIGQUIT)]
    assert sup.next_timeout() == HANG_DDB_WAIT
    tick(sup, clock, HANG_DDB_WAIT)
    res = result(sup)
    assert res["kind"] == "timeout" and res["details"]["phase"] == "boot"
    assert res["summary"].startswith("timeout in boot: no console output for 120 s; the boot "
                                     "did not reach the root mount or getty")


def test_boot_in_ddb_prints_its_trace_before_the_timeout(sup, clock, no_spawn):
    sup.proc = None
    start_boot(sup, clock, timeout=600, silence=120)
    sup.proc = Proc()
    tick(sup, clock, 120)
    feed(sup, b"Stopped at Xtimer+0x1\ndb> ")
    assert sup.typed[-1] == b"trace\r"
    feed(sup, b"trace\r\nXtimer() at Xtimer+0x1\ndb> ")
    res = result(sup)
    assert res["kind"] == "timeout" and "Xtimer() at Xtimer+0x1" in res["details"]["backtrace"]


def test_a_quiet_booted_console_gets_sentinels_before_the_silence(sup, clock, no_spawn):
    sup.proc = None
    start_boot(sup, clock, timeout=600, silence=120, quiet=5)
    sup.proc = Proc()
    feed(sup, b"Mounting root from vkd0s1a\n")
    assert sup.next_timeout() == 5
    tick(sup, clock, 5)
    assert sup.typed[-1].startswith(b"echo VKP''-" + sup.guest.token.encode())
    probe = sup.typed[-1].decode().split("''", 1)[1].strip()
    feed(sup, f"weird> echo VKP''{probe}\r\nVKP{probe}\r\n".encode())
    assert sup.guest.state == "sh-sent" and sup.typed[-1] == b"exec /bin/sh\r"


def test_boot_progress_timeout_counts_from_the_last_new_line(sup, clock, no_spawn):
    sup.proc = None
    start_boot(sup, clock, timeout=30, silence=120)
    sup.proc = Proc()
    for _ in range(4):
        tick(sup, clock, 10)
        feed(sup, b"same line\n")   # output, but no progress after the first (t=10)
    assert sup.op.stage == "hang-ddb"
    assert "no boot progress for 30 s" in sup.op.params["why"]


# --- exec ------------------------------------------------------------------------------------
def test_exec_reports_the_status_and_its_time(sup, clock):
    ready_shell(sup)
    Exec.start(sup, "client", {"cmd": "false", "timeout": 60}, clock())
    assert sup.typed[-1].startswith(b"false; echo VKS-")
    clock.advance(2)
    g = sup.guest
    feed(sup, f"false; echo VKS-{g.token}-2:$?:\r\nVKS-{g.token}-2:1:\r\n{g.prompt}".encode())
    res = result(sup)
    assert (res["status"], res["kind"], res["summary"]) == ("failure", "test",
                                                           "guest command exited 1")
    metric = [m["event"] for m in sup.sent if m.get("event", {}).get("name") == "exec_time"]
    assert metric[-1]["value"] == 2.0


def test_a_timed_out_command_is_interrupted_and_the_shell_kept(sup, clock):
    ready_shell(sup)
    Exec.start(sup, "client", {"cmd": "sleep 100", "timeout": 60}, clock())
    assert sup.guest.state == RUNNING and sup.next_timeout() == 60
    tick(sup, clock, 60)
    assert sup.typed[-1] == b"\x03" and sup.op.stage == "interrupt"
    assert sup.next_timeout() == INTERRUPT_WAIT
    g = sup.guest
    feed(sup, f"^C\r\n{g.prompt}".encode())                       # the prompt is back
    feed(sup, f"echo VKS-{g.token}-3:$?:\r\nVKS-{g.token}-3:130:\r\n{g.prompt}".encode())
    res = result(sup)
    assert res["kind"] == "timeout" and res["details"]["interrupted"] is True
    assert res["summary"].startswith("timeout in exec: still running after 60 s")
    assert sup.guest.state == READY


def test_a_command_that_never_gives_the_shell_back(sup, clock):
    ready_shell(sup)
    Exec.start(sup, "client", {"cmd": "sleep 100", "timeout": 60}, clock())
    tick(sup, clock, 60)
    tick(sup, clock, INTERRUPT_WAIT)
    res = result(sup)
    assert res["kind"] == "timeout" and res["details"]["interrupted"] is False


def test_a_stalled_console_times_the_command_out_at_once(sup, clock):
    ready_shell(sup)
    Exec.start(sup, "client", {"cmd": "loop", "timeout": 600}, clock())
    feed(sup, b"\n" + b"again\n" * 10)          # the first newline ends the prompt's line
    assert sup.op.stage == "interrupt" and "console stalled" in sup.op.params["why"]


# --- ddb -------------------------------------------------------------------------------------
def test_ddb_runs_its_commands_and_continues(sup, clock, signals):
    Ddb.start(sup, "client", {"cmd": ["trace", "ps"]}, clock())
    assert signals == [(VKERNEL_PID, signal.SIGQUIT)]
    feed(sup, b"Stopped at foo+0x1\ndb> ")
    assert sup.typed[-1] == b"trace\r"
    feed(sup, b"trace\r\nfoo() at foo+0x1\ndb> ")
    assert sup.typed[-1] == b"ps\r"
    feed(sup, b"ps\r\n  pid  proc\ndb> ")
    res = result(sup)
    assert sup.typed[-1] == b"continue\r" and res["summary"] == "ddb trace, ps: 2 lines · continued"


def test_ddb_that_never_prompts_times_out(sup, clock):
    Ddb.start(sup, "client", {"timeout": 30}, clock())
    assert sup.next_timeout() == 30
    tick(sup, clock, 30)
    res = result(sup)
    assert res["kind"] == "timeout" and res["summary"].startswith(
        "timeout in ddb: still running after 30 s")


# --- crashes ---------------------------------------------------------------------------------
def test_a_panic_fails_the_op_with_its_trace(sup, clock, signals):
    ready_shell(sup)
    Exec.start(sup, "client", {"cmd": "crashme", "timeout": 600}, clock())
    feed(sup, b"panic: vm_fault: fault on nofault entry\ncpuid = 0\n")
    assert sup.crash and sup.next_timeout() == DDB_WAIT
    feed(sup, b"db> ")
    assert sup.typed[-1] == b"trace\r"
    feed(sup, b"trace\r\nvm_fault() at vm_fault+0x10\ndb> ")
    res = result(sup)
    assert res["kind"] == "kernel" and res["summary"].startswith(
        "kernel: panic: vm_fault: fault on nofault entry · ddb trace captured")
    assert (VKERNEL_PID, signal.SIGKILL) in signals


def test_a_panic_without_db_ends_after_its_wait(sup, clock):
    ready_shell(sup)
    Exec.start(sup, "client", {"cmd": "crashme", "timeout": 600}, clock())
    feed(sup, b"panic: boom\ncpuid = 0\n")
    tick(sup, clock, DDB_WAIT)
    assert result(sup)["summary"] == "kernel: panic: boom · no ddb trace"


# --- checkpoint and restore ------------------------------------------------------------------
def test_checkpoint_signals_the_child_and_parks_on_exit_0(sup, clock, signals, tmp_path):
    (tmp_path / "vkernel.pid").write_text("4242\n")
    Checkpoint.start(sup, "client", {"timeout": 60}, clock())
    assert signals == [(4242, SIGCKPTEXIT)]
    clock.advance(1.5)
    sup.exit_status = 0
    sup.on_vkernel_exit(0)
    res = result(sup)
    assert res["status"] == "ok" and res["details"]["seconds"] == 1.5
    assert sup.parked == {"seconds": 1.5, "at": clock()}


def test_checkpoint_deadline_kills_the_vkernel(sup, clock, signals, tmp_path):
    (tmp_path / "vkernel.pid").write_text("4242\n")
    Checkpoint.start(sup, "client", {"timeout": 60}, clock())
    assert sup.next_timeout() == 60
    tick(sup, clock, 60)
    res = result(sup)
    assert res["kind"] == "timeout" and "did not exit within 60 s of SIGCKPTEXIT" in \
        res["summary"]
    assert (4242, signal.SIGKILL) in signals


def test_a_failed_save_is_the_host_when_the_disk_is_full(sup, clock, tmp_path):
    (tmp_path / "vkernel.pid").write_text("4242\n")
    Checkpoint.start(sup, "client", {"timeout": 60}, clock())
    feed(sup, b"kernel: Couldn't save checkpoint file: No space left on device\n")
    res = result(sup)
    assert res["kind"] == "infrastructure" and "No space left" in res["summary"]


def test_restore_proves_the_shell_answers(sup, clock, no_spawn):
    ready_shell(sup)
    sup.parked = {"seconds": 1.0, "at": clock()}
    Restore.start(sup, "client", {"file": "kernel.ckpt", "timeout": 300}, clock())
    assert sup.op.stage == "restoring" and sup.next_timeout() == 300
    clock.advance(2)
    feed(sup, b"Restored from checkpoint kernel.ckpt\n")
    assert sup.op.stage == "checking"
    clock.advance(1)
    g = sup.guest
    feed(sup, f"echo VKS-{g.token}-2:$?:\r\nVKS-{g.token}-2:0:\r\n{g.prompt}".encode())
    res = result(sup)
    assert res["summary"] == "restored in 2.0 s, guest shell answered after 3.0 s"


def test_a_restore_that_never_says_restored_times_out_after_ddb(sup, clock, signals, no_spawn):
    sup.parked = {"seconds": 1.0, "at": clock()}
    Restore.start(sup, "client", {"file": "kernel.ckpt", "timeout": 300}, clock())
    tick(sup, clock, 300)
    assert sup.op.stage == "hang-ddb" and signals[-1] == (VKERNEL_PID, signal.SIGQUIT)
    tick(sup, clock, HANG_DDB_WAIT)
    res = result(sup)
    assert res["summary"].startswith("timeout in restore: no 'Restored from checkpoint...' "
                                     "within 300 s")


# --- shutdown --------------------------------------------------------------------------------
def test_shutdown_halts_then_terms_then_kills(sup, clock, signals):
    ready_shell(sup)
    Shutdown.start(sup, "client", {"timeout": 20}, clock())
    assert sup.typed[-1] == b"halt\r" and sup.next_timeout() == 10
    tick(sup, clock, 10)
    assert sup.op.stage == "term" and signals[-1] == (VKERNEL_PID, signal.SIGTERM)
    assert sup.next_timeout() == TERM_SILENCE        # a silent guest does not service SIGTERM
    tick(sup, clock, TERM_SILENCE)
    assert sup.op.stage == "kill" and signals[-1] == (VKERNEL_PID, signal.SIGKILL)
    tick(sup, clock, 5)
    assert result(sup)["summary"] == "the vkernel survived SIGKILL"


def test_shutdown_abandons_a_running_command(sup, clock, signals):
    ready_shell(sup)
    Exec.start(sup, "client", {"cmd": "sleep 100", "timeout": 600}, clock())
    Shutdown.start(sup, "client2", {"timeout": 20}, clock())
    assert any(m.get("result", {}).get("summary") == "exec interrupted by shutdown"
               for m in sup.sent)
    assert sup.op.kind == "shutdown" and sup.op.stage == "term"
    sup.exit_status = -15
    sup.on_vkernel_exit(-15)
    assert result(sup)["summary"] == "vkernel stopped (term)"


# --- what the monitor names goes into the ledger ---------------------------------------------
def test_memory_file_and_auto_tap_are_booked_from_monitor_events(sup, tmp_path):
    feed(sup, b"/boot/kernel/kernel: Using memory file: memimg.000000\nTAP UNIT 3\n"
              b"TAP UNIT 3\n")
    text = (tmp_path / "ledger.jsonl").read_text()
    assert str(tmp_path / "memimg.000000") in text
    assert text.count("tap3") == 1


# --- refusals: what a real DragonFly host needs and the simulator rarely reaches -------------
def op(sup, kind, clock, **params):
    sup.op = supervisor.Op(kind, "client", dict(params), clock())


def test_checkpoint_never_signals_the_fork_wrapper(sup, clock):
    # no pidfile: the only known pid is the fork wrapper's
    sup.start_checkpoint("client", {"op": "checkpoint"}, clock())
    res = result(sup)
    assert (res["status"], res["kind"]) == ("infrastructure", "infrastructure")
    assert "not signalling the fork wrapper" in res["summary"] and sup.op is None


def test_checkpoint_refused_while_a_crash_is_captured(sup, clock):
    sup.crash = {"kind": "panic", "what": "panic: vm_fault"}
    sup.start_checkpoint("client", {"op": "checkpoint"}, clock())
    assert result(sup)["summary"] == "kernel: panic: vm_fault · capturing the ddb trace"


def test_exit_0_after_a_halt_is_not_a_checkpoint(sup, clock):
    op(sup, "checkpoint", clock, sent=clock(), target=VKERNEL_PID)
    sup.halt_seen = True
    sup.checkpoint_exited(0)
    res = result(sup)
    assert res["kind"] == "kernel" and res["summary"].startswith(
        "the vkernel halted instead of checkpointing") and sup.parked is None


def test_checkpt_exit_1_is_the_host_not_the_kernel(sup, clock):
    op(sup, "restore", clock, file="/nonexistent.ckpt")
    sup.on_vkernel_exit(1)
    res = result(sup)
    assert res["kind"] == "infrastructure" and res["summary"].startswith(
        "restore failed: checkpt exited 1")


def test_sigterm_goes_to_the_child_not_the_fork_wrapper(sup, clock, signals, tmp_path):
    """The GSoC 2013 parent does not forward SIGTERM (§23): the pidfile's child gets it."""
    (tmp_path / "vkernel.pid").write_text("424242\n")
    op(sup, "shutdown", clock, timeout=10)
    sup.sigterm(clock())
    assert signals == [(424242, signal.SIGTERM)]


def test_an_orphaned_supervisor_stops_its_vkernel(sup, clock, monkeypatch):
    sup.orphan_timeout = 0.05
    sup.exit_status = None
    sup.last_request = clock() - 1
    started = []
    monkeypatch.setattr(sup, "start_shutdown", lambda sock, req, now: started.append(req))
    assert sup.orphan_deadline() is not None and sup.next_timeout() == 0
    sup.check_orphaned(clock())
    assert started and "no agent command reached the supervisor" in sup.orphaned
    # a request resets the clock
    sup.orphaned, started[:] = None, []
    sup.handle("client", {"op": "status"})
    sup.check_orphaned(clock())
    assert not started


def test_thaw_eperm_is_a_permission_not_the_kernel(sup, clock):
    op(sup, "restore", clock, file="/x.ckpt")
    feed(sup, b"thaw failed error 1 Operation not permitted\n")
    res = result(sup)
    assert res["kind"] == "infrastructure" and "kern.ckptgroup" in res["fix"]


def test_a_vkernel_killed_after_sigckptexit_is_named(sup, clock):
    op(sup, "checkpoint", clock, sent=clock(), target=VKERNEL_PID)
    sup.checkpoint_exited(-9)
    res = result(sup)
    assert res["kind"] == "kernel" and res["summary"].startswith(
        "the vkernel was killed by SIGKILL after SIGCKPTEXIT"), res


def test_a_parked_supervisor_waits_for_its_restore_but_not_forever(tmp_path):
    import time
    sup = supervisor.Supervisor(str(tmp_path), ["/bin/true"])
    sup.proc, sup.exit_status = object(), 0          # the checkpointed vkernel has exited
    sup.parked = {"seconds": 1.0, "at": time.monotonic()}
    assert not sup.finished()
    assert 0 < sup.next_timeout() <= supervisor.PARKED_MAX
    sup.parked["at"] -= supervisor.PARKED_MAX + 1
    assert sup.finished()
    sup.op = object()                                 # never while a request is served
    assert not sup.finished()
