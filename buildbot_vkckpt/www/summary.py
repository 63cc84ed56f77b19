"""One build's row on the dashboard, made from what the data API returned for that build.

It reads the properties the steps set (``vkckpt_suite_counts``, ``vkckpt_cycles_ok``,
``vkckpt_not_tested``, ``vkckpt_panic`` ...), their test-result sets, the steps' results and
logs and the build's changes; it never parses a summary, so rewording one cannot break the
page. Everything here takes the dicts and lists the data API gives and never raises on a
missing or malformed value: what cannot be read stays ``None`` (rendered as "—"), and the
build's row still shows.
"""
import re
from dataclasses import dataclass, field

from buildbot_vkckpt.steps.cycle import PASS_FAIL_SET, PERFORMANCE_SETS, SIZE_SET
from buildbot_vkckpt.steps.plan import PLAN_SOURCE
from buildbot_vkckpt.www.identity import read_identity
from buildbot_vkckpt.www.values import (as_list, integer, median, number, plan_value,
                                        property_text, property_value, text)

SUITE_SET = "guest checkpoint suite"
CYCLE_STEP = "checkpoint-cycle"
BACKTRACE_LOG = "backtrace"
# set description -> BuildSummary attribute of the metric (per-cycle values in ``cycles_of``)
METRIC_SETS = {**{description: attr for description, attr in PERFORMANCE_SETS},
               SIZE_SET: "ckpt_bytes"}
RESULT_NAMES = ("success", "warnings", "failure", "skipped", "exception", "retry", "cancelled")
SKIPPED = 3
# results that make a step the reason a build is red
BAD_RESULTS = (2, 4, 5, 6)
# a result of the cycle step is named "cycle N" or "cycle N: <check>" (a test name)
CYCLE_TEST = re.compile(r"cycle (\d+)\b")
MAX_FRAMES = 6


@dataclass
class BuildSummary:
    buildid: object = None
    number: object = None
    builderid: object = None
    complete: bool = False
    results: object = None
    started_at: object = None         # datetime or epoch seconds, as the API gave it
    revision: str = None
    identity: object = None           # identity.Identity: branch, commit, host, vkernel
    passed: int = None
    failed: int = None
    xfail: int = None
    suite: dict = field(default_factory=dict)     # test -> outcome (pass, fail, xfail, xpass..)
    flaky: dict = field(default_factory=dict)     # re-run test or check -> its verdict
    cycles_ok: int = None
    cycles: int = None                # cycles that ran
    cycles_planned: int = None        # cycles asked for, when the step said
    failed_cycle: int = None
    # attribute -> [(cycle number, value)], in cycle order
    cycles_of: dict = field(default_factory=dict)
    ckpt_seconds: float = None        # medians over the cycles
    restore_seconds: float = None
    console_seconds: float = None
    ckpt_bytes: float = None
    not_tested: str = None            # why checkpointing was not tested, in plain words
    failed_tests: list = field(default_factory=list)
    assertions: list = field(default_factory=list)  # (test, what its assertion said)
    failed_step: str = None
    failed_summary: str = None
    panic: str = None
    backtrace: list = field(default_factory=list)   # the first frames
    backtrace_log: tuple = None       # (step number, log slug) for a link
    regressions: list = field(default_factory=list)  # regression.Regression, set by a page
    problems: list = field(default_factory=list)     # data that could not be read
    # host-side vkernel paths the build's plan named: not tested by this pipeline
    untested_host_paths: list = field(default_factory=list)

    @property
    def result_name(self):
        if not self.complete and self.results is None:
            return "running"
        if isinstance(self.results, int) and not isinstance(self.results, bool) \
                and 0 <= self.results < len(RESULT_NAMES):
            return RESULT_NAMES[self.results]
        return "unknown"

    @property
    def red(self):
        return self.result_name in ("failure", "exception", "retry", "cancelled")

    @property
    def green(self):
        """A finished build that passed and tested checkpointing: a baseline for trends."""
        return self.result_name == "success" and self.not_tested is None

    @property
    def state(self):
        """What the row says first: ``not-tested`` wins over a green or yellow result."""
        if self.not_tested is not None and not self.red and self.result_name != "running":
            return "not-tested"
        return self.result_name

    def later(self, attr):
        """The median of ``attr`` over the cycles after the first (the first also pays for
        warming up), or None when only one ran: what regressions compare."""
        values = [v for n, v in self.cycles_of.get(attr) or () if n > 1]
        return median(values)

    @property
    def xpassed(self):
        """Expected failures that passed: the test or its expectation is out of date."""
        return [t for t, outcome in self.suite.items() if outcome == "xpass"]


