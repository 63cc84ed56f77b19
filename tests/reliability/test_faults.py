"""Faults against a real master: the worker SIGKILLed while a checkpoint cycle runs, and the
master SIGKILLed while the vkernel boots. Each costs the build it hit and nothing else: Buildbot
ends that build RETRY (a lost worker or master) and runs its request again, that build's
cleanup-stale stops and releases the orphaned session, the build is green, and nothing is left
on the host."""
import os
import signal
import time

import pytest

from buildbot_vkckpt.demo.localbb import _bin
from tests.integration.sessions import alive, ledger_entries, live_pids
from tests.integration.test_reliability import wait_for_restored_vkernel

from .rig import RETRY, SUCCESS, Rig

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.timeout(600),
              pytest.mark.usefixtures("instant_simulation")]


@pytest.fixture
def rig(tmp_path):
    rig = Rig(tmp_path, hosts=("a",), per_host=1).start()
    rig.builder = next(iter(rig.builders))
    rig.worker = "worker-a"
    try:
        yield rig
    finally:
        assert rig.stop() == []


def sigkill(pid):
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)


def session_of(rig, number):
    return rig.bb.worker_dirs[rig.worker] / rig.builder / "vkckpt-sessions" / f"build-{number}"


def wait_for_live_vkernel(rig, brid, timeout=240):
    """The build of ``brid`` and its session, once the session's first vkernel runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        build = rig.bb.build_for_request(brid)
        if build is not None:
            assert not build["complete"], rig.steps(build)
            session = session_of(rig, build["number"])
            if live_pids(session, "vkernel"):
                return build, session
        time.sleep(0.05)
    raise AssertionError(f"no vkernel ran within {timeout} s")


def retried_build(rig, lost, timeout=400):
    """The build Buildbot ran for the lost build's request (the next number)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        builds = [b for b in rig.bb.builds(rig.builder) if b["number"] > lost["number"]]
        if builds and builds[0]["complete"]:
            return builds[0]
        time.sleep(0.5)
    raise AssertionError(f"no build after build {lost['number']} finished in {timeout} s")


def orphans(session):
    pids = live_pids(session, "supervisor") + live_pids(session, "vkernel")
    assert pids, ledger_entries(session)
    return pids


def check_recovered(rig, lost):
    assert lost["results"] == RETRY, lost
    again = retried_build(rig, lost)
    steps = rig.steps(again)
    outcome = {n: (s["results"], s["state_string"]) for n, s in steps.items()}
    assert again["results"] == SUCCESS, outcome
    cleanup = steps["cleanup-stale"]["state_string"]
    assert cleanup.startswith("stopped 1 live session(s) and released"), cleanup
    return again, cleanup


def test_worker_sigkilled_mid_cycle(rig):
    brid = rig.force(rig.builder, reason="worker killed mid-cycle")
    build = None
    deadline = time.monotonic() + 300
    while build is None and time.monotonic() < deadline:
        build = rig.bb.build_for_request(brid)
        time.sleep(0.1)
    session = session_of(rig, build["number"])
    wait_for_restored_vkernel(rig.bb, brid, session)
    left = orphans(session)
    sigkill(rig.worker_pid(rig.worker))
    # its zombie may keep the pid until init reaps it, and twistd would refuse to start
    # ("Another twistd server is running"): an operator removes the stale pidfile
    (rig.bb.worker_dirs[rig.worker] / "twistd.pid").unlink()
    lost = rig.bb.wait_build(brid, timeout=120)
    rig.bb._run([_bin("buildbot-worker"), "start", str(rig.bb.worker_dirs[rig.worker])],
                env=rig.bb.worker_envs[rig.worker], timeout=60)
    again, cleanup = check_recovered(rig, lost)
    assert not any(alive(pid) for pid in left)
    assert rig.leftovers() == []
    print(f"\nworker SIGKILLed mid-cycle (restored vkernel up): build {lost['number']} ended "
          f"RETRY {lost['state_string']!r}; build {again['number']} green, its cleanup-stale "
          f"{cleanup!r}; leaks 0")


def test_master_sigkilled_during_boot(rig):
    brid = rig.force(rig.builder, reason="master killed during boot")
    build, session = wait_for_live_vkernel(rig, brid)
    assert rig.steps(build)["boot"]["results"] is None     # still booting
    left = orphans(session)
    pidfile = rig.bb.master_dir / "twistd.pid"
    sigkill(int(pidfile.read_text().strip()))
    pidfile.unlink()    # the zombie's pidfile: twistd would refuse to start
    rig.bb._run([_bin("buildbot"), "start", "--start_timeout=120", str(rig.bb.master_dir)],
                timeout=130)   # buildbot's own 10 s fails on a busy host
    rig.bb.wait_for_workers(timeout=120)
    lost = rig.bb.build_for_request(brid)
    again, cleanup = check_recovered(rig, lost)
    assert not any(alive(pid) for pid in left)
    assert rig.leftovers() == []
    print(f"\nmaster SIGKILLed while the vkernel booted: build {lost['number']} ended RETRY; "
          f"build {again['number']} green, its cleanup-stale {cleanup!r}; leaks 0")
