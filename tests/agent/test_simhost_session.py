"""boot / exec / status / ddb / shutdown / collect against the simulated vkernel.

Every test runs on the shared simulated host (``built_host``) and its ``sim`` fixture asserts
afterwards that no vn unit, mount, ledger entry or session process is left.
"""
import os
import signal
import subprocess
import time

from buildbot_vkckpt.agent import procs
from buildbot_vkckpt.agent.ledger import Ledger

from .simsupport import AGENT, journal, parse_run


def vkernel_entry(session):
    return [e for e in Ledger(session).entries().values() if e["kind"] == "vkernel"][0]


def test_boot_exec_status_shutdown_collect(sim):
    run = sim.boot()
    assert run.returncode == 0, run
    assert run.summary.startswith("booted in ") and "DragonFly v5.9.0" in run.summary
    assert run.summary.endswith("VKERNEL64 · master-with-port")
    assert run.details["flavour"] == "master-with-port"
    assert any(e["ev"] == "metric" and e["name"] == "boot_time" for e in run.events)
    assert "login:" not in run.stdout or "root" in run.stdout
    vk = vkernel_entry(sim.session)
    child = procs.read_pidfile(sim.session / "vkernel.pid")
    assert procs.alive(vk["pid"]) and procs.alive(child) and child != vk["pid"]
    argv = vk["argv"]
    # the session's own copy of the kernel (the next buildkernel deletes the obj dir's)
    assert argv[0] == str(sim.session / "kernel" / "kernel.debug")
    assert "-d" in argv and argv.count("-r") == 2
    # the session's own memory image, not the shared /var/vkernel/memimg.N
    assert argv[argv.index("-i") + 1] == str(sim.session / "memimg")
    assert (sim.session / "memimg").stat().st_size == 128 << 20

    run = sim.agent("exec", "--", "uname -a; echo hello from the guest")
    assert run.returncode == 0, run
    out = run.details["output_tail"]
    assert out[-1] == "hello from the guest" and out[0].startswith("DragonFly vkernel ")
    run = sim.agent("exec", "--", "sh", "-c", "exit 7")
    assert (run.returncode, run.summary) == (1, "guest command exited 7"), run

    run = sim.agent("status")
    assert run.details["guest"] == "ready" and run.details["vkernel_child_pid"] == child

    run = sim.agent("shutdown")
    assert run.returncode == 0 and "halted cleanly" in run.summary, run
    console = (sim.session / "console.log").read_bytes()
    assert b"cpu halt, exiting vkernel" in console
    assert not procs.alive(vk["pid"]) and not procs.alive(child)
    assert not (sim.session / "vkernel.pid").exists()
    again = sim.agent("shutdown")
    assert again.returncode == 0 and again.summary == "no supervisor was running", again

    run = sim.agent("collect", "--dest", sim.tmp / "out")
    assert run.returncode == 0
    assert {"console.log", "ledger.jsonl", "events.jsonl"} <= set(os.listdir(sim.tmp / "out"))


def test_exec_in_guest_writes_results_disk(sim):
    assert sim.boot().returncode == 0
    run = sim.agent("exec", "--", "mkdir -p /tmp/r && echo ok > /tmp/r/x && "
                    "tar -cf /dev/vkd1 -C /tmp r")
    assert run.returncode == 0, run
    assert sim.agent("shutdown").returncode == 0
    run = sim.agent("collect", "--dest", sim.tmp / "out")
    assert "results.tar" in run.details["files"], run


def test_boot_panic_fails_fast_with_trace(sim):
    sim.fault(boot_panic="vm_fault: fault on nofault entry, addr: deadc000")
    started = time.monotonic()
    run = sim.boot(timeout=30, silence=30)
    assert time.monotonic() - started < 5
    assert run.returncode == 1 and run.result["kind"] == "kernel", run
    assert run.summary == ("kernel: panic: vm_fault: fault on nofault entry, addr: deadc000"
                           " · ddb trace captured")
    trace = run.details["backtrace"]
    assert trace[0].startswith("Debugger() at Debugger+0x7c")
    assert any(ln.startswith("vm_fault() at vm_fault+") for ln in trace)
    assert procs.wait_exit(vkernel_entry(sim.session)["pid"], 5)
    run = sim.agent("shutdown")
    assert run.returncode == 0, run


def test_boot_hang_times_out_naming_phase_with_ddb_trace(sim):
    sim.fault(boot_hang=None)
    started = time.monotonic()
    run = sim.boot(timeout=30, silence=1)
    elapsed = time.monotonic() - started
    assert 1 <= elapsed < 6, elapsed
    assert run.returncode == 1 and run.result["kind"] == "timeout", run
    assert run.summary.startswith("timeout in boot: no console output for 1 s; the boot did "
                                  "not reach the root mount or getty; last line: "), run
    assert any(ln.startswith("vkd1: ") for ln in run.details["tail"])
    assert run.details["phase"] == "boot"
    # the hang was looked at in ddb before the vkernel was stopped
    assert any(ln.startswith("exc_debugger() at ") for ln in run.details["backtrace"]), run
    assert sim.agent("shutdown").returncode == 0


