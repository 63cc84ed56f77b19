"""Nothing lost when the master dies: a real master running the ready-made factory on the
simulated host is SIGKILLed while a checkpoint cycle runs (a restored vkernel up, its session
supervisor detached), then restarted. Buildbot retries the lost build; that build's
cleanup-stale must find the orphaned session (through the host's session registry) and stop
and release it, both builds after the crash must succeed with one vkernel at a time, and the
host must end with no process, vn unit, mount or tap left.
"""
import os
import signal
import time
from pathlib import Path

import pytest

from buildbot_vkckpt.demo.localbb import LocalBuildbot, _bin
from buildbot_vkckpt.simhost import tree
from buildbot_vkckpt.simhost.host import SimHost

from .sessions import alive, ledger_entries, live_pids, processes_under, session_factory

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

BUILDER = "reliability"
SUCCESS, RETRY = 0, 5


def master_body(host):
    """The factory's session steps in its order, without the guest suite (not under test)."""
    return """
from buildbot_vkckpt.factory import host_locks
from buildbot_vkckpt.steps import *  # noqa: F401,F403
""" + session_factory(host, cycles=3, timeouts={
    "boot": 20, "checkpoint": 30, "restore": 30}) + f"""
c['builders'].append(util.BuilderConfig(name={BUILDER!r}, factory=f, locks=host_locks(),
                     workernames=[w.name for w in c['workers']]))
c['schedulers'].append(schedulers.ForceScheduler(name='force', builderNames=[{BUILDER!r}]))
"""


@pytest.fixture
def rig(tmp_path):
    host = SimHost(tmp_path / "host")
    host.create()
    tree.create_source_tree(host)
    env = host.env()
    # this host's own session registry: cleanup-stale stops every live session it lists
    env["VKCKPT_STATE_DIR"] = str(host.root / "agent-state")
    bb = LocalBuildbot(tmp_path / "bb", worker_env=env)
    bb.create(master_body(host))
    bb.start()
    bb.host = host
    bb.state_dir = Path(env["VKCKPT_STATE_DIR"])
    try:
        yield bb
    finally:
        stopped = bb.stop()
        for pid in our_processes(bb):  # what a failed run left: never outlive the test
            os.kill(pid, signal.SIGKILL)
        assert stopped == []


def sessions_dir(bb):
    worker_dir, = bb.worker_dirs.values()
    return worker_dir / BUILDER / "vkckpt-sessions"


def wait_for_restored_vkernel(bb, brid, session, timeout=240):
    """Until the session's vkernel is a restored one (two vkernel entries, the last alive)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        vkernels = [e for e in ledger_entries(session).values() if e.get("kind") == "vkernel"]
        if len(vkernels) >= 2 and live_pids(session, "vkernel"):
            return
        build = bb.build_for_request(brid)
        if build and build["complete"]:
            raise AssertionError("build 1 ended before a restore: " + str(
                {n: (s["results"], s["state_string"]) for n, s in step_map(bb, build).items()}))
        time.sleep(0.1)
    raise AssertionError(f"no restored vkernel in {session} within {timeout} s: "
                         f"{ledger_entries(session)}")


def sigkill_master(bb):
    pidfile = bb.master_dir / "twistd.pid"
    pid = int(pidfile.read_text().strip())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)
    # where nobody reaps the daemon, its zombie keeps the pid, and twistd would refuse to
    # start ("Another twistd server is running"); an operator removes the stale pidfile
    pidfile.unlink()


# what buildbot-worker logs when its connection to the master is gone
RECONNECTING = "Scheduling retry"


def worker_log_count(bb, text):
    worker_dir, = bb.worker_dirs.values()
    return (worker_dir / "twistd.log").read_text(errors="replace").count(text)


def wait_for_worker_log(bb, text, seen, timeout=60):
    """Until the worker's log holds ``text`` more than ``seen`` times."""
    deadline = time.monotonic() + timeout
    while worker_log_count(bb, text) <= seen:
        assert time.monotonic() < deadline, f"no new {text!r} in the worker log in {timeout} s"
        time.sleep(0.05)


def restart_master(bb):
    # buildbot's own 10 s start timeout fails on a busy machine
    bb._run([_bin("buildbot"), "start", "--start_timeout=120", str(bb.master_dir)],
            timeout=130)
    bb.wait_for_workers(timeout=120)


def our_processes(bb):
    """Live agent commands, supervisors and simulated vkernels of this test: {pid: cmdline}."""
    return processes_under((bb.host.root, bb.basedir))


