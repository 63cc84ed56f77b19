"""The simulated vkernel's checkpoint handler (GSoC 2013) and ``checkpt -r`` restoring it."""
import json
import os
import pty
import re
import signal
import subprocess
import sys
import time

import pytest

from buildbot_vkckpt.agent import ckptcheck
from tests.simhost.test_vkernel import REPO, Vkernel, boot_shell, sim  # noqa: F401 (fixture)

# write-then-rename: a reader never sees the file truncated and empty
WORKLOAD = ("(n=0; while :; do n=$((n+1)); echo $n > {0}.new; mv {0}.new {0}; sleep 0.05; "
            "done) & echo PID=$!")


class Restored(Vkernel):
    """``checkpt -r FILE`` on a fresh pty, as the supervisor runs it."""

    def __init__(self, sim, ckpt):
        self.sim = sim
        self.master, slave = pty.openpty()
        env = dict(os.environ, VKCKPT_SIM_SPEED=sim.speed, VKCKPT_SIMHOST=str(sim.host.root),
                   PYTHONPATH=str(REPO))
        self.errfile = open(sim.dir / f"stderr.{time.monotonic_ns()}", "w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "buildbot_vkckpt.simhost.hosttools", "checkpt", "-r",
             str(ckpt)], stdin=slave, stdout=slave, stderr=self.errfile, cwd=sim.dir, env=env,
            start_new_session=True)
        os.close(slave)
        self.buf = b""
        self.pos = 0
        self.started = time.monotonic()


@pytest.fixture(autouse=True)
def core_limit():
    """A checkpoint needs RLIMIT_CORE > 0 (§14); the vkernel inherits the test's limits."""
    import resource
    old = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (old[1], old[1]))
    yield
    resource.setrlimit(resource.RLIMIT_CORE, old)


def checkpoint(sim, vk):
    os.kill(vk.child_pid(), 34)
    assert vk.wait() == 0
    return sim.dir / "kernel.ckpt"


def start_workload(vk, path):
    out, _ = vk.run(WORKLOAD.format(path))
    return int(re.search(r"PID=(\d+)", out).group(1))


def test_checkpoint_writes_core_and_exits_0(sim):
    vk = boot_shell(sim)
    ckpt = checkpoint(sim, vk)
    report = ckptcheck.inspect_file(ckpt)
    assert report["problems"] == [] and report["layout"] == "gsoc"
    assert report["threads"] == 2 and report["command"] == "kernel"
    assert not (sim.dir / "vk.pid").exists()
    os.unlink(ckpt)   # lets the keeper go, with the frozen guest


def test_restore_continues_guest_and_workload(sim):
    vk = boot_shell(sim)
    wl = sim.dir / "wl"
    pid = start_workload(vk, wl)
    vk.run("sleep 0.2")
    ckpt = checkpoint(sim, vk)
    frozen = open(wl).read()
    time.sleep(0.3)   # the test's own pause: nothing may progress while checkpointed
    assert open(wl).read() == frozen
    r = Restored(sim, ckpt)
    sim.started.append(r)
    r.expect("Restoring vmspaces...")
    r.expect("Restored from checkpoint...")
    # the thawed workload needs a tick to count on; wait for it (up to 3 s) in the guest
    out, status = r.run(f'i=0; while [ "$(cat {wl})" = "{frozen.strip()}" ] && '
                        f'[ $i -lt 60 ]; do sleep 0.05; i=$((i+1)); done; '
                        f'kill -0 {pid} && cat {wl}')
    # a prompt the thawed shell had pending may share the line with cat's output
    assert status == 0 and int(re.findall(r"(\d+)\s*$", out, re.M)[-1]) > int(frozen or 0)
    out, _ = r.run("uptime")
    assert "up" in out
    r.run(f"kill {pid}")
    # and again: the restored vkernel checkpoints like the first one
    os.kill(r.proc.pid, 34)
    assert r.wait() == 0
    assert ckptcheck.inspect_file(ckpt)["problems"] == []
    # the simulated kernel logs its own checkpoint I/O, so benchmarks can subtract it
    io = [json.loads(l) for l in (sim.host.state_dir / "ckpt-io.jsonl").read_text().splitlines()]
    assert [e["op"] for e in io] == ["write", "exit", "read", "resume", "write", "exit"]
    assert all(e["bytes"] == os.path.getsize(ckpt) and e["seconds"] > 0 for e in io)
    assert io[2]["ended"] <= io[3]["ended"] - io[3]["seconds"] + 1e-3  # resume follows read
    os.unlink(ckpt)


