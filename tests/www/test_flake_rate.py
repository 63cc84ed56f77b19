"""The dashboard's flake rate: each guest test and re-run cycle check, flaky in k of the last
n builds, read from ``vkckpt_flaky`` and the suite's results (never from summaries)."""
import re

from tests.www.fakeapi import FakeApi, step_properties
from tests.www.test_rows import page

FLAKY = "flaky (1/3 failed)"


def flaky_history():
    """Four builds: memory flaky in builds 1 and 3, a cycle check flaky in build 2 and
    deterministic in build 4; no vkckpt_suite_outcomes (the suite step does not set it)."""
    api = FakeApi()
    api.add_builder("b", 1)
    verdicts = [{"memory": FLAKY}, {"cycle: workload-alive": FLAKY}, {"memory": FLAKY},
                {"cycle: workload-alive": "deterministic (3/3 failed)"}]
    for number, by_test in enumerate(verdicts, 1):
        values = {"files": "1", "memory": "0" if "memory" in by_test else "1"}
        props = step_properties(2, 0, 0, [])
        props["vkckpt_flaky"] = ([{"test": t, "verdict": v} for t, v in by_test.items()],
                                 "guest-suite")
        api.add_build(1, number, results=1, steps=[("guest-suite", 1, "x")],
                      sets=[("guest-suite", "guest checkpoint suite", "pass_fail", "boolean",
                             values)], properties=props)
    return api


def history_row(body, test):
    strip = body.split('<table class="vkd-history">')[1].split("</table>")[0]
    return re.search(rf'<tr data-test="{re.escape(test)}">(.*?)</tr>', strip).group(1)


def test_a_flaky_test_has_its_mark_and_rate_and_is_no_unexpected_pass():
    body = page(flaky_history())
    memory = history_row(body, "memory")
    assert re.findall(r'vkd-h vkd-h-(\w+)', memory) == ["flaky", "pass", "flaky", "pass"]
    assert 'title="flaky in 2 of the last 4 builds">2/4 (50 %)</td>' in memory
    assert "xfail now passes" not in body        # a "0" that was flaky is not an xpass
    assert '<td class="vkd-flake">–</td>' in history_row(body, "files")


def test_a_re_run_cycle_check_gets_a_row_of_its_own():
    check = history_row(page(flaky_history()), "cycle: workload-alive")
    assert re.findall(r'vkd-h vkd-h-(\w+)', check) == ["none", "flaky", "none", "fail"]
    assert ">1/4 (25 %)</td>" in check


def test_a_malformed_property_is_ignored():
    api = flaky_history()
    for build in api.answers[("builders", "1", "builds")]:
        api.answers[("builds", str(build["buildid"]), "properties")]["vkckpt_flaky"] = (
            ["garbage", {"test": 3}], "guest-suite")
    body = page(api)
    assert "vkd-h vkd-h-flaky" not in body and "cycle:" not in body
