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
    monkeypatch.setattr(probe.hostckpt, "cached", lambda session, template: {
        "supported": True, "reason": "GSoC host kernel"})
    status = {"vkernel_target": 4242, "vkernel_argv": ["/boot/kernel/kernel", *argv]}
    checks, _ = probe.run_checks(Session(str(tmp_path)), status, Emitter(stream=io.StringIO()))
    return {c["name"]: c for c in checks.items}


def test_no_d_flag_is_vmm_unless_the_host_has_no_vmm(tmp_path, monkeypatch):
    vmm = checks_of(tmp_path, monkeypatch, ["-m", "1g"], {"hw.vmm.enable": "1"})["vmm"]
    assert not vmm["ok"] and vmm["text"].startswith("VMM on: ")
    vmm = checks_of(tmp_path, monkeypatch, ["-m", "1g"], {"hw.vmm.enable": "0"})["vmm"]
    assert vmm["ok"] and "hw.vmm.enable=0" in vmm["text"]


def test_vmm_fix_follows_the_flavour(tmp_path, monkeypatch):
    """A GSoC 2013 binary has no -d: only the host's hw.vmm.enable=0 turns VMM off (§23)."""
    def fix(options):
        values = {"kern.ckptgroup": "0", "kern.ckptfile": "%N.ckpt", "vm.vkernel_enable": "1",
                  "hw.vmm.enable": "1"}
        monkeypatch.setattr(probe, "sysctl", values.get)
        monkeypatch.setattr(probe, "handler_check", lambda pid, argv: (True, "present"))
        monkeypatch.setattr(probe, "core_limit", lambda pid, status: (None, "test"))
        monkeypatch.setattr(probe, "free_bytes", lambda directory: 4 * GIB)
        monkeypatch.setattr(probe.hostckpt, "cached", lambda s, t: {"supported": True,
                                                                     "reason": "gsoc"})
        status = {"vkernel_target": 1, "vkernel_argv": ["/k", "-m", "1g"],
                  "flavour_options": options}
        checks, _ = probe.run_checks(Session(str(tmp_path)), status,
                                     Emitter(stream=io.StringIO()))
        return {c["name"]: c for c in checks.items}["vmm"]["fix"]
    assert fix("IUbBcehilmnprsv").startswith("sysctl hw.vmm.enable=0")
    assert "without --vmm" in fix("IRTUcdehilmnprstvz")


@pytest.mark.parametrize("soft, ok", [(None, True), (64 << 20, True), (1 << 20, False),
                                      (0, False)])
def test_soft_core_limit_bounds_only_the_vkernels_own_segments(tmp_path, monkeypatch, soft,
                                                               ok):
    """Guest RAM stays in the memory image (§23): a limit far below -m is fine."""
    rl = checks_of(tmp_path, monkeypatch, ["-m", "1g", "-d"], soft=soft)["RLIMIT_CORE"]
    assert rl["ok"] is ok
    if not ok:
        assert rl["class"] == "infrastructure"


@pytest.mark.parametrize("free, ok", [(GIB + (32 << 20), True), (GIB // 2, False)])
def test_disk_must_hold_the_memory_image_flush_not_a_ram_copy(tmp_path, monkeypatch, free, ok):
    mem = tmp_path / "memimg"
    with open(mem, "wb") as fh:     # sparse: msync may still need all of it
        fh.truncate(GIB)
    disk = checks_of(tmp_path, monkeypatch, ["-m", "1g", "-d", "-i", str(mem)],
                     free=free)["disk"]
    assert disk["ok"] is ok, disk
    # a memory image already fully allocated needs only the file's own few MB
    small = checks_of(tmp_path, monkeypatch, ["-m", "1g", "-d"], free=64 << 20)["disk"]
    assert small["ok"], small


def test_root_is_not_exempt_from_kern_ckptgroup(tmp_path, monkeypatch):
    group = checks_of(tmp_path, monkeypatch, ["-m", "1g", "-d"],
                      {"kern.ckptgroup": "4242"})["kern.ckptgroup"]
    assert not group["ok"] and "root is not exempt" in group["text"]


def test_host_kernel_without_support_is_named(tmp_path, monkeypatch):
    values = {"kern.ckptgroup": "0", "kern.ckptfile": "%N.ckpt", "vm.vkernel_enable": "1"}
    monkeypatch.setattr(probe, "sysctl", values.get)
    monkeypatch.setattr(probe, "handler_check", lambda pid, argv: (True, "present"))
    monkeypatch.setattr(probe, "core_limit", lambda pid, status: (None, "test"))
    monkeypatch.setattr(probe, "free_bytes", lambda directory: 4 * GIB)
    monkeypatch.setattr(probe.hostckpt, "cached", lambda s, t: {
        "supported": False, "reason": "no NT_DRAGONFLY_FILES"})
    session = Session(str(tmp_path))
    status = {"vkernel_target": 1, "vkernel_argv": ["/k", "-m", "1g", "-d"]}
    checks, facts = probe.run_checks(session, status, Emitter(stream=io.StringIO()))
    res = probe.verdict(session, checks, facts)
    assert res["status"] == "unsupported" and res["summary"].startswith(
        "unsupported: host kernel has no vkernel checkpoint support: ")


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


def test_sigterm_goes_to_the_child_not_the_fork_wrapper(sup, tmp_path, monkeypatch):
    """The GSoC 2013 parent does not forward SIGTERM (§23): the pidfile's child gets it."""
    (tmp_path / "vkernel.pid").write_text("424242\n")
    sent = []
    monkeypatch.setattr(supervisor.procs, "signal_pid", lambda pid, sig: sent.append(
        (pid, sig)) or True)
    op(sup, "shutdown", timeout=10)
    sup.sigterm(time.monotonic())
    import signal
    assert sent == [(424242, signal.SIGTERM)]


def test_an_orphaned_supervisor_stops_its_vkernel(sup, monkeypatch):
    sup.orphan_timeout = 0.05
    sup.exit_status = None
    sup.last_request = time.monotonic() - 1
    started = []
    monkeypatch.setattr(sup, "start_shutdown", lambda sock, req, now: started.append(req))
    assert sup.orphan_deadline() is not None and sup.next_timeout() == 0
    sup.check_orphaned(time.monotonic())
    assert started and "no agent command reached the supervisor" in sup.orphaned
    # a request resets the clock
    sup.orphaned, started[:] = None, []
    sup.handle("client", {"op": "status"})
    sup.check_orphaned(time.monotonic())
    assert not started


def test_thaw_eperm_is_a_permission_not_the_kernel(sup):
    from buildbot_vkckpt.monitor.console import ConsoleMonitor
    op(sup, "restore", file="/x.ckpt")
    for event in ConsoleMonitor().feed(b"thaw failed error 1 Operation not permitted\n"):
        sup.on_event(event)
    res = answer(sup)
    assert res["kind"] == "infrastructure" and "kern.ckptgroup" in res["fix"]


def test_a_vkernel_killed_after_sigckptexit_is_named(sup):
    op(sup, "checkpoint", sent=time.monotonic(), target=Proc.pid)
    sup.checkpoint_exited(-9)
    res = answer(sup)
    assert res["kind"] == "kernel" and res["summary"].startswith(
        "the vkernel was killed by SIGKILL after SIGCKPTEXIT"), res
