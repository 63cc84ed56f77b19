"""Decisions of probe and the supervisor that a real DragonFly host needs and the simulator
rarely reaches, tested on the functions themselves."""
import io
import time

import pytest

from buildbot_vkckpt.agent import probe, supervisor
from buildbot_vkckpt.agent.events import Emitter
from buildbot_vkckpt.agent.session import Session

GIB = 1 << 30


def checks_of(tmp_path, monkeypatch, argv, sysctls=None, soft=None, free=4 * GIB):
    values = {"kern.ckptgroup": "0", "kern.ckptfile": "%N.ckpt", "vm.vkernel_enable": "1",
              **(sysctls or {})}
    monkeypatch.setattr(probe, "sysctl", values.get)
    monkeypatch.setattr(probe, "handler_check", lambda pid, argv: (True, "handler present"))
    monkeypatch.setattr(probe, "core_limit", lambda pid, status: (soft, "test"))
    monkeypatch.setattr(probe, "free_bytes", lambda directory: free)
    status = {"vkernel_target": 4242, "vkernel_argv": ["/boot/kernel/kernel", *argv]}
    checks, _ = probe.run_checks(Session(str(tmp_path)), status, Emitter(stream=io.StringIO()))
    return {c["name"]: c for c in checks.items}


def test_no_d_flag_is_vmm_unless_the_host_has_no_vmm(tmp_path, monkeypatch):
    assert not checks_of(tmp_path, monkeypatch, ["-m", "1g"])["vmm"]["ok"]
    vmm = checks_of(tmp_path, monkeypatch, ["-m", "1g"], {"hw.vmm.enable": "0"})["vmm"]
    assert vmm["ok"] and "hw.vmm.enable=0" in vmm["text"]


@pytest.mark.parametrize("soft, ok", [(None, True), (2 * GIB, True), (GIB // 2, False)])
def test_soft_core_limit_must_hold_the_guest_memory(tmp_path, monkeypatch, soft, ok):
    rl = checks_of(tmp_path, monkeypatch, ["-m", "1g", "-d"], soft=soft)["RLIMIT_CORE"]
    assert rl["ok"] is ok
    if not ok:
        assert rl["class"] == "infrastructure" and "below the guest memory" in rl["text"]


@pytest.mark.parametrize("free, ok", [(2 * GIB, True), (GIB + GIB // 2, False)])
def test_disk_must_hold_two_checkpoints(tmp_path, monkeypatch, free, ok):
    disk = checks_of(tmp_path, monkeypatch, ["-m", "1g", "-d"], free=free)["disk"]
    assert disk["ok"] is ok


# --- the supervisor -----------------------------------------------------------------------
class Proc:
    pid = 999_999_999


@pytest.fixture
def sup(tmp_path):
    s = supervisor.Supervisor(str(tmp_path), ["/boot/kernel/kernel", "-d"])
    s.proc = Proc()
    s.sent = []
    s.send = lambda sock, message: s.sent.append(message)
    return s


def op(sup, kind, **params):
    sup.op = supervisor.Op(kind, "client", dict(params), time.monotonic())


def answer(sup):
    return sup.sent[-1]["result"]


def test_checkpoint_never_signals_the_fork_wrapper(sup):
    # no pidfile: the only known pid is the fork wrapper's
    sup.start_checkpoint("client", {"op": "checkpoint"}, time.monotonic())
    res = answer(sup)
    assert (res["status"], res["kind"]) == ("infrastructure", "infrastructure")
    assert "not signalling the fork wrapper" in res["summary"] and sup.op is None


def test_checkpoint_refused_while_a_crash_is_captured(sup):
    sup.crash = {"kind": "panic", "what": "panic: vm_fault"}
    sup.start_checkpoint("client", {"op": "checkpoint"}, time.monotonic())
    assert answer(sup)["summary"] == "kernel: panic: vm_fault · capturing the ddb trace"


def test_exit_0_after_a_halt_is_not_a_checkpoint(sup):
    op(sup, "checkpoint", sent=time.monotonic(), target=Proc.pid)
    sup.halt_seen = True
    sup.checkpoint_exited(0)
    res = answer(sup)
    assert res["kind"] == "kernel" and res["summary"].startswith(
        "the vkernel halted instead of checkpointing") and sup.parked is None


def test_checkpt_exit_1_is_the_host_not_the_kernel(sup):
    op(sup, "restore", file="/nonexistent.ckpt")
    sup.on_vkernel_exit(1)
    res = answer(sup)
    assert res["kind"] == "infrastructure" and res["summary"].startswith(
        "restore failed: checkpt exited 1")


def test_thaw_eperm_is_a_permission_not_the_kernel(sup):
    from buildbot_vkckpt.monitor.console import ConsoleMonitor
    op(sup, "restore", file="/x.ckpt")
    for event in ConsoleMonitor().feed(b"thaw failed error 1 Operation not permitted\n"):
        sup.on_event(event)
    res = answer(sup)
    assert res["kind"] == "infrastructure" and "kern.ckptgroup" in res["fix"]
