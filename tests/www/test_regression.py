"""The regression flag: a slow restore raises it, and nothing else does.

The builds are shaped like the demo scenarios' (three cycles, the first one slower, times that
wobble by ±15 % from build to build): ok builds, then one scenario each. Only ``restore-slow``
(every restore twice as long) may be flagged, on its restore (and so its console) time.
"""
import random

import pytest

from buildbot_vkckpt.www import DashboardApp, regression
from buildbot_vkckpt.www.summary import summarize
from tests.www.fakeapi import FakeApi, cycle_sets, step_properties, suite_set
from tests.www.test_app import call

# seconds per cycle of an ok build; the first cycle of each is slower
CKPT, RESTORE, CONSOLE, SIZE = (0.120, 0.060, 0.060), (0.600, 0.100, 0.110), \
    (0.640, 0.130, 0.140), (12 << 20, 12 << 20, 12 << 20)
CYCLE_OK = (("checkpoint-cycle", 0, "3/3 cycles ok"),)
SUITE = ("guest-suite", 0, "4 passed")


def wobble(values, rng, scale=1.0):
    return [f"{v * scale * rng.uniform(0.85, 1.15):.3f}" for v in values]


def add_scenario(api, number, name, rng):
    """One build of builder 1 as the demo scenario ``name`` leaves it."""
    if name in ("ok", "restore-slow"):
        slow = 2.0 if name == "restore-slow" else 1.0
        restore = wobble(RESTORE, rng, slow)
        # the console answers after the restore: it is slower by as much
        console = [f"{float(r) + c - rr:.3f}" for r, c, rr in zip(restore, CONSOLE, RESTORE)]
        return api.add_build(1, number, steps=[SUITE, *CYCLE_OK],
                             sets=suite_set() + cycle_sets(wobble(CKPT, rng), restore, console,
                                                           [str(s) for s in SIZE]),
                             properties=step_properties(4, 0, 0, cycles_ok=3, cycles=3))
    if name == "guest-test-fails":
        return api.add_build(1, number, results=2, steps=[("guest-suite", 2, "failed"),
                                                          *CYCLE_OK],
                             sets=suite_set(failed=("memory",)) + cycle_sets(
                                 wobble(CKPT, rng), wobble(RESTORE, rng), wobble(CONSOLE, rng),
                                 [str(s) for s in SIZE]),
                             properties=step_properties(3, 1, 0, ["memory"], 3, 3))
    if name == "restore-panics":
        checks = {"cycle 1: checkpoint": "1", "cycle 1: restore": "0"}
        props = step_properties(4, 0, 0, cycles_ok=0, cycles=3)
        props.update({"vkckpt_cycles_not_run": (2, "checkpoint-cycle"),
                      "vkckpt_panic": ("panic: vmspace_ctl: cannot restore vmspace",
                                       "checkpoint-cycle")})
        return api.add_build(1, number, results=2,
                             steps=[SUITE, ("checkpoint-cycle", 2, "panic")],
                             sets=suite_set() + cycle_sets(wobble(CKPT[:1], rng), [], [],
                                                           [str(SIZE[0])], checks=checks),
                             properties=props)
    if name == "stock-vkernel":
        props = step_properties(4, 0, 0, cycles_ok=0, cycles=3)
        props.update({"vkckpt_cycles_not_run": (3, "checkpoint-cycle"),
                      "vkckpt_not_tested": ("the vkernel has no checkpoint handler",
                                            "checkpoint-cycle")})
        return api.add_build(1, number, results=1, steps=[
            SUITE, ("checkpoint-cycle", 1, "checkpoint NOT TESTED")],
            sets=suite_set(), properties=props)
    raise ValueError(name)


def history(*names, seed=1):
    rng = random.Random(seed)
    api = FakeApi()
    api.add_builder("vkckpt-sim", 1)
    for number, name in enumerate(names, 1):
        add_scenario(api, number, name, rng)
    return api


def page_of(api, **kwargs):
    app = DashboardApp(**kwargs)
    app.buildbot_api = api
    return call(app)[2]


def flagged(api, **kwargs):
    """{build number: [flagged attributes]} as the page shows them."""
    import re
    body = page_of(api, **kwargs)
    found = {}
    for build, metric in re.findall(r'<li class="vkd-regression" data-build="(\d+)" '
                                    r'data-metric="(\w+)"', body):
        found.setdefault(int(build), []).append(metric)
    return found, body


