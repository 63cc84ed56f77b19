"""The ``restore-slow`` fault (a test knob): a restore F times as slow as the host's last
unslowed restores, timed as the agent times it, and ``vkckpt simhost fault`` refusing a factor
it cannot use."""
import os
import statistics
import time

import pytest

from buildbot_vkckpt.simhost import kernelckpt
from buildbot_vkckpt.simhost.cli import check_fault
from tests.simhost.test_vkernel import sim  # noqa: F401 - the fixture
from tests.simhost.test_vkernel_ckpt import core_limit  # noqa: F401 - autouse: RLIMIT_CORE


class Host:
    def __init__(self, state_dir, faults):
        self.state_dir = state_dir
        self.faults = faults

    def fault(self, name):
        return self.faults.get(name)


@pytest.fixture
def clock(monkeypatch):
    """The restore has run ``clock.elapsed`` seconds; ``clock.slept`` what it waited."""
    class Clock:
        now, elapsed, slept = 1000.0, 0.1, []
    monkeypatch.setattr(kernelckpt.time, "monotonic", lambda: Clock.now)
    monkeypatch.setattr(kernelckpt, "process_started", lambda: Clock.now - Clock.elapsed)
    monkeypatch.setattr(kernelckpt.time, "sleep", Clock.slept.append)
    return Clock


def test_unslowed_restores_are_timed_and_slowed_ones_are_f_times_their_median(tmp_path, clock):
    host = Host(tmp_path, {})
    for elapsed in [0.90] * 5 + [0.10, 0.30, 0.12, 0.11, 0.50, 0.13] * 2 + [0.12, 0.13, 0.10]:
        clock.elapsed = elapsed
        kernelckpt.slow_restore(host)
    assert clock.slept == []
    assert (tmp_path / kernelckpt.RESTORE_TIMES).read_text().split()[-1] == "0.1000"
    host.faults["restore-slow"] = "2"
    clock.elapsed = 0.05            # this one happens to be fast: it waits the longer
    kernelckpt.slow_restore(host)
    # the median of the last 15 (the five 0.90 before them left out) is 0.12: 0.24 in all
    assert clock.slept == [pytest.approx(0.24 - 0.05)]
    clock.elapsed = 0.40            # already slower than that: no wait
    kernelckpt.slow_restore(host)
    assert clock.slept[1] == 0.0
    # a slowed restore is not timed: it would drag the baseline up
    assert len((tmp_path / kernelckpt.RESTORE_TIMES).read_text().split()) == 20


def test_without_earlier_restores_it_doubles_the_time_so_far(tmp_path, clock):
    clock.elapsed = 0.2
    kernelckpt.slow_restore(Host(tmp_path, {"restore-slow": ""}))
    kernelckpt.slow_restore(Host(tmp_path, {"restore-slow": "3"}))
    kernelckpt.slow_restore(Host(tmp_path, {"restore-slow": "junk"}))   # hand-written: 2
    assert clock.slept == [pytest.approx(0.2), pytest.approx(0.4), pytest.approx(0.2)]


@pytest.mark.parametrize("arg, factor", [(None, 2.0), ("", 2.0), ("3", 3.0), ("1.5", 1.5),
                                         ("1", None), ("0.5", None), ("-2", None),
                                         ("abc", None), ("1000", None)])
def test_the_factor(arg, factor):
    assert kernelckpt.slow_factor(arg) == factor
    problem = check_fault("restore-slow", arg)
    assert (problem is None) == (factor is not None)
    if problem:
        assert "restore-slow" in problem and "above 1" in problem


def restore_seconds(sim, ckpt):
    """``checkpt -r`` until ``Restored from checkpoint...``, as the agent times it."""
    from tests.simhost.test_vkernel_ckpt import Restored
    r = Restored(sim, ckpt)
    sim.started.append(r)
    r.expect("Restored from checkpoint...")
    return time.monotonic() - r.started, r


def test_a_simulated_restore_is_twice_as_slow_as_the_ones_before(sim):
    from tests.simhost.test_vkernel_ckpt import boot, checkpoint
    vk = boot(sim)
    ckpt = checkpoint(sim, vk)
    plain = []
    for _ in range(3):
        seconds, vk = restore_seconds(sim, ckpt)
        plain.append(seconds)
        os.kill(vk.proc.pid, 34)       # checkpoint the restored vkernel again
        assert vk.wait() == 0
    timed = [float(x) for x in (sim.host.state_dir / kernelckpt.RESTORE_TIMES).read_text()
             .split()]
    assert len(timed) == 3
    sim.faults(restore_slow="2")
    slow, _vk = restore_seconds(sim, ckpt)
    assert slow >= 1.6 * statistics.median(plain), (slow, plain, timed)


def test_the_median_of_the_earlier_restores():
    assert kernelckpt._median([0.3]) == 0.3
    assert kernelckpt._median([0.5, 0.1, 0.3]) == 0.3
    assert kernelckpt._median([0.4, 0.1, 0.2, 0.3]) == 0.25
