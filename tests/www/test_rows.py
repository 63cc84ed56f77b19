"""What a row says: NOT TESTED as its own state, what was tested (commit, branch, host,
vkernel), what broke (failing step, panic, backtrace and its log), the cycles that did not
run, and the guest suite's per-test history."""
import datetime
import re

from buildbot_vkckpt.units import format_ms, format_size
from buildbot_vkckpt.www.spark import nice_top
from tests.www.fakeapi import FakeApi, cycle_sets, step_properties, suite_set
from tests.www.test_app import Tags, call, mounted

REV = "0123456789abcdef0123456789abcdef01234567"


def page(api, **kwargs):
    body = call(mounted(api, **kwargs))[2]
    parser = Tags()
    parser.feed(body)
    assert parser.stack == []
    return body


def row_html(body, number):
    return body.split(f'data-build="{number}"><td>')[1].split("</tr>")[0]


def not_tested_api(results=1, with_property=True):
    api = FakeApi()
    api.add_builder("vkckpt-stock", 1)
    props = step_properties(4, 0, 0, cycles_ok=0, cycles=3)
    steps = [("guest-suite", 0, "4 passed"),
             ("checkpoint-cycle", results if with_property else 3,
              "unsupported: the vkernel has no checkpoint handler")]
    if with_property:
        props["vkckpt_not_tested"] = ("the vkernel has no checkpoint handler "
                                      "(DragonFly master as of 2020)", "checkpoint-cycle")
        props["vkckpt_cycles_not_run"] = (3, "checkpoint-cycle")
    api.add_build(1, 1, results=results, steps=steps, sets=suite_set(), properties=props)
    return api


def test_not_tested_is_its_own_state_never_green():
    body = page(not_tested_api())
    row = row_html(body, 1)
    assert 'class="vkd-row vkd-state-not-tested"' in body
    assert '<span class="vkd-result vkd-not-tested">checkpoint NOT TESTED</span>' in row
    assert "the vkernel has no checkpoint handler (DragonFly master as of 2020)" in row
    assert "vkd-r-success" not in row and "vkd-r-warnings" not in row
    assert ">not tested<" in row                    # the cycles cell
    # the answer first: the builder's latest build, above the trends
    latest = re.search(r'<p class="vkd-latest[^"]*">(.*?)</p>', body).group(1)
    assert "checkpoint NOT TESTED" in latest and "no checkpoint handler" in latest
    assert body.index("vkd-latest") < body.index("vkd-trends")
    assert "§" not in body.split("</style>")[1]


def test_older_builds_say_not_tested_by_a_skipped_cycle_step():
    body = page(not_tested_api(results=0, with_property=False))
    row = row_html(body, 1)
    assert "checkpoint NOT TESTED" in row and "vkd-r-success" not in row
    assert "unsupported: the vkernel has no checkpoint handler" in row


def test_required_support_is_red_and_still_says_not_tested():
    row = row_html(page(not_tested_api(results=2)), 1)
    assert "vkd-r-failure" in row and "vkd-not-tested-note" in row


def panic_api():
    api = FakeApi()
    api.add_builder("vkckpt-master", 1)
    props = step_properties(4, 0, 0, cycles_ok=0, cycles=3)
    props.update({
        "vkckpt_cycles_not_run": (2, "checkpoint-cycle"),
        "vkckpt_panic": ("panic: vmspace_ctl: cannot restore vmspace", "checkpoint-cycle"),
        "vkckpt_backtrace": ("Debugger(...)\npanic(...)\nvmspace_ctl(...)\nsyscall(...)",
                             "checkpoint-cycle"),
        "vkckpt_backtrace_log": ("backtrace", "checkpoint-cycle"),
        "branch": ("master", "Git")})
    checks = {"cycle 1: checkpoint": "1", "cycle 1: restore": "0"}
    api.add_build(1, 4, results=2, revision=REV, state_string="failed checkpoint-cycle",
                  started_at=datetime.datetime(2026, 12, 6, 8, 30, tzinfo=datetime.timezone.utc),
                  steps=[("guest-suite", 0, "4 passed"),
                         ("checkpoint-cycle", 2, "kernel: cycle 1/3 (restore): panic")],
                  sets=suite_set() + cycle_sets(["0.120"], [], [], [str(12 << 20)],
                                                checks=checks),
                  properties=props,
                  changes=[{"revision": REV, "author": "Jane Dev <jane@example.org>",
                            "comments": "vm: keep the vmspace <lock>\n\nlonger text",
                            "branch": "master", "revlink": "https://example.org/c/1"}],
                  logs={"checkpoint-cycle": ["stdio", "backtrace", "cycle-report.html"]})
    return api