@pytest.mark.parametrize("seed", range(20))
def test_a_restore_twice_as_slow_is_flagged_and_nothing_else(seed):
    api = history("ok", "ok", "ok", "restore-slow", "ok", "guest-test-fails", "ok",
                  "restore-panics", "stock-vkernel", "ok", seed=seed)
    found, body = flagged(api)
    assert found == {4: ["restore_seconds", "console_seconds"]}, found
    # in the row: the cell, the words, and the dot on the restore trend
    assert body.count('<div class="vkd-regression" data-build="4" '
                      'data-metric="restore_seconds"') == 1
    assert 'data-build="4"><td>' in body
    row = body.split('data-build="4"><td>')[1].split("</tr>")[0]
    assert "slower than usual" in row and "vkd-regressed" in row
    assert body.count('class="vkd-regression"><title>#4: ') == 1      # restore sparkline dot


@pytest.mark.parametrize("scenario", ["ok", "guest-test-fails", "restore-panics",
                                      "stock-vkernel"])
def test_no_flag_after_a_steady_history(scenario):
    for seed in range(10):
        api = history("ok", "ok", "ok", "ok", "ok", scenario, seed=seed)
        assert flagged(api)[0] == {}, (scenario, seed)


def test_the_threshold_and_baseline_are_settings():
    api = history("ok", "ok", "ok", "restore-slow", seed=3)
    assert 4 in flagged(api)[0]
    # +150 % required: a doubled restore is within it
    assert flagged(api, regression_threshold=1.5)[0] == {}
    body = flagged(api, regression_threshold=0.5, regression_baseline=2)[1]
    assert "more than 50 % above the median of the previous 2 green builds" in body


def test_no_verdict_without_two_earlier_green_builds():
    # the slow build has one green build before it; the red and not-tested ones are no baseline
    api = history("guest-test-fails", "ok", "stock-vkernel", "restore-slow")
    assert flagged(api)[0] == {}


def restores(*values, first=None):
    """Rows, newest first, of green builds whose later cycles restored in ``values``; their
    first cycle took ``first`` (default: as long as the later ones)."""
    rows = []
    for number, restore in enumerate(values, 1):
        row = summarize({"buildid": number, "number": number, "complete": True, "results": 0})
        row.cycles_of["restore_seconds"] = [(1, first or restore), (2, restore), (3, restore)]
        rows.insert(0, row)
    return rows


def test_the_baseline_is_the_median_of_the_previous_green_builds():
    # a first cycle ten times slower changes nothing: the later cycles are compared
    rows = restores(0.10, 0.10, 0.50, 0.11, 0.13, 0.30, first=1.0)
    flags = regression.flag(rows, baseline=3, threshold=0.25)
    # #3 (0.50) is 5x its baseline of 0.10; #6 (0.30) against median(0.50, 0.11, 0.13) = 0.13
    assert [r.number for r in flags] == [6, 3]
    reg = flags[0].regressions[0]
    assert (reg.metric, reg.baseline, reg.builds) == ("restore time", 0.13, 3)
    assert reg.ratio == pytest.approx(0.30 / 0.13)


def test_tens_of_milliseconds_are_noise_not_a_regression():
    # +150 %, but 45 ms
    assert regression.flag(restores(0.030, 0.030, 0.030, 0.075)) == []
    assert len(regression.flag(restores(0.030, 0.030, 0.030, 0.081))) == 1


def test_a_slow_first_cycle_alone_is_not_a_regression():
    rows = restores(0.10, 0.10, 0.10)
    slow_start = summarize({"buildid": 9, "number": 4, "complete": True, "results": 0})
    slow_start.cycles_of["restore_seconds"] = [(1, 0.9), (2, 0.1), (3, 0.1)]
    only_one = summarize({"buildid": 10, "number": 5, "complete": True, "results": 2})
    only_one.cycles_of["restore_seconds"] = [(1, 0.9)]
    assert regression.flag([only_one, slow_start] + rows) == []


@pytest.mark.parametrize("baseline, threshold", [(1, 0.25), (True, 0.25), ("5", 0.25),
                                                 (5, 0), (5, -1), (5, "25%"), (5, None)])
def test_bad_settings_are_refused(baseline, threshold):
    assert regression.check_settings(baseline, threshold)
    from buildbot.config.errors import capture_config_errors
    from buildbot_vkckpt.www import add_dashboard

    with capture_config_errors(raise_on_error=False) as errors:
        assert add_dashboard({"www": {}}, regression_baseline=baseline,
                             regression_threshold=threshold) is None
    assert len(errors.errors) == 1 and "regression_" in errors.errors[0]


def test_flags_are_set_per_page_never_on_the_cached_rows():
    api = history("ok", "ok", "ok", "restore-slow", seed=4)
    app = DashboardApp()
    app.buildbot_api = api
    first = call(app)[2]
    cached = [app.collector.cached(b["buildid"])
              for b in api.answers[("builders", "1", "builds")]]
    assert all(row is not None and row.regressions == [] for row in cached)
    assert call(app)[2] == first and 'data-build="4" data-metric="restore_seconds"' in first
