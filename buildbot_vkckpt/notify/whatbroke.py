"""What broke in a build, read from its properties and step results (never from summaries).

``WhatBroke.from_build`` takes the build dict Buildbot's reporters hand to a generator (after
``getDetailsForBuild`` with properties and steps) and keeps only typed data the steps set:

``vkckpt_outcome``             {"step", "kind", "cause", "fix"} of the step that ended the build
                               (without it: the agent's last failed ``result`` event in that
                               step's ``agent-events`` log, read by the generator)
``vkckpt_panic``               the panic line
``vkckpt_backtrace``           the first frames, newline-joined
``vkckpt_suite_failures``      [{"test", "message"}] failed guest tests (or the names alone in
                               ``vkckpt_suite_failed_tests``)
``vkckpt_flaky``               [{"test", "verdict"}] re-run verdicts (``flaky (1/3 failed)``)
``vkckpt_not_tested``          why checkpointing was not tested
``vkckpt_cycles_ok/_total``    vkernel checkpoint cycles that passed / were asked for
``vkckpt_culprit``             {"revision", "author", "subject", "check", "builder", "url"},
                               the first bad commit found by bisection

Every property may be missing or malformed (an older step, another plugin's build): what is not
there is left out, never guessed from text.
"""
from dataclasses import dataclass, field
from typing import List, Optional

from buildbot.process.results import EXCEPTION, FAILURE, SUCCESS

from buildbot_vkckpt.protocol import Kind

FRAMES = 5          # backtrace frames in a notification; the build has them all
# the bisection's watch step (bisect/watch.py) at the end of a watched build: SUCCESS when it
# started a bisection, else SKIPPED with why not
BISECT_WATCH = "bisect-watch"
TESTS = 8           # failed tests named; the rest are counted


def prop(build, name):
    """A property's value from a reporter's build dict (``(value, source)`` pairs, or the
    REST API's ``[value, source]`` lists); None when missing."""
    pair = (build.get("properties") or {}).get(name)
    if isinstance(pair, (list, tuple)) and pair:
        return pair[0]
    return None


def _text(value):
    return value.strip() if isinstance(value, str) and value.strip() else None


