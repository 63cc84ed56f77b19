"""What a red build failed, and a probe build's verdict on it, from step results and tests."""
import pytest
from buildbot.process.results import EXCEPTION, FAILURE, SKIPPED, SUCCESS, WARNINGS

from buildbot_vkckpt.bisect.check import (BuildFacts, Check, StepFacts, failing_check,
                                          verdict)
from buildbot_vkckpt.bisect.core import BAD, FLAKY, GOOD, SKIP

ORDER = ("checkout", "plan", "cleanup-stale", "preflight", "buildworld", "buildkernel",
         "root-image", "boot", "guest-command", "guest-suite", "checkpoint-cycle", "shutdown",
         "collect")


def build(**results):
    """Facts with every step SUCCESS unless given: name=result or name=(result, [tests])."""
    steps = []
    for name in ORDER:
        value = results.get(name.replace("-", "_"), SUCCESS)
        result, tests = value if isinstance(value, tuple) else (value, ())
        steps.append(StepFacts(name, result, tuple(tests)))
    return BuildFacts(tuple(steps))


CYCLE = Check("checkpoint-cycle", ("restore",))


def test_a_failed_cycle_check_is_bisectable_with_its_tests():
    facts = build(checkpoint_cycle=(FAILURE, ["cycle 1: restore"]))
    assert failing_check(facts) == (CYCLE, None)
    assert CYCLE.describe() == "checkpoint-cycle: restore"


def test_the_first_failed_check_counts():
    facts = build(guest_suite=(FAILURE, ["memory", "kqueue"]),
                  checkpoint_cycle=(FAILURE, ["cycle 1: restore"]))
    assert failing_check(facts)[0] == Check("guest-suite", ("kqueue", "memory"))


@pytest.mark.parametrize("results, why", [
    ({"preflight": EXCEPTION}, "infrastructure: preflight"),
    ({"checkpoint_cycle": EXCEPTION}, "infrastructure: checkpoint-cycle"),
    ({"buildkernel": FAILURE}, "a build break (buildkernel failed)"),
    ({"checkpoint_cycle": WARNINGS}, "no check failed"),
    ({}, "no check failed"),
])
def test_what_is_not_bisected(results, why):
    check, reason = failing_check(build(**results))
    assert check is None and reason.startswith(why)


@pytest.mark.parametrize("results, expected", [
    ({}, GOOD),
    ({"checkpoint_cycle": (FAILURE, ["cycle 2: restore"])}, BAD),
    ({"checkpoint_cycle": (FAILURE, [])}, BAD),
    ({"checkpoint_cycle": (FAILURE, ["cycle 1: workload alive"])}, GOOD),
    ({"checkpoint_cycle": WARNINGS}, FLAKY),
    ({"buildkernel": FAILURE, "checkpoint_cycle": SKIPPED}, SKIP),
    ({"boot": FAILURE, "checkpoint_cycle": SKIPPED}, SKIP),
    ({"preflight": EXCEPTION}, SKIP),
    ({"checkpoint_cycle": EXCEPTION}, SKIP),
    ({"checkpoint_cycle": SKIPPED}, SKIP),
    ({"guest_suite": (FAILURE, ["memory"])}, GOOD),   # another check; the watched one passed
])
def test_probe_verdicts(results, expected):
    assert verdict(CYCLE, build(**results))[0] == expected


def test_a_step_that_never_ran_is_a_skip():
    facts = BuildFacts((StepFacts("checkout", SUCCESS), StepFacts("plan", SUCCESS)))
    assert verdict(CYCLE, facts) == (SKIP, "checkpoint-cycle did not run")


def test_check_round_trips_through_a_property_and_refuses_garbage():
    assert Check.from_dict(CYCLE.to_dict()) == CYCLE
    for bad in (None, "x", {"step": ""}, {"step": "boot", "tests": "memory"},
                {"step": "boot", "tests": [1]}):
        with pytest.raises(ValueError):
            Check.from_dict(bad)


@pytest.mark.parametrize("kind", ["infrastructure", "unsupported", "host lost"])
def test_a_typed_outcome_that_does_not_blame_the_tree_is_not_bisected(kind):
    facts = build(checkpoint_cycle=(FAILURE, ["cycle 1: restore"]))
    outcome = {"step": "checkpoint-cycle", "kind": kind, "cause": "x"}
    assert failing_check(facts, outcome) == (
        None, f"{kind}: checkpoint-cycle ended the build")
    assert verdict(CYCLE, facts, outcome)[0] == SKIP


@pytest.mark.parametrize("kind", ["kernel", "test", "timeout"])
def test_a_typed_outcome_on_the_tree_leaves_the_check_to_decide(kind):
    facts = build(checkpoint_cycle=(FAILURE, ["cycle 1: restore"]))
    outcome = {"step": "checkpoint-cycle", "kind": kind}
    assert failing_check(facts, outcome) == (CYCLE, None)
    assert verdict(CYCLE, facts, outcome)[0] == BAD