def test_mountroot_is_a_named_boot_failure(sim):
    sim.fault(mountroot=None)
    run = sim.boot()
    assert run.returncode == 1 and run.result["kind"] == "kernel", run
    assert run.summary.startswith("boot failed: mountroot prompt")
    assert any("Root mount failed" in ln for ln in run.details["tail"])
    assert sim.agent("shutdown").returncode == 0


def test_vkernel_disabled_is_infrastructure_with_fix(sim):
    sim.fault(vkernel_disabled=None)
    run = sim.boot()
    assert run.returncode == 4 and run.result["kind"] == "infrastructure", run
    assert run.summary.startswith("vm.vkernel_enable is 0")
    assert "sysctl vm.vkernel_enable=1" in run.result["fix"]
    assert sim.agent("shutdown").returncode == 0


def test_disk_image_locked_is_infrastructure(sim):
    sim.fault(disk_image_locked=None)
    run = sim.boot()
    assert run.returncode == 4, run
    assert run.summary == f"disk image {sim.built.image} is already in use by another vkernel"
    assert "cleanup --stale" in run.result["fix"]
    assert sim.agent("shutdown").returncode == 0


def test_guest_command_fails(sim):
    assert sim.boot().returncode == 0
    sim.fault(guest_command_fails="ls")
    run = sim.agent("exec", "--", "ls /")
    assert run.returncode == 1 and run.summary == "guest command exited 3", run
    assert run.result["kind"] == "test"      # a guest command failed: not a kernel verdict
    sim.fault()
    assert sim.agent("exec", "--", "ls /").returncode == 0
    assert "halted cleanly" in sim.agent("shutdown").summary


def test_panic_in_guest_command_is_captured(sim):
    assert sim.boot().returncode == 0
    sim.fault(panic_in_guest_command="ls")
    run = sim.agent("exec", "--timeout", "20", "--", "ls /")
    assert run.returncode == 1 and run.result["kind"] == "kernel", run
    assert run.summary.startswith("kernel: ") and run.summary.endswith("· ddb trace captured")
    assert any(ln.startswith("trap_fatal() at ") for ln in run.details["backtrace"])
    assert run.details["crash"]["kind"] in ("fatal_trap", "panic")
    # a later exec is told about the crash instead of waiting on a dead console
    again = sim.agent("exec", "--", "true")
    assert again.returncode == 1, again
    assert again.summary == "the vkernel is down: " + run.summary.split(" · ")[0]
    run = sim.agent("shutdown")
    assert run.returncode == 0, run


def test_exec_timeout_interrupts_the_guest_command(sim):
    assert sim.boot().returncode == 0
    started = time.monotonic()
    run = sim.agent("exec", "--timeout", "1", "--", "sleep 30")
    assert time.monotonic() - started < 5
    assert run.returncode == 1 and run.result["kind"] == "timeout", run
    assert run.summary.startswith("timeout in exec: still running after 1 s")
    assert run.details["interrupted"] is True
    # ^C gave the shell back: the next command runs
    run = sim.agent("exec", "--", "echo back")
    assert run.returncode == 0 and run.details["output_tail"] == ["back"], run
    assert sim.agent("shutdown").returncode == 0


def test_ddb_subcommand_traces_and_continues(sim):
    assert sim.boot().returncode == 0
    run = sim.agent("ddb", "--", "trace")
    assert run.returncode == 0, run
    assert any(ln.startswith("exc_debugger() at ") for ln in run.details["lines"])
    run = sim.agent("ddb", "--", "ps")
    assert run.returncode == 0 and any("init" in ln for ln in run.details["lines"]), run
    run = sim.agent("exec", "--", "echo alive")
    assert run.returncode == 0 and run.details["output_tail"] == ["alive"], run
    assert "halted cleanly" in sim.agent("shutdown").summary