def test_checkpt_errors(sim):
    run = sim.host.env()
    env = dict(os.environ, VKCKPT_SIMHOST=str(sim.host.root), PYTHONPATH=str(REPO))
    base = [sys.executable, "-m", "buildbot_vkckpt.simhost.hosttools", "checkpt"]
    p = subprocess.run(base, env=env, capture_output=True, text=True)
    assert (p.returncode, p.stderr) == (1, "checkpt -r file.ckpt\n")
    p = subprocess.run(base + ["-r", "/nonexistent.ckpt"], env=env, capture_output=True,
                       text=True)
    assert (p.returncode, p.stderr) == (1, "unable to open /nonexistent.ckpt\n")
    junk = sim.dir / "junk.ckpt"
    junk.write_text("junk")
    p = subprocess.run(base + ["-r", str(junk)], env=env, capture_output=True, text=True)
    assert (p.returncode, p.stderr) == (5, "thaw failed error 22 Invalid argument\n")
    assert run


@pytest.mark.parametrize("fault,message", [
    ("ckpt-enospc", "kernel: Couldn't save checkpoint file: No space left on device"),
    ("ckpt-rlimit-core", "kernel: Couldn't save checkpoint file: Numerical result out of range"),
])
def test_checkpoint_failure_wedges(sim, fault, message):
    vk = boot_shell(sim)
    sim.faults(**{fault.replace("-", "_"): None})
    os.kill(vk.child_pid(), 34)
    deadline = time.monotonic() + 5
    while message not in vk.stderr() and time.monotonic() < deadline:
        vk.read_some(0.05)
    assert message in vk.stderr()
    assert vk.proc.poll() is None   # wedged, not exited


def test_corrupt_checkpoint_fails_thaw(sim):
    vk = boot_shell(sim)
    sim.faults(ckpt_corrupt=None)
    ckpt = checkpoint(sim, vk)
    assert any(p.startswith("note order") for p in ckptcheck.inspect_file(ckpt)["problems"])
    r = Restored(sim, ckpt)
    sim.started.append(r)
    assert r.wait() == 5
    assert "thaw failed error 22 Invalid argument" in r.stderr()
    os.unlink(ckpt)


def test_stock_vkernel_dies_with_a_stock_checkpoint(sim):
    sim.faults(stock_vkernel=None)
    vk = boot_shell(sim)
    caught = open(f"/proc/{vk.child_pid()}/status").read()
    mask = int(re.search(r"SigCgt:\s*(\w+)", caught).group(1), 16)
    assert not mask & (1 << 33)
    ckpt = checkpoint(sim, vk)
    report = ckptcheck.inspect_file(ckpt)
    assert report["layout"] == "stock" and report["problems"] == []
    r = Restored(sim, ckpt)
    sim.started.append(r)
    assert r.wait() == -signal.SIGSEGV


def test_restore_panics(sim):
    vk = boot_shell(sim)
    ckpt = checkpoint(sim, vk)
    sim.faults(restore_panics=None)
    r = Restored(sim, ckpt)
    sim.started.append(r)
    r.expect("Restoring vmspaces...")
    r.expect("panic: vmspace_ctl: cannot restore vmspace")
    r.expect("db> ")
    os.unlink(ckpt)
