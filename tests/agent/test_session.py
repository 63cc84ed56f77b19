"""boot / exec / status / shutdown / collect against a small stand-in vkernel, with leak checks."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from buildbot_vkckpt.agent import procs
from buildbot_vkckpt.agent.ledger import Ledger
from buildbot_vkckpt.monitor.agentlog import AgentLogMonitor


def result_of(proc):
    mon = AgentLogMonitor()
    mon.feed(proc.stdout)
    mon.close()
    assert mon.result is not None, proc.stdout.decode() + proc.stderr.decode()
    return mon.result, mon


def boot(run_agent, session, kernel, image, mode="boot", **extra):
    argv = ["boot", "--session", session, "--kernel", kernel, "--image", image,
            "--timeout", "5", "--silence", "2"]
    for k, v in extra.items():
        argv += [f"--{k}", v]
    return run_agent(*argv, env={"FAKE_VK_MODE": mode})


def assert_released(session):
    left = Ledger(session).outstanding()
    assert left == [], left


def test_boot_exec_shutdown_leaves_nothing(tmp_path, fake_kernel, run_agent):
    session, image = tmp_path / "s", tmp_path / "root.img"
    image.write_bytes(b"\0" * 4096)
    p = boot(run_agent, session, fake_kernel, image)
    res, mon = result_of(p)
    assert p.returncode == 0, res
    assert res["summary"].startswith("booted in ") and "VKERNEL64" in res["summary"]
    assert any(e["ev"] == "metric" and e["name"] == "boot_time" for e in mon.events)
    vk = [e for e in Ledger(session).outstanding() if e["kind"] == "vkernel"][0]
    assert procs.alive(vk["pid"])

    p = run_agent("exec", "--session", session, "--", "echo hello")
    res, mon = result_of(p)
    assert p.returncode == 0 and res["details"]["output_tail"] == ["hello"], res
    p = run_agent("exec", "--session", session, "--", "false")
    res, _ = result_of(p)
    assert p.returncode == 1 and res["summary"] == "guest command exited 1"

    p = run_agent("status", "--session", session)
    res, _ = result_of(p)
    assert res["details"]["guest"] == "ready"

    p = run_agent("shutdown", "--session", session)
    res, _ = result_of(p)
    assert p.returncode == 0 and "halted cleanly" in res["summary"], res
    assert not procs.alive(vk["pid"])
    assert_released(session)
    assert b"cpu halt, exiting vkernel" in (session / "console.log").read_bytes()
    # idempotent
    assert run_agent("shutdown", "--session", session).returncode == 0

    p = run_agent("collect", "--session", session, "--dest", tmp_path / "out")
    assert p.returncode == 0
    assert {"console.log", "ledger.jsonl", "events.jsonl"} <= set(os.listdir(tmp_path / "out"))


def test_panic_captures_trace_and_stops_vkernel(tmp_path, fake_kernel, run_agent):
    session, image = tmp_path / "s", tmp_path / "root.img"
    image.write_bytes(b"\0")
    p = boot(run_agent, session, fake_kernel, image, mode="panic")
    res, _ = result_of(p)
    assert p.returncode == 1
    assert res["kind"] == "kernel"
    assert res["summary"] == ("kernel: panic: vm_fault: fault on nofault entry, addr: "
                              "0xdeadbeef · ddb trace captured")
    assert any("vm_fault" in ln for ln in res["details"]["backtrace"])
    vk = [e for e in Ledger(session).entries().values() if e["kind"] == "vkernel"][0]
    assert procs.wait_exit(vk["pid"], 5)
    p = run_agent("shutdown", "--session", session)
    assert p.returncode == 0, p.stdout
    assert_released(session)


def test_host_error_is_infrastructure_with_fix(tmp_path, fake_kernel, run_agent):
    session, image = tmp_path / "s", tmp_path / "root.img"
    image.write_bytes(b"\0")
    p = boot(run_agent, session, fake_kernel, image, mode="enable0")
    res, _ = result_of(p)
    assert p.returncode == 4 and res["kind"] == "infrastructure"
    assert "sysctl vm.vkernel_enable=1" in res["fix"]
    run_agent("shutdown", "--session", session)
    assert_released(session)


def test_silence_is_a_timeout_naming_the_phase(tmp_path, fake_kernel, run_agent):
    session, image = tmp_path / "s", tmp_path / "root.img"
    image.write_bytes(b"\0")
    p = boot(run_agent, session, fake_kernel, image, mode="hang", silence="1")
    res, _ = result_of(p)
    assert p.returncode == 1 and res["kind"] == "timeout"
    assert res["summary"].startswith("timeout in boot: no console output for 1 s; ")
    assert "; last line: " in res["summary"]
    assert "Mounting root from ufs:vkd0s1a" in res["details"]["tail"]
    run_agent("shutdown", "--session", session)
    assert_released(session)


def test_supervisor_survives_killing_the_boot_process_group(tmp_path, fake_kernel, run_agent):
    session, image = tmp_path / "s", tmp_path / "root.img"
    image.write_bytes(b"\0")
    # boot in its own process group, like a step's command; kill the group in mid-boot
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent.parent.parent))
    p = subprocess.Popen([sys.executable, "-m", "buildbot_vkckpt.agent", "boot", "--session",
                          str(session), "--kernel", str(fake_kernel), "--image", str(image),
                          "--timeout", "5", "--silence", "3"], stdout=subprocess.PIPE,
                         env=env, start_new_session=True)
    for line in p.stdout:
        if b"vkernel_pid" in line:  # the supervisor has started the vkernel
            break
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    p.stdout.close()
    sup = [e for e in Ledger(session).outstanding() if e["kind"] == "supervisor"][0]
    assert procs.alive(sup["pid"])
    assert os.getpgid(sup["pid"]) != p.pid
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the boot finishes without its client
        res, _ = result_of(run_agent("status", "--session", session))
        if res["details"].get("guest") == "ready":
            break
        time.sleep(0.1)
    p = run_agent("exec", "--session", session, "--", "echo still here")
    assert p.returncode == 0, p.stdout
    run_agent("shutdown", "--session", session)
    assert not procs.alive(sup["pid"])
    assert_released(session)
    events = [json.loads(ln) for ln in (session / "events.jsonl").read_text().splitlines()]
    assert any(e.get("ev") == "console" and e["kind"] == "version" for e in events)


def test_orphaned_supervisor_stops_its_vkernel_and_releases_the_session(tmp_path, fake_kernel,
                                                                         run_agent):
    """No agent command for --orphan-timeout: the supervisor halts the guest, releases the
    ledger and exits by itself, saying why (a step that died must not leave a vkernel)."""
    session, image = tmp_path / "s", tmp_path / "root.img"
    image.write_bytes(b"\0" * 4096)
    p = boot(run_agent, session, fake_kernel, image, **{"orphan-timeout": "1"})
    res, _ = result_of(p)
    assert p.returncode == 0, p.stdout.decode()
    entries = Ledger(session).entries().values()
    sup = [e for e in entries if e["kind"] == "supervisor"][0]["pid"]
    vk = [e for e in entries if e["kind"] == "vkernel"][0]["pid"]
    assert procs.wait_exit(sup, 15.0), "the orphaned supervisor is still up"
    assert not procs.alive(vk)
    assert_released(session)
    events = [json.loads(ln) for ln in (session / "events.jsonl").read_text().splitlines()]
    why = [e["orphaned"] for e in events if e.get("orphaned")]
    assert why and "no agent command reached the supervisor for 1 s" in why[0]
    assert "halted" in (session / "console.log").read_text()
    assert "released" in (session / "supervisor.log").read_text()
