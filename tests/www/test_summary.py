"""summarize(): a build's row from data API dicts, with garbage and gaps read as unknown."""
import math

import pytest

from buildbot_vkckpt.www.collect import Collector
from buildbot_vkckpt.www.summary import number, summarize, wanted_sets
from tests.www.fakeapi import FakeApi, cycle_sets, standard_api, step_properties, suite_set


def read_row(api, builderid, number_):
    build = next(b for b in api.answers[("builders", str(builderid), "builds")]
                 if b["number"] == number_)
    return Collector(api.dataGet).row(build)


def test_green_build_counts_medians_and_revision():
    row = read_row(standard_api(), 7, 1)
    assert (row.passed, row.failed, row.xfail) == (9, 0, 6)
    assert (row.cycles_ok, row.cycles) == (2, 2)
    assert row.ckpt_seconds == pytest.approx(1.2)
    assert row.restore_seconds == pytest.approx(0.6)
    assert row.console_seconds == pytest.approx(0.3)
    assert row.ckpt_bytes == 11534336
    assert row.revision == "a" * 40
    assert row.result_name == "success" and not row.red
    assert row.failed_tests == [] and row.failed_step is None and row.failed_summary is None


def test_red_build_names_failed_tests_and_the_failing_step():
    row = read_row(standard_api(), 7, 2)
    assert (row.passed, row.failed, row.xfail) == (8, 1, 6)
    assert row.red and row.result_name == "failure"
    assert row.failed_tests == ["memory"]
    assert row.failed_step == "guest-suite"
    assert row.failed_summary.endswith("failed: memory")


def test_running_build_has_no_numbers_yet():
    row = read_row(standard_api(), 7, 3)
    assert row.result_name == "running" and not row.complete
    assert row.passed is row.cycles_ok is row.ckpt_seconds is row.ckpt_bytes is None


def test_failed_cycle_counts_from_the_pass_fail_results():
    api = FakeApi()
    api.add_builder("b", 1)
    checks = {"cycle 1: checkpoint": "1", "cycle 1: restore": "1", "cycle 2: checkpoint": "1",
              "cycle 2: restore": "0"}
    api.add_build(1, 1, results=2, steps=[
        ("checkpoint-cycle", 2, "kernel: cycle 2/3: restore failed: thaw failed")],
        sets=cycle_sets(["1.5", "2.5"], ["0.5"], [], ["4096", "8192"], checks=checks))
    row = read_row(api, 1, 1)
    assert (row.cycles_ok, row.cycles) == (1, 2)
    assert row.failed_tests == ["cycle 2: restore"]
    assert row.ckpt_seconds == 2.0 and row.restore_seconds == 0.5
    assert row.console_seconds is None and row.ckpt_bytes == 6144
    assert row.failed_step == "checkpoint-cycle"
    assert row.failed_summary.startswith("kernel: cycle 2/3: restore failed")


def test_a_reworded_summary_changes_no_number():
    """The row reads the properties the steps set, never the step summaries."""
    api = FakeApi()
    api.add_builder("b", 1)
    api.add_build(1, 1, results=2, steps=[
        ("guest-suite", 2, "tests: eight fine, one bad"),
        ("checkpoint-cycle", 0, "all good")],
        properties=step_properties(8, 1, 6, ["memory"], cycles_ok=3, cycles=3))
    row = read_row(api, 1, 1)
    assert (row.passed, row.failed, row.xfail) == (8, 1, 6)
    assert (row.cycles_ok, row.cycles) == (3, 3)
    assert row.failed_tests == ["memory"]


def test_suite_counts_fall_back_to_the_set_without_properties():
    api = FakeApi()
    api.add_builder("b", 1)
    api.add_build(1, 1, steps=[("guest-suite", 0, "")], sets=suite_set())
    row = read_row(api, 1, 1)
    # the set counts xfail as passed: xfail is unknown then
    assert (row.passed, row.failed, row.xfail) == (4, 0, None)


@pytest.mark.parametrize("garbage", ["abc", "", "nan", "inf", "-1", None, True, [], {}, "1e999"])
def test_garbage_values_are_unknown(garbage):
    assert number(garbage) is None
    api = FakeApi()
    api.add_builder("b", 1)
    api.add_build(1, 1, steps=[("checkpoint-cycle", 0, "odd")],
                  sets=cycle_sets([garbage], [garbage], [garbage], [garbage],
                                  checks={"cycle 1: checkpoint": garbage}))
    row = read_row(api, 1, 1)
    assert row.ckpt_seconds is row.restore_seconds is row.console_seconds is None
    assert row.ckpt_bytes is None
    assert row.cycles == 1 and row.cycles_ok == 0


def test_valid_numbers_next_to_garbage_still_count():
    assert number(" 2.5 ") == 2.5 and number(3) == 3 and number("0") == 0.0
    assert not math.isnan(number("1e3"))


@pytest.mark.parametrize("build, steps, sets, results, props", [
    ({}, [], [], {}, {}),
    (None, None, None, None, None),
    ("junk", "junk", "junk", "junk", "junk"),
    ({"buildid": "x", "number": -3, "results": 99, "complete": "yes"}, [1, None, "s"],
     [{"description": None}, {"description": "checkpoint time", "test_result_setid": "x"}],
     {None: "x"}, {"got_revision": "not a pair"}),
    ({"buildid": 1, "number": 1, "results": 2, "complete": True},
     [{"name": None, "results": 2, "state_string": None, "number": None}],
     [{"description": "guest checkpoint suite", "tests_passed": "many", "tests_failed": -1}],
     {}, {"got_revision": ({"dfly": "abc123"}, "Git")}),
])
def test_malformed_data_never_raises(build, steps, sets, results, props):
    row = summarize(build, steps, sets, results, props)
    assert row.result_name in ("running", "unknown", "failure")
    assert wanted_sets(steps, sets) == [] or all(isinstance(i, int)
                                                 for i in wanted_sets(steps, sets))


def test_several_codebases_show_all_revisions():
    row = summarize({"buildid": 1, "complete": True, "results": 0}, properties={
        "got_revision": ({"dfly": "abc", "suite": "def"}, "Git")})
    assert row.revision == "abc, def"


def test_wanted_sets_read_the_suite_results_of_every_build():
    """Green or red, the suite's per-test results feed its history strip."""
    api = standard_api()
    builds = api.answers[("builders", "7", "builds")]
    green, red = (api.answers[("builds", str(b["buildid"]), "test_result_sets")]
                  for b in builds[:2])
    green_steps, red_steps = (api.answers[("builds", str(b["buildid"]), "steps")]
                              for b in builds[:2])
    assert len(wanted_sets(green_steps, green)) == 6
    assert len(wanted_sets(red_steps, red)) == 6


def test_skipped_cycle_step_and_missing_suite_are_unknown_not_errors():
    api = FakeApi()
    api.add_builder("b", 1)
    api.add_build(1, 1, results=0, steps=[
        ("guest-suite", 3, "skipped"),
        ("checkpoint-cycle", 3, "skipped: this vkernel cannot checkpoint")])
    row = read_row(api, 1, 1)
    assert row.passed is row.failed is row.xfail is None
    assert row.cycles_ok is row.cycles is row.ckpt_seconds is row.ckpt_bytes is None
    assert row.failed_tests == [] and row.failed_step is None and not row.red