def test_a_red_build_shows_the_panic_frames_and_a_link_to_the_backtrace():
    body = page(panic_api())
    row = row_html(body, 4)
    assert '<div class="vkd-panic">panic: vmspace_ctl: cannot restore vmspace</div>' in row
    assert '<pre class="vkd-backtrace">Debugger(...)\npanic(...)\nvmspace_ctl(...)' in row
    assert ('<a class="vkd-backtrace-link" href="/#/builders/1/builds/4/steps/1/logs/'
            'backtrace">backtrace log</a>') in row
    assert '<b class="vkd-failed-step">checkpoint-cycle</b>' in row
    assert "failed: cycle 1: restore" in row
    # counted as the step counts: three asked for, one ran and failed, two did not run
    assert "0/3 ok" in row and "cycle 1 failed · 2 not run" in row
    latest = re.search(r'<p class="vkd-latest[^"]*">(.*?)</p>', body).group(1)
    assert "panic: vmspace_ctl" in latest


def test_the_row_says_what_was_tested():
    api = panic_api()
    build = api.answers[("builders", "1", "builds")][0]
    api.answers[("builds", str(build["buildid"]), "properties")].update({
        "vkckpt_host_kernel": ("6.4-RELEASE", "preflight"),
        "vkckpt_flavour": ("master-with-port", "boot"),
        "vkckpt_vkernel_memory": ("256m", "boot"), "vkckpt_vkernel_cpus": (2, "boot")})
    row = row_html(page(api), 4)
    assert "2026-12-06 08:30 UTC" in row
    assert '<span class="vkd-branch">master</span>' in row
    assert (f'<a class="vkd-commit" href="https://gitweb.dragonflybsd.org/dragonfly.git/commit/'
            f'{REV}" title="{REV}"><code>{REV[:12]}</code></a>') in row
    assert "vm: keep the vmspace &lt;lock&gt;" in row and "longer text" not in row
    assert "Jane Dev &lt;jane@example.org&gt;" in row
    assert "host 6.4-RELEASE · vkernel master-with-port · 256m memory · 2 CPUs" in row


def test_the_commit_link_template_and_the_changes_own_link():
    row = row_html(page(panic_api(), revision_url="https://git.example.org/c/{revision}"), 4)
    assert f'href="https://git.example.org/c/{REV}"' in row
    row = row_html(page(panic_api(), revision_url=None), 4)
    assert 'href="https://example.org/c/1"' in row


def test_an_unreadable_date_or_identity_is_left_out():
    api = FakeApi()
    api.add_builder("b", 1)
    api.add_build(1, 1, started_at="yesterday", properties={"branch": (7, "x")},
                  changes=[{"comments": None, "author": 3}])
    row = row_html(page(api), 1)
    assert "vkd-date" not in row and "vkd-subject" not in row and "vkd-machine" not in row


def test_later_cycles_share_one_unit_and_equal_cycles_need_no_detail():
    api = FakeApi()
    api.add_builder("b", 1)
    api.add_build(1, 1, steps=[("checkpoint-cycle", 0, "ok")],
                  sets=cycle_sets(["0.612", "0.097", "0.155"], ["0.100", "0.100", "0.100"],
                                  ["0.9", "0.95", "1.2"], ["4096"] * 3))
    row = row_html(page(api), 1)
    assert "1st 612 ms</div><div class=\"vkd-cycles\">later 97–155 ms" in row
    assert "later 950 ms – 1.200 s" in row
    restore = re.search(r'data-metric="restore_seconds"[^>]*>(.*?)</td>', row).group(1)
    assert "1st" not in restore and ">100 ms<" in restore