def _sets_named(sets, description, prefer_stepids):
    matching = sorted((s for s in sets if s.get("description") == description),
                      key=lambda s: integer(s.get("test_result_setid")) or 0)
    preferred = [s for s in matching if s.get("stepid") in prefer_stepids]
    return preferred or matching


def wanted_sets(steps, sets):
    """The ids of the test-result sets whose results a row needs: the cycle checks and
    metrics, and the suite's (its per-test history)."""
    steps, sets = as_list(steps), as_list(sets)
    cycle_steps = {s.get("stepid") for s in steps if s.get("name") == CYCLE_STEP}
    wanted = []
    for description in (PASS_FAIL_SET, *METRIC_SETS):
        found = _sets_named(sets, description, cycle_steps)
        if found:
            wanted.append(found[0].get("test_result_setid"))
    suite = _sets_named(sets, SUITE_SET, ())
    if suite:
        wanted.append(suite[0].get("test_result_setid"))
    return [w for w in wanted if integer(w) is not None]


def failing_step(steps):
    """The first step that made the build red (hidden steps aside), or None."""
    steps = sorted(as_list(steps), key=lambda s: integer(s.get("number")) or 0)
    bad = [s for s in steps if integer(s.get("results")) in BAD_RESULTS and not s.get("hidden")]
    return bad[0] if bad else None


def _failed_names(results):
    return [str(r.get("test_name") or "?") for r in results if str(r.get("value")) == "0"]


def summarize(build, steps=(), sets=(), results=None, properties=None, changes=(), logs=()):
    """A :class:`BuildSummary` from a build, its steps, its test-result sets, the results of
    the sets :func:`wanted_sets` named (``{setid: [result, ...]}``), its properties, its
    changes and the logs of its failing step."""
    build = build if isinstance(build, dict) else {}
    steps = sorted(as_list(steps), key=lambda s: integer(s.get("number")) or 0)
    sets = as_list(sets)
    results = results if isinstance(results, dict) else {}
    row = BuildSummary(buildid=integer(build.get("buildid")), number=integer(build.get("number")),
                       builderid=integer(build.get("builderid")),
                       complete=build.get("complete") is True,
                       results=integer(build.get("results")),
                       started_at=build.get("started_at"))
    revision = property_value(properties, "got_revision")
    if isinstance(revision, dict):      # several codebases: {codebase: revision}
        revision = ", ".join(str(v) for v in revision.values() if v)
    row.revision = text(revision) or text(property_value(properties, "revision"))
    row.identity = read_identity(properties, changes, row.revision)
    host = plan_value(properties, "vkckpt_untested_host_paths", PLAN_SOURCE)
    if isinstance(host, (list, tuple)):
        row.untested_host_paths = [p for p in host if isinstance(p, str) and p]

    _flaky(row, properties)
    _suite(row, sets, results, properties)
    _cycles(row, steps, sets, results, properties)
    _not_tested(row, steps, properties)
    if row.red:
        _failure(row, build, steps, properties, logs)
    return row


def _suite(row, sets, results, properties):
    counts = property_value(properties, "vkckpt_suite_counts")
    suite_sets = _sets_named(sets, SUITE_SET, ())
    suite_set = suite_sets[0] if suite_sets else None
    if isinstance(counts, dict):
        row.passed, row.failed, row.xfail = (integer(counts.get(k))
                                             for k in ("pass", "fail", "xfail"))
    elif suite_set is not None:
        # the set counts an expected failure as passed: xfail stays unknown
        row.passed = integer(suite_set.get("tests_passed"))
        row.failed = integer(suite_set.get("tests_failed"))
    failed = property_value(properties, "vkckpt_suite_failed_tests")
    suite_results = as_list(results.get(suite_set.get("test_result_setid"))) \
        if suite_set is not None else []
    if isinstance(failed, list):
        failed = [t for t in failed if isinstance(t, str) and t]
        row.failed_tests.extend(failed)
    else:
        failed = _failed_names(suite_results)
        row.failed_tests.extend(failed)
    for entry in as_list(property_value(properties, "vkckpt_suite_failures")):
        test, message = text(entry.get("test")), text(entry.get("message"))
        if test and message:
            row.assertions.append((test, message))
    outcomes = property_value(properties, "vkckpt_suite_outcomes")
    if isinstance(outcomes, dict):
        row.suite = {str(t): str(o) for t, o in outcomes.items() if isinstance(t, str) and t}
        return
    # without the outcomes a "1" is pass or xfail (shown as pass) and a "0" not among the
    # failed tests is an expected failure that passed
    for r in suite_results:
        name = text(r.get("test_name"))
        if name is None:
            continue
        value = str(r.get("value"))
        flaky = str(row.flaky.get(name, "")).startswith("flaky")
        row.suite[name] = ("pass" if value == "1" else
                           "fail" if name in failed else "flaky" if flaky else
                           "xpass" if value == "0" else "?")


