"""One build's row on the dashboard, made from what the data API returned for that build.

It reads the properties the steps set (``vkckpt_suite_counts``, ``vkckpt_suite_failed_tests``,
``vkckpt_cycles_ok``, ``vkckpt_cycles_total``), their test-result sets and the steps' results;
it never parses a summary, so rewording one cannot break the page. Everything here takes the dicts and lists the data API gives and never raises on a missing or
malformed value: what cannot be read stays ``None`` (rendered as "—"), and the build's row
still shows.
"""
import math
import re
import statistics
from collections import UserList
from dataclasses import dataclass, field

from buildbot_vkckpt.steps.cycle import PASS_FAIL_SET, PERFORMANCE_SETS, SIZE_SET
from buildbot_vkckpt.steps.plan import PLAN_SOURCE

SUITE_SET = "guest checkpoint suite"
CYCLE_STEP = "checkpoint-cycle"
# set description -> BuildSummary attribute holding the median over the build's cycles
METRIC_SETS = {**{description: attr for description, attr in PERFORMANCE_SETS},
               SIZE_SET: "ckpt_bytes"}
RESULT_NAMES = ("success", "warnings", "failure", "skipped", "exception", "retry", "cancelled")
# results that make a step the reason a build is red
BAD_RESULTS = (2, 4, 5, 6)
# a pass_fail result of the cycle step is named "cycle N: <check>" (a test name, not a summary)
CYCLE_TEST = re.compile(r"cycle (\d+)\b")


@dataclass
class BuildSummary:
    buildid: object = None
    number: object = None
    builderid: object = None
    complete: bool = False
    results: object = None
    revision: str = None
    passed: int = None
    failed: int = None
    xfail: int = None
    cycles_ok: int = None
    cycles: int = None
    ckpt_seconds: float = None
    restore_seconds: float = None
    console_seconds: float = None
    ckpt_bytes: float = None
    failed_tests: list = field(default_factory=list)
    failed_step: str = None
    failed_summary: str = None
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


def number(value):
    """A finite number >= 0 from a data API value (test-result values are strings), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return None
    return value


def integer(value):
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 \
        else None


def text(value):
    return value if isinstance(value, str) and value else None


def as_list(value):
    """The dicts of a data API list (a ``ListResult``, which is no ``list``); else []."""
    if not isinstance(value, (list, tuple, UserList)):
        return []
    return [v for v in value if isinstance(v, dict)]


def property_value(properties, name):
    """A build property from the data API (``{name: (value, source)}``) or REST (lists)."""
    if not isinstance(properties, dict):
        return None
    entry = properties.get(name)
    if isinstance(entry, (list, tuple)) and entry:
        return entry[0]
    return None


def plan_value(properties, name):
    """A property the plan step set (source ``BuildPlan``), else None: a change, scheduler or
    forced build may carry a property of the same name, and it is not the plan's."""
    if not isinstance(properties, dict):
        return None
    entry = properties.get(name)
    if isinstance(entry, (list, tuple)) and len(entry) == 2 and entry[1] == PLAN_SOURCE:
        return entry[0]
    return None


def _sets_named(sets, description, prefer_stepids):
    matching = sorted((s for s in sets if s.get("description") == description),
                      key=lambda s: integer(s.get("test_result_setid")) or 0)
    preferred = [s for s in matching if s.get("stepid") in prefer_stepids]
    return preferred or matching


def wanted_sets(steps, sets):
    """The ids of the test-result sets whose results a row needs (the rest is in the sets)."""
    steps, sets = as_list(steps), as_list(sets)
    cycle_steps = {s.get("stepid") for s in steps if s.get("name") == CYCLE_STEP}
    wanted = []
    for description in (PASS_FAIL_SET, *METRIC_SETS):
        found = _sets_named(sets, description, cycle_steps)
        if found:
            wanted.append(found[0].get("test_result_setid"))
    suite = _sets_named(sets, SUITE_SET, ())
    # the suite's counts are in the set and its properties; its results name failed tests
    if suite and (integer(suite[0].get("tests_failed")) or 0) > 0:
        wanted.append(suite[0].get("test_result_setid"))
    return [w for w in wanted if integer(w) is not None]


def _median(values):
    values = [v for v in (number(x) for x in values) if v is not None]
    return statistics.median(values) if values else None


def _failed_names(results):
    return [str(r.get("test_name") or "?") for r in results if str(r.get("value")) == "0"]


def summarize(build, steps=(), sets=(), results=None, properties=None):
    """A :class:`BuildSummary` from a build, its steps, its test-result sets, the results of
    the sets :func:`wanted_sets` named (``{setid: [result, ...]}``) and its properties."""
    build = build if isinstance(build, dict) else {}
    steps = sorted(as_list(steps), key=lambda s: integer(s.get("number")) or 0)
    sets = as_list(sets)
    results = results if isinstance(results, dict) else {}
    row = BuildSummary(buildid=integer(build.get("buildid")), number=integer(build.get("number")),
                       builderid=integer(build.get("builderid")),
                       complete=build.get("complete") is True,
                       results=integer(build.get("results")))
    revision = property_value(properties, "got_revision")
    if isinstance(revision, dict):      # several codebases: {codebase: revision}
        revision = ", ".join(str(v) for v in revision.values() if v)
    row.revision = text(revision) or text(property_value(properties, "revision"))
    host = plan_value(properties, "vkckpt_untested_host_paths")
    if isinstance(host, (list, tuple)):
        row.untested_host_paths = [p for p in host if isinstance(p, str) and p]

    _suite(row, sets, results, properties)
    _cycles(row, steps, sets, results, properties)
    if row.red:
        bad = [s for s in steps if integer(s.get("results")) in BAD_RESULTS
               and not s.get("hidden")]
        if bad:
            row.failed_step = text(bad[0].get("name")) or "?"
            row.failed_summary = text(bad[0].get("state_string"))
        else:
            row.failed_summary = text(build.get("state_string"))
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
    if isinstance(failed, list):
        row.failed_tests.extend(str(t) for t in failed if isinstance(t, str) and t)
    elif suite_set is not None:
        row.failed_tests.extend(_failed_names(as_list(
            results.get(suite_set.get("test_result_setid")))))


def _cycles(row, steps, sets, results, properties):
    cycle_ids = {s.get("stepid") for s in steps if s.get("name") == CYCLE_STEP}
    found = _sets_named(sets, PASS_FAIL_SET, cycle_ids)
    if found:
        checks = as_list(results.get(found[0].get("test_result_setid")))
        per_cycle = {}
        for r in checks:
            match = CYCLE_TEST.match(str(r.get("test_name") or ""))
            if match:
                per_cycle.setdefault(int(match.group(1)), []).append(str(r.get("value")) == "1")
        if per_cycle:
            row.cycles = len(per_cycle)
            row.cycles_ok = sum(1 for oks in per_cycle.values() if all(oks))
        row.failed_tests.extend(_failed_names(checks))
    ok = integer(property_value(properties, "vkckpt_cycles_ok"))
    total = integer(property_value(properties, "vkckpt_cycles_total"))
    if ok is not None and total is not None:
        row.cycles_ok, row.cycles = ok, total
    for description, attr in METRIC_SETS.items():
        found = _sets_named(sets, description, cycle_ids)
        if found:
            values = [r.get("value") for r in
                      as_list(results.get(found[0].get("test_result_setid")))]
            setattr(row, attr, _median(values))
