"""agent/retry.py: which failures are re-run (on Kind and structured details, never on text)
and what the attempts say."""
import pytest

from buildbot_vkckpt.agent.retry import (FRESH_BOOT, INFRASTRUCTURE, PANIC, Flake,
                                         merge_property, parse_attempts, refusal)
from buildbot_vkckpt.protocol import Kind


@pytest.mark.parametrize("kind", [Kind.INFRASTRUCTURE, Kind.UNSUPPORTED, Kind.HOST_LOST,
                                  "infrastructure", None])
def test_an_infrastructure_outcome_is_never_re_run_as_a_test(kind):
    assert refusal(kind) == INFRASTRUCTURE
    assert refusal(kind, action="verify") == INFRASTRUCTURE


def test_a_panic_is_a_result_whatever_the_action():
    for details in ({"crash": {"kind": "panic"}}, {"panic": "vm_fault"}):
        assert refusal(Kind.KERNEL, details) == PANIC
        assert refusal(Kind.KERNEL, details, action="verify") == PANIC


def test_a_failed_guest_test_is_re_run():
    assert refusal(Kind.TEST) is None


def test_a_cycle_is_re_run_in_the_session_only_after_verify():
    assert refusal(Kind.KERNEL, {"checks": []}, action="verify") is None
    assert refusal(Kind.KERNEL, {}, action="restore") == FRESH_BOOT
    assert refusal(Kind.KERNEL, {}, action="checkpoint") == FRESH_BOOT
    assert refusal(Kind.TIMEOUT, {}, action="verify") == FRESH_BOOT
    assert refusal(Kind.KERNEL, {}, action="verify", timed_out=True) == FRESH_BOOT


def test_the_kind_decides_not_the_text():
    # a cause that talks about infrastructure does not make a kernel failure one
    assert refusal("kernel", {"cause": "infrastructure: panic"}, action="verify") is None


def test_verdicts():
    assert Flake("memory", [False, True, True]).verdict == "flaky (1/3 failed)"
    assert Flake("memory", [False, False, True]).describe() == "memory: flaky (2/3 failed)"
    assert Flake("memory", [False] * 3).verdict == "deterministic (3/3 failed)"
    assert not Flake("memory", [False] * 3).flaky
    assert Flake("x", [False], FRESH_BOOT).verdict == FRESH_BOOT


def test_each_attempt_is_a_string_valued_result():
    assert Flake("memory", [False, True]).attempt_results() == [
        {"value": "0", "test_name": "memory", "line": 1},
        {"value": "1", "test_name": "memory", "line": 2}]


@pytest.mark.parametrize("text,outcomes", [("fail pass pass", [False, True, True]),
                                           ("fail", [False]), ("", []), (None, []),
                                           ("fail maybe", []), ("3", [])])
def test_attempts_diagnostic(text, outcomes):
    assert parse_attempts(text) == outcomes


def test_the_property_keeps_what_another_step_set_and_every_re_run_verdict():
    other = [{"test": "cycle: network", "verdict": "flaky (1/3 failed)"}]
    merged = merge_property(other, [Flake("memory", [False, True, True]),
                                    Flake("pipe", [False, False, False]),
                                    Flake("cycle: restore", [False], FRESH_BOOT)])
    assert merged == other + [{"test": "memory", "verdict": "flaky (1/3 failed)"},
                              {"test": "pipe", "verdict": "deterministic (3/3 failed)"}]
    assert merge_property("garbage", []) == []