def _flaky(row, properties):
    """``vkckpt_flaky``: the verdict of every test or cycle check the build re-ran."""
    entries = property_value(properties, "vkckpt_flaky")
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and text(entry.get("test")) and text(entry.get("verdict")):
            row.flaky[text(entry["test"])] = text(entry["verdict"])


def _cycle_number(result):
    match = CYCLE_TEST.match(str(result.get("test_name") or ""))
    return int(match.group(1)) if match else None


def _cycles(row, steps, sets, results, properties):
    cycle_ids = {s.get("stepid") for s in steps if s.get("name") == CYCLE_STEP}
    found = _sets_named(sets, PASS_FAIL_SET, cycle_ids)
    if found:
        checks = as_list(results.get(found[0].get("test_result_setid")))
        per_cycle = {}
        for r in checks:
            n = _cycle_number(r)
            if n is not None:
                per_cycle.setdefault(n, []).append(str(r.get("value")) == "1")
        if per_cycle:
            row.cycles = len(per_cycle)
            row.cycles_ok = sum(1 for oks in per_cycle.values() if all(oks))
            bad = sorted(n for n, oks in per_cycle.items() if not all(oks))
            row.failed_cycle = bad[0] if bad else None
        row.failed_tests.extend(_failed_names(checks))
    ok = integer(property_value(properties, "vkckpt_cycles_ok"))
    total = integer(property_value(properties, "vkckpt_cycles_total"))
    not_run = integer(property_value(properties, "vkckpt_cycles_not_run"))
    if ok is not None and total is not None:
        # with vkckpt_cycles_not_run the total is the cycles asked for; before it, those ran
        row.cycles_ok = ok
        row.cycles = total - not_run if not_run is not None and not_run <= total else total
        row.cycles_planned = total if not_run is not None else None
    for description, attr in METRIC_SETS.items():
        found = _sets_named(sets, description, cycle_ids)
        if not found:
            continue
        values = []
        for r in as_list(results.get(found[0].get("test_result_setid"))):
            value = number(r.get("value"))
            if value is not None:
                values.append((_cycle_number(r) or len(values) + 1, value))
        values.sort(key=lambda nv: nv[0])
        row.cycles_of[attr] = values
        setattr(row, attr, median(v for _n, v in values))


def _not_tested(row, steps, properties):
    """The steps say why checkpointing was not tested (``vkckpt_not_tested``); a build from
    before that property says it by a skipped cycle step, whose summary is then the reason."""
    reason = property_text(properties, "vkckpt_not_tested")
    if reason is not None:
        row.not_tested = reason
        return
    cycle = [s for s in steps if s.get("name") == CYCLE_STEP]
    if cycle and integer(cycle[-1].get("results")) == SKIPPED:
        row.not_tested = text(cycle[-1].get("state_string")) or "the checkpoint cycle was skipped"


def _failure(row, build, steps, properties, logs):
    bad = failing_step(steps)
    if bad is not None:
        row.failed_step = text(bad.get("name")) or "?"
        row.failed_summary = text(bad.get("state_string"))
    else:
        row.failed_summary = text(build.get("state_string"))
    row.panic = property_text(properties, "vkckpt_panic")
    frames = property_value(properties, "vkckpt_backtrace")
    if isinstance(frames, str):
        frames = frames.splitlines()
    if isinstance(frames, (list, tuple)):
        row.backtrace = [f.strip() for f in frames if isinstance(f, str) and f.strip()][
            :MAX_FRAMES]
    logname = property_text(properties, "vkckpt_backtrace_log") or BACKTRACE_LOG
    for log_ in as_list(logs):
        if log_.get("name") == logname and text(log_.get("slug")) and bad is not None \
                and integer(bad.get("number")) is not None:
            row.backtrace_log = (bad["number"], log_["slug"])
            break