def _count(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass
class FailedTest:
    name: str
    message: Optional[str] = None
    verdict: Optional[str] = None     # "deterministic (3/3 failed)" / "flaky (1/3 failed)"


@dataclass
class Culprit:
    revision: str
    author: Optional[str] = None
    subject: Optional[str] = None
    check: Optional[str] = None
    builder: Optional[str] = None
    url: Optional[str] = None
    build: Optional[int] = None         # number of the red build that was bisected

    @property
    def short(self):
        return self.revision[:12]

    def line(self):
        """``abc123def456 subject — author (check)``"""
        text = self.short
        if self.subject:
            text += f" {self.subject}"
        if self.author:
            text += f" — {self.author}"
        if self.check:
            text += f" ({self.check})"
        return text

    @classmethod
    def from_value(cls, value):
        if not isinstance(value, dict) or not _text(value.get("revision")):
            return None
        return cls(_text(value["revision"]), *(_text(value.get(k)) for k in
                                                ("author", "subject", "check", "builder",
                                                 "url")), _count(value.get("build")))


@dataclass
class WhatBroke:
    """The facts a notification leads with; every field optional."""
    step: Optional[str] = None
    kind: Optional[str] = None
    cause: Optional[str] = None
    fix: Optional[str] = None
    summary: Optional[str] = None       # the failing step's summary, when no outcome was set
    panic: Optional[str] = None
    frames: List[str] = field(default_factory=list)
    more_frames: int = 0
    failed_tests: List[FailedTest] = field(default_factory=list)
    more_tests: int = 0
    flaky: List[FailedTest] = field(default_factory=list)
    suite_failed: bool = False          # guest suite tests failed (not only cycle checks)
    not_tested: Optional[str] = None
    cycles_ok: Optional[int] = None
    cycles_total: Optional[int] = None
    culprit: Optional[Culprit] = None
    bisection: Optional[str] = None     # whether the build is being bisected, when known

    @classmethod
    def from_build(cls, build, agent_outcome=None):
        """``agent_outcome``: the failing step's agent ``Result`` (protocol), used when the
        build has no ``vkckpt_outcome``."""
        wb = cls()
        wb._read_outcome(build, agent_outcome)
        wb.panic = _text(prop(build, "vkckpt_panic"))
        backtrace = prop(build, "vkckpt_backtrace")
        if isinstance(backtrace, list):
            backtrace = "\n".join(str(f) for f in backtrace)
        if isinstance(backtrace, str):
            frames = [f.strip() for f in backtrace.splitlines() if f.strip()]
            wb.frames, wb.more_frames = frames[:FRAMES], max(0, len(frames) - FRAMES)
        wb._read_tests(build)
        wb.not_tested = _text(prop(build, "vkckpt_not_tested"))
        wb.cycles_ok = _count(prop(build, "vkckpt_cycles_ok"))
        wb.cycles_total = _count(prop(build, "vkckpt_cycles_total"))
        wb.culprit = Culprit.from_value(prop(build, "vkckpt_culprit"))
        wb.bisection = _bisection(build)
        if wb.kind is None:
            wb.kind = wb._implied_kind(build)
        return wb

    def _read_outcome(self, build, agent_outcome):
        outcome = prop(build, "vkckpt_outcome")
        if not isinstance(outcome, dict) and agent_outcome is not None:
            step = failing_step(build) or {}
            outcome = {"step": step.get("name"), "kind": agent_outcome.kind,
                       "cause": agent_outcome.cause, "fix": agent_outcome.fix}
        if isinstance(outcome, dict):
            self.step = _text(outcome.get("step"))
            kind = Kind.of(outcome.get("kind"))
            self.kind = kind.value if kind is not None else None
            self.cause = _text(outcome.get("cause"))
            self.fix = _text(outcome.get("fix"))
        if self.step is None:
            step = failing_step(build)
            if step is not None:
                self.step = _text(step.get("name"))
                # shown as it is, never parsed: the kind comes from typed properties
                self.summary = _text(step.get("state_string"))

    def _read_tests(self, build):
        verdicts = {}
        for entry in _dicts(prop(build, "vkckpt_flaky")):
            name, verdict = _text(entry.get("test")), _text(entry.get("verdict"))
            if name and verdict:
                verdicts[name] = verdict
        failed = []
        for entry in _dicts(prop(build, "vkckpt_suite_failures")):
            name = _text(entry.get("test"))
            if name and name not in {t.name for t in failed}:
                failed.append(FailedTest(name, _text(entry.get("message"))))
        names = prop(build, "vkckpt_suite_failed_tests")
        for name in names if isinstance(names, list) else []:
            if _text(name) and name not in {t.name for t in failed}:
                failed.append(FailedTest(name.strip()))
        self.suite_failed = bool(failed)
        for test in failed:
            test.verdict = verdicts.pop(test.name, None)
        # the rest: cycle checks (not suite tests) and tests that passed when re-run; a flaky
        # one passed in the end, a deterministic one failed every time
        for name, verdict in list(verdicts.items()):
            if not verdict.startswith("flaky"):
                failed.append(FailedTest(name, verdict=verdicts.pop(name)))
        self.failed_tests, self.more_tests = failed[:TESTS], max(0, len(failed) - TESTS)
        self.flaky = [FailedTest(name, verdict=v) for name, v in verdicts.items()]

    def _implied_kind(self, build):
        """The kind the typed properties imply when no step recorded its outcome."""
        if self.panic:
            return Kind.KERNEL.value
        if self.suite_failed:           # a failed cycle check is the kernel's, not a test's
            return Kind.TEST.value
        if self.not_tested:
            return Kind.UNSUPPORTED.value
        if build.get("results") == EXCEPTION:
            return Kind.INFRASTRUCTURE.value
        return None

    @property
    def cycles(self):
        if self.cycles_total is None:
            return None
        return f"{self.cycles_ok if self.cycles_ok is not None else '?'}/{self.cycles_total}"


def _dicts(value):
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _bisection(build):
    for step in build.get("steps") or []:
        if isinstance(step, dict) and step.get("name") == BISECT_WATCH:
            if step.get("results") == SUCCESS:
                return "bisecting; a message follows when the culprit is found"
            return _text(step.get("state_string"))
    return None


def failing_step(build):
    """The first step that failed (or, in a build without one, raised an exception)."""
    steps = [s for s in build.get("steps") or [] if isinstance(s, dict)]
    for wanted in (FAILURE, EXCEPTION):
        for step in steps:
            if step.get("results") == wanted:
                return step
    return None
