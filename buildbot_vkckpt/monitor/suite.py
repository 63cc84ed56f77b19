"""The guest suite's verdicts: its TAP (as the guest left it on the results disk) and the
suite build's console, read into what the step reports. Pure; standard library only (the TAP
reader is :mod:`buildbot_vkckpt.suite.tap`, also standard library only).

A verdict carries a protocol status and :class:`~buildbot_vkckpt.protocol.Kind` and a cause,
like an agent result: a failed or missing guest test is kind ``test``, a bail-out or an
unreadable TAP ``infrastructure``; the step maps them to Buildbot results the same way it maps
the agent's.
"""
from dataclasses import dataclass, field
from typing import List, Optional

from ..agent.retry import Flake, parse_attempts
from ..protocol import Kind
from ..suite.tap import parse_tap_report

# a test whose outcome is one of these is as expected: "1" in the pass_fail set
EXPECTED = ("pass", "xfail")
BUILD_FAILED = "build.sh: failed:"
OUTCOMES = ("pass", "fail", "xfail", "xpass", "skip")


@dataclass
class SuiteVerdict:
    """What one suite run's TAP means: ``status`` (ok, warnings, failure, infrastructure),
    ``kind`` of a non-success, ``cause`` (the summary text without the kind)."""
    status: str
    cause: str
    kind: Optional[Kind] = None
    rows: list = field(default_factory=list)      # (name, outcome, expect, cycles, ms, message)
    counts: dict = field(default_factory=dict)    # pass, fail, xfail, xpass, skip, missing
    failed: List[str] = field(default_factory=list)   # failed tests and tests without a result
    flakes: List[Flake] = field(default_factory=list)  # the re-run tests (run.sh --retries)

    def add_problem(self, status, kind, text):
        """A further problem (the TAP read short): the worse status wins."""
        order = ("ok", "warnings", "failure", "infrastructure")
        if order.index(status) > order.index(self.status):
            self.status, self.kind = status, kind
        self.cause += f" · {kind.value}: {text}"


def _plural(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"


def evaluate(tap_text, expected_names, iterations, nocr=False):
    """The verdict of one suite run's TAP. ``expected_names`` are the tests in the order
    run.sh runs them: they name planned tests whose result line never arrived."""
    report = parse_tap_report(tap_text)
    rows, flakes = [], []
    for r in report.results:
        outcome = r.outcome
        attempts = parse_attempts(r.diagnostics.get("attempts")) if outcome == "fail" else []
        if attempts:        # the verdict goes into the cause, the row keeps the assertion
            flakes.append(Flake(r.name or f"#{r.number}", attempts))
            outcome = "flaky" if flakes[-1].flaky else outcome
        rows.append((r.name or f"#{r.number}", outcome,
                     r.diagnostics.get("expect", "xfail" if r.todo else "pass"),
                     r.diagnostics.get("cycles", ""), r.duration_ms, r.message))
    missing = []
    # after a bail-out the rest never ran: no verdict on them (the step is an EXCEPTION)
    for number in ([] if report.bail_out is not None else report.missing):
        name = expected_names[number - 1] if 0 < number <= len(expected_names) else f"#{number}"
        missing.append(name)
        rows.append((name, "missing", "", "", None, "no result line in the TAP"))
    outcomes = [row[1] for row in rows]
    counts = {k: outcomes.count(k) for k in OUTCOMES}
    counts["missing"] = len(missing)
    if "flaky" in outcomes:         # a key only when there is one: older readers
        counts["flaky"] = outcomes.count("flaky")
    text = f"{counts['pass']} passed, {counts['fail']} failed, {counts['xfail']} xfail"
    if counts.get("flaky"):
        text = text.replace(" failed,", f" failed, {counts['flaky']} flaky,", 1)
    if counts["xpass"]:
        text += f", {counts['xpass']} unexpectedly passed"
    if counts["skip"]:
        text += f", {counts['skip']} skipped"
    text += " · " + ("no checkpoint (nocr)" if nocr else _plural(iterations, "iteration"))
    failed = [row[0] for row in rows if row[1] == "fail"]
    verdicts = {f.name: f.describe() for f in flakes}
    flaky = [f.describe() for f in flakes if f.flaky]

    def verdict(status, cause, kind=None):
        if flaky:
            cause += " · " + ", ".join(flaky)
        return SuiteVerdict(status, cause, kind, rows, counts, failed + missing, flakes)

    if report.bail_out is not None:
        return verdict("infrastructure", f"the suite bailed out: "
                       f"{report.bail_out or 'no reason given'}", Kind.INFRASTRUCTURE)
    if report.plan is None and not report.results:
        return verdict("infrastructure", "unreadable TAP on the results disk (no plan, no "
                       "test lines)", Kind.INFRASTRUCTURE)
    if failed or missing:
        problems = []
        if failed:
            problems.append("failed: " + ", ".join(verdicts.get(n, n) for n in failed))
        if missing:
            problems.append("no result: " + ", ".join(missing))
        return verdict("failure", f"{text} · {' · '.join(problems)}", Kind.TEST)
    xpassed = [row[0] for row in rows if row[1] == "xpass"]
    if xpassed:
        return verdict("warnings", f"{text} · unexpectedly passed: {', '.join(xpassed)} "
                       f"(update their expect=)")
    if not rows:
        return verdict("failure", "the TAP holds no tests", Kind.TEST)
    if flaky:       # failed, then passed when re-run alone: a warning naming the test
        return verdict("warnings", text)
    return verdict("ok", text)


def build_failure(console_lines):
    """What the suite build said failed (``build.sh: failed: X`` -> ``failed: X``), from the
    console lines of the build command; None when it said nothing."""
    failed = [ln for ln in console_lines if ln.startswith(BUILD_FAILED)]
    return failed[-1][len("build.sh: "):] if failed else None