def test_shutdown_when_guest_shell_is_busy_uses_sigterm(sim):
    assert sim.boot().returncode == 0
    env = sim.env()
    busy = subprocess.Popen([*AGENT, "exec",
                             "--session", str(sim.session), "--", "sleep 30"],
                            stdout=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and b"sleep 30" not in (
            sim.session / "console.log").read_bytes():
        time.sleep(0.02)
    run = sim.agent("shutdown")
    assert run.returncode == 0, run
    out, _ = busy.communicate(timeout=10)
    interrupted = parse_run(busy.returncode, out, b"")
    assert interrupted.returncode == 4 and "interrupted by shutdown" in interrupted.summary
    assert b"Caught SIGTERM from host system" in (sim.session / "console.log").read_bytes()


def test_killing_the_boot_step_leaves_supervisor_then_shutdown_cleans(sim):
    # like Buildbot stopping a step: the agent's whole process group gets SIGKILL mid-boot
    sim.fault(boot_hang=None)
    p = subprocess.Popen([*AGENT,
                          *map(str, sim.boot_argv(timeout=30, silence=30))],
                         stdout=subprocess.PIPE, env=sim.env(), start_new_session=True)
    for line in p.stdout:
        if line.startswith(b"vkd1: "):  # the guest probed its disks and hangs from here
            break
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    p.stdout.close()
    sup = [e for e in Ledger(sim.session).outstanding() if e["kind"] == "supervisor"][0]
    assert procs.alive(sup["pid"]) and os.getpgid(sup["pid"]) != p.pid
    assert procs.alive(vkernel_entry(sim.session)["pid"])
    started = time.monotonic()
    run = sim.agent("shutdown")
    assert run.returncode == 0, run
    # the hung guest ignores SIGTERM: silence after it escalates to SIGKILL within seconds
    assert run.summary.startswith("vkernel stopped (kill)"), run
    assert time.monotonic() - started < 6
    assert not procs.alive(sup["pid"])


def test_cleanup_stale_after_supervisor_kill_9(sim):
    assert sim.boot().returncode == 0
    sup = [e for e in Ledger(sim.session).outstanding() if e["kind"] == "supervisor"][0]
    vk = vkernel_entry(sim.session)
    os.kill(sup["pid"], signal.SIGKILL)
    assert procs.wait_exit(sup["pid"], 5)
    assert procs.alive(vk["pid"])      # the crash left the vkernel running
    other = sim.tmp / "live"           # a healthy session elsewhere under the root is kept
    sim.sessions.append(other)
    image2 = sim.tmp / "other.img"
    import shutil
    shutil.copyfile(sim.built.image, image2)
    assert sim.boot(session=other, image=image2).returncode == 0
    run = sim.agent("cleanup", "--stale", "--root", sim.tmp, session=sim.tmp / "cleanup")
    assert run.returncode == 0, run
    assert str(sim.session) in run.details["sessions"]
    assert str(other) in run.details["live_sessions"]
    assert not procs.alive(vk["pid"])
    assert Ledger(sim.session).outstanding() == []
    assert sim.agent("shutdown", session=other).returncode == 0
    assert any(e.get("ev") == "result" for e in journal(sim.session))


def test_supervisor_survives_killing_the_boot_process_group(sim):
    """Buildbot stops a step by killing its process group: a boot killed while the guest
    still boots leaves the supervisor, which finishes the boot without its client."""
    p = subprocess.Popen([*AGENT,
                          *map(str, sim.boot_argv(timeout=10, silence=5))],
                         stdout=subprocess.PIPE, env=sim.env(), start_new_session=True)
    for line in p.stdout:
        if b"vkernel_pid" in line:  # the supervisor has started the vkernel
            break
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    p.stdout.close()
    sup = [e for e in Ledger(sim.session).outstanding() if e["kind"] == "supervisor"][0]
    assert procs.alive(sup["pid"]) and os.getpgid(sup["pid"]) != p.pid
    deadline = time.monotonic() + 15
    status = None
    while time.monotonic() < deadline:  # the boot finishes without its client
        status = sim.agent("status")
        if status.details.get("guest") == "ready":
            break
        time.sleep(0.1)
    assert status.details.get("guest") == "ready", status
    run = sim.agent("exec", "--", "echo still here")
    assert run.returncode == 0 and run.details["output_tail"] == ["still here"], run
    assert sim.agent("shutdown").returncode == 0
    assert not procs.alive(sup["pid"])
    assert any(e.get("ev") == "console" and e["kind"] == "version"
               for e in journal(sim.session))


def test_orphaned_supervisor_stops_its_vkernel_and_releases_the_session(sim):
    """No agent command for --orphan-timeout: the supervisor halts the guest, releases the
    ledger and exits by itself, saying why (a step that died must not leave a vkernel)."""
    run = sim.boot(extra=("--orphan-timeout", "1"))
    assert run.returncode == 0, run
    entries = Ledger(sim.session).entries().values()
    sup = [e for e in entries if e["kind"] == "supervisor"][0]["pid"]
    vk = vkernel_entry(sim.session)["pid"]
    child = procs.read_pidfile(sim.session / "vkernel.pid")
    assert procs.wait_exit(sup, 15.0), "the orphaned supervisor is still up"
    assert not procs.alive(vk) and not procs.alive(child)
    assert Ledger(sim.session).outstanding() == []
    why = [e["orphaned"] for e in journal(sim.session) if e.get("orphaned")]
    assert why and "no agent command reached the supervisor for 1 s" in why[0]
    assert "halted" in (sim.session / "console.log").read_text()
    assert "released" in (sim.session / "supervisor.log").read_text()
