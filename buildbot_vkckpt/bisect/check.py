"""What broke in a build, and the verdict a probe build gives on it: pure, no Buildbot I/O.

A build is read as :class:`BuildFacts`: each step's name and Buildbot result, and the tests its
pass/fail test-result sets recorded as failed. No summary text is read. The steps map outcome
kinds to results one way (docs/architecture.rst, "Outcome kinds"): ``infrastructure`` is
EXCEPTION and never bisected; a failed stage step (checkout, plan, world, kernel, image) is a
build break; a FAILURE of a check step (boot, guest commands, guest suite, checkpoint cycle) is
a ``kernel``, ``test``, ``timeout`` or ``host lost`` verdict on the tree: those are bisected.
A check step that ends WARNINGS after a failure was re-run is flaky.

When the build carries ``vkckpt_outcome`` ({"step", "kind", ...}: the typed outcome of the step
that ended it), its kind decides first: ``infrastructure``, ``unsupported`` and ``host lost``
(the host, not the tree, may be at fault) are never bisected, and a probe that ends in one is
a skip.
"""
import re
from dataclasses import dataclass
from typing import Optional, Tuple

from buildbot.process.results import (CANCELLED, EXCEPTION, FAILURE, RETRY, SKIPPED, SUCCESS,
                                      WARNINGS)

from buildbot_vkckpt.bisect.core import BAD, FLAKY, GOOD, SKIP

STAGE_STEPS = ("checkout", "plan", "buildworld", "buildkernel", "root-image")
CHECK_STEPS = ("boot", "guest-suite", "checkpoint-cycle")
GREEN = (SUCCESS, WARNINGS)
NOT_THE_TREE = ("infrastructure", "unsupported", "host lost")
OUTCOME = "vkckpt_outcome"
# "cycle 2: restore" and "cycle 1: restore" are the same check
CYCLE_TEST = re.compile(r"cycle \d+: ")


def is_check_step(name):
    return name in CHECK_STEPS or name.startswith("guest-command")


def check_name(test_name):
    return CYCLE_TEST.sub("", test_name, count=1)


@dataclass(frozen=True)
class StepFacts:
    name: str
    results: Optional[int]          # None: the step did not finish
    failed_tests: Tuple[str, ...] = ()


@dataclass(frozen=True)
class BuildFacts:
    steps: Tuple[StepFacts, ...]

    def step(self, name):
        return next((s for s in self.steps if s.name == name), None)


@dataclass(frozen=True)
class Check:
    """The check a red build failed: its step and the failed tests (cycle numbers dropped)."""
    step: str
    tests: Tuple[str, ...] = ()

    def describe(self):
        return f"{self.step}: {', '.join(self.tests)}" if self.tests else self.step

    def to_dict(self):
        return {"step": self.step, "tests": list(self.tests)}

    @classmethod
    def from_dict(cls, data):
        """From a property value; ValueError when it is not one."""
        if not isinstance(data, dict) or not isinstance(data.get("step"), str) \
                or not data["step"] or not isinstance(data.get("tests", []), list) \
                or not all(isinstance(t, str) for t in data.get("tests", [])):
            raise ValueError(f"not a failing check: {data!r}")
        return cls(data["step"], tuple(data.get("tests", [])))


def _failed_tests(step):
    return tuple(sorted({check_name(t) for t in step.failed_tests}))


def _not_the_tree(outcome):
    """Why ``vkckpt_outcome`` says the tree is not to blame, or None."""
    kind = outcome.get("kind") if isinstance(outcome, dict) else None
    if kind in NOT_THE_TREE:
        return f"{kind}: {outcome.get('step') or 'a step'} ended the build"
    return None


def failing_check(facts, outcome=None):
    """``(Check, None)`` when the build failed a check that bisection can chase, else
    ``(None, why not)``. ``outcome``: the build's ``vkckpt_outcome``, when it has one."""
    why = _not_the_tree(outcome)
    if why:
        return None, why
    for step in facts.steps:
        if step.results == EXCEPTION:
            return None, f"infrastructure: {step.name} ended in an exception"
        if step.results in (CANCELLED, RETRY):
            return None, f"{step.name} was cancelled"
        if step.results != FAILURE:
            continue
        if step.name in STAGE_STEPS:
            return None, f"a build break ({step.name} failed), not a check"
        if is_check_step(step.name):
            return Check(step.name, _failed_tests(step)), None
    return None, "no check failed"


def verdict(check, facts, outcome=None):
    """``(verdict, why)`` of a probe build on ``check``: :data:`GOOD`, :data:`BAD`,
    :data:`SKIP` (it could not build or run the check) or :data:`FLAKY`. ``outcome``: the
    probe's ``vkckpt_outcome``, when it has one."""
    why = _not_the_tree(outcome)
    if why:
        return SKIP, why
    before = None       # why the check may not have run: the first problem before it
    for step in facts.steps:
        if step.name == check.step:
            break
        if step.results == EXCEPTION:
            return SKIP, f"infrastructure: {step.name} ended in an exception"
        if step.results == FAILURE and step.name in STAGE_STEPS:
            return SKIP, f"{step.name} did not build"
        if step.results == FAILURE and before is None:
            before = f"{step.name} failed first"
    step = facts.step(check.step)
    if step is None or step.results in (None, SKIPPED):
        return SKIP, f"{check.step} did not run" + (f" ({before})" if before else "")
    if step.results == EXCEPTION:
        return SKIP, f"infrastructure: {check.step} ended in an exception"
    if step.results in (CANCELLED, RETRY):
        return SKIP, f"{check.step} was cancelled"
    if step.results == WARNINGS:
        return FLAKY, f"{check.step} passed on a re-run"
    if step.results == SUCCESS:
        return GOOD, f"{check.step} passed"
    failed = _failed_tests(step)
    if check.tests and failed and not set(check.tests) & set(failed):
        return GOOD, f"{check.describe()} passed (only {', '.join(failed)} failed)"
    return BAD, f"{Check(check.step, failed or check.tests).describe()} failed"