def test_units_for_people():
    assert [format_ms(v) for v in (0.097, 0.115, 0.155)] == ["97 ms", "115 ms", "155 ms"]
    assert format_ms(0.0015) == "1.5 ms" and format_ms(1.2345) == "1.234 s"
    assert format_size(268591104) == "256.1 MiB" and format_size(3 << 30) == "3.00 GiB"
    assert [nice_top(v) for v in (0.155, 0.9, 2.1, 11.0, 0)] == [0.2, 1, 2.5, 20, 1]


def suite_history():
    api = FakeApi()
    api.add_builder("b", 1)
    outcomes = [{"files": "pass", "fpu": "xfail", "memory": "pass"},
                {"files": "pass", "fpu": "xfail", "memory": "fail"},
                {"files": "pass", "fpu": "xpass", "memory": "pass"}]
    for number, by_test in enumerate(outcomes, 1):
        values = {t: "0" if o in ("fail", "xpass") else "1" for t, o in by_test.items()}
        failed = [t for t, o in by_test.items() if o == "fail"]
        props = step_properties(2, len(failed), 1, failed)
        props["vkckpt_suite_outcomes"] = (by_test, "guest-suite")
        api.add_build(1, number, results=2 if failed else 1,
                      steps=[("guest-suite", 2 if failed else 1, "x")],
                      sets=[("guest-suite", "guest checkpoint suite", "pass_fail", "boolean",
                             values)], properties=props)
    return api


def test_a_failed_guest_test_shows_its_assertion():
    api = FakeApi()
    api.add_builder("b", 1)
    props = step_properties(3, 1, 0, ["memory"])
    props["vkckpt_suite_failures"] = ([
        {"test": "memory", "message": "heap word 262144 is 0x5ac3, expected <0x5ac2>"},
        {"test": "bad", "message": None}, "junk"], "guest-suite")
    api.add_build(1, 1, results=2, steps=[("guest-suite", 2, "failed")], properties=props)
    row = row_html(page(api), 1)
    assert ('<div class="vkd-assertion"><code>memory</code>: heap word 262144 is 0x5ac3, '
            "expected &lt;0x5ac2&gt;</div>") in row
    assert row.count("vkd-assertion") == 1


def test_per_test_history_marks_xfail_and_warns_when_it_passes():
    body = page(suite_history())
    strip = body.split('<table class="vkd-history">')[1].split("</table>")[0]
    memory = re.search(r'<tr data-test="memory">(.*?)</tr>', strip).group(1)
    assert re.findall(r'vkd-h vkd-h-(\w+)', memory) == ["pass", "fail", "pass"]
    assert 'title="#2: FAILED"' in memory
    fpu = re.search(r'<tr data-test="fpu">(.*?)</tr>', strip).group(1)
    assert re.findall(r'vkd-h vkd-h-(\w+)', fpu) == ["xfail", "xfail", "xpass"]
    assert 'class="vkd-xfail"' in fpu and "xfail now passes" in fpu
    assert '<li class="vkd-xpass">#3: xfail now passes: <code>fpu</code>' in body
    assert "xfail now passes" not in re.search(r'<tr data-test="files">(.*?)</tr>',
                                               strip).group(1)


def test_without_the_outcomes_property_an_unexpected_pass_is_still_found():
    api = suite_history()
    for build in api.answers[("builders", "1", "builds")]:
        del api.answers[("builds", str(build["buildid"]), "properties")][
            "vkckpt_suite_outcomes"]
    body = page(api)
    fpu = re.search(r'<tr data-test="fpu">(.*?)</tr>', body).group(1)
    # an xfail reads as pass (the set counts it passed); the xpass is a "0" not in the failures
    assert re.findall(r'vkd-h vkd-h-(\w+)', fpu) == ["pass", "pass", "xpass"]
    assert "xfail now passes" in fpu