def leftovers(bb):
    """What is left on the simulated host: vn units, mounts, taps, processes, sessions."""
    state = bb.host.load_state()
    found = [f"{unit} covering {path}" for unit, path in state.get("vn", {}).items() if path]
    found += [f"mount {point}" for point in state.get("mounts", {})]
    found += [f"tap {name}" for name in state.get("taps", {})]
    found += [f"process {pid}: {cmdline}" for pid, cmdline in our_processes(bb).items()]
    for session in sorted(sessions_dir(bb).glob("build-*")):
        found += [f"{session.name}: ledger entry {e['kind']} #{e['id']}"
                  for e in ledger_entries(session).values() if not e["released"]]
    registry = bb.state_dir / "sessions"
    found += [f"registered session {os.readlink(p)}" for p in registry.glob("*")]
    return found


def wait_for_builds(bb, after, count, timeout=400):
    """The first ``count`` builds numbered above ``after``, once all of them are complete."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        builds = sorted((b for b in bb.builds(BUILDER) if b["number"] > after),
                        key=lambda b: b["number"])[:count]
        if len(builds) == count and all(b["complete"] for b in builds):
            return builds
        time.sleep(0.5)
    raise AssertionError(f"{count} builds after build {after} did not finish in {timeout} s")


def step_map(bb, build):
    return {s["name"]: s for s in bb.steps(build["buildid"])}


def test_master_sigkilled_mid_cycle_then_two_builds(rig):
    bb = rig
    started = time.monotonic()
    first = bb.force(BUILDER, reason="killed mid-cycle")
    session = sessions_dir(bb) / "build-1"
    wait_for_restored_vkernel(bb, first, session)
    retries = worker_log_count(bb, RECONNECTING)
    sigkill_master(bb)
    killed_at = time.monotonic()
    # the crash leaves the session running: this is what later builds must deal with, once
    # the worker has seen its master go (it tries to reconnect)
    wait_for_worker_log(bb, RECONNECTING, retries)
    orphaned_supervisors = live_pids(session, "supervisor")
    orphaned_vkernels = live_pids(session, "vkernel")
    assert orphaned_supervisors and orphaned_vkernels, ledger_entries(session)

    restart_master(bb)
    # Buildbot finishes the lost build RETRY and runs its request again
    lost = bb.build_for_request(first)
    assert lost["results"] == RETRY, lost
    retried, = wait_for_builds(bb, after=lost["number"], count=1)
    # then one more (forced at once, it would be collapsed into the retried request)
    after = bb.wait_build(bb.force(BUILDER, reason="after the crash"), timeout=300)
    builds = [retried, after]
    done_at = time.monotonic()

    cleaning, plain = (step_map(bb, b) for b in builds)
    cleanup = cleaning["cleanup-stale"]["state_string"]
    assert cleanup.startswith("stopped 1 live session(s) and released"), cleanup
    assert plain["cleanup-stale"]["state_string"] == "nothing stale"
    for build, steps in zip(builds, (cleaning, plain)):
        assert build["results"] == SUCCESS, {n: (s["results"], s["state_string"])
                                             for n, s in steps.items()}
    assert not any(alive(pid) for pid in orphaned_supervisors + orphaned_vkernels)
    assert leftovers(bb) == []
    print(f"\nmaster SIGKILLed {killed_at - started:.1f} s into build 1 (restored vkernel "
          f"up); the retried build's cleanup-stale: {cleanup!r}; both later builds "
          f"succeeded {done_at - killed_at:.1f} s after the kill; leaks 0")


def wait_for_step(bb, brid, name, timeout=240):
    """The step ``name`` of the build of request ``brid`` as soon as it runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        build = bb.build_for_request(brid)
        if build is not None:
            step = step_map(bb, build).get(name)
            if step is not None and step["results"] is None:
                return build, step
            if build["complete"]:
                raise AssertionError(f"build ended before step {name} ran")
        time.sleep(0.05)
    raise AssertionError(f"step {name} did not start within {timeout} s")


def test_a_second_stop_during_shutdown_then_a_build(rig):
    bb = rig
    first = bb.force(BUILDER, reason="stopped twice")
    session = sessions_dir(bb) / "build-1"
    wait_for_restored_vkernel(bb, first, session)
    build, _ = wait_for_step(bb, first, "checkpoint-cycle")
    bb.rpc(f"builds/{build['buildid']}", "stop", reason="first stop")
    wait_for_step(bb, first, "shutdown")
    bb.rpc(f"builds/{build['buildid']}", "stop", reason="second stop, during shutdown")
    stopped = bb.wait_build(first, timeout=120)
    assert stopped["results"] in (4, 6), stopped  # EXCEPTION or CANCELLED

    after = bb.wait_build(bb.force(BUILDER, reason="after the stops"), timeout=300)
    steps = step_map(bb, after)
    assert after["results"] == SUCCESS, {n: (s["results"], s["state_string"])
                                         for n, s in steps.items()}
    assert leftovers(bb) == []
    print(f"\nstopped twice (the second during shutdown): build ended "
          f"{stopped['state_string']!r}; the next build's cleanup-stale: "
          f"{steps['cleanup-stale']['state_string']!r}; leaks 0")
