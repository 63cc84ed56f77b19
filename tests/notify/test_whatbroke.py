"""notify/whatbroke.py: what broke, from properties and step results only."""
from buildbot.process.results import FAILURE, SUCCESS

from buildbot_vkckpt.notify.whatbroke import FRAMES as SHOWN
from buildbot_vkckpt.notify.whatbroke import WhatBroke
from buildbot_vkckpt.protocol import Result
from tests.notify.builds import (CULPRIT, FRAMES, PANIC, build, exception_build, panic_build,
                                 step, suite_build)


def test_a_panic_gives_step_kind_cause_panic_and_first_frames():
    w = WhatBroke.from_build(panic_build())
    assert (w.step, w.kind, w.panic) == ("cycle", "kernel", PANIC)
    assert w.cause == "cycle 2/3 restore: " + PANIC and w.fix is None
    assert w.frames == FRAMES[:SHOWN] and w.more_frames == len(FRAMES) - SHOWN
    assert w.cycles == "1/3" and w.culprit is None


def test_failed_tests_carry_messages_and_their_rerun_verdicts():
    w = WhatBroke.from_build(suite_build())
    assert [(t.name, t.message, t.verdict) for t in w.failed_tests] == [
        ("ckpt-pipe", "pipe lost 3 bytes", "deterministic (3/3 failed)"),
        ("ckpt-mmap", "page differs", None),
        ("ckpt-shm", None, None)]
    # a flaky test passed in the end: named apart, with its verdict
    assert [(t.name, t.verdict) for t in w.flaky] == [("ckpt-signal", "flaky (1/3 failed)")]
    # no outcome recorded: the failing step's result names the step, the typed
    # properties the kind; its summary is kept apart, as it is
    assert (w.step, w.kind, w.cause) == ("guest suite", "test", None)
    assert w.summary == "test: 2 failed"


def test_the_kind_is_read_not_guessed_from_text():
    # a summary that reads like a panic does not make the kind "kernel"
    w = WhatBroke.from_build(build(FAILURE, steps=[step("boot", FAILURE, "kernel: panic: x")]))
    assert w.kind is None and w.step == "boot"
    assert WhatBroke.from_build(exception_build()).kind == "infrastructure"
    outcome = {"step": "boot", "kind": "host lost", "cause": "ssh closed"}
    assert WhatBroke.from_build(build(vkckpt_outcome=outcome)).kind == "host lost"
    assert WhatBroke.from_build(build(vkckpt_outcome={"kind": "bogus"})).kind is None


def test_a_cycle_check_verdict_is_a_failure_and_only_flaky_ones_passed():
    w = WhatBroke.from_build(build(vkckpt_flaky=[
        {"test": "cycle 2: workload-alive", "verdict": "deterministic (3/3 failed)"},
        {"test": "cycle 1: files-intact", "verdict": "flaky (1/3 failed)"}]))
    assert [(t.name, t.verdict) for t in w.failed_tests] == [
        ("cycle 2: workload-alive", "deterministic (3/3 failed)")]
    assert [(t.name, t.verdict) for t in w.flaky] == [
        ("cycle 1: files-intact", "flaky (1/3 failed)")]
    assert w.kind is None       # a failed cycle check does not make it a guest test failure


def test_whether_the_build_is_bisected_comes_from_the_watch_step():
    assert WhatBroke.from_build(panic_build()).bisection is None
    watching = panic_build()
    watching["steps"].append(step("bisect-watch", SUCCESS, "bisecting abc..def for cycle", 9))
    assert WhatBroke.from_build(watching).bisection.startswith("bisecting; a message follows")
    skipped = panic_build()
    skipped["steps"].append(step("bisect-watch", 3, "not bisected: no green build before", 9))
    assert WhatBroke.from_build(skipped).bisection == "not bisected: no green build before"


def test_culprit_and_not_tested():
    w = WhatBroke.from_build(build(SUCCESS, vkckpt_culprit=CULPRIT,
                                   vkckpt_not_tested="the host kernel cannot checkpoint"))
    assert w.culprit.short == CULPRIT["revision"][:12] and w.culprit.build == 7
    assert w.culprit.line() == (f"{CULPRIT['revision'][:12]} vm: lazy pmap teardown — "
                                f"A. Hacker (cycle restore)")
    assert w.not_tested == "the host kernel cannot checkpoint"


def test_malformed_properties_are_left_out_not_a_crash():
    w = WhatBroke.from_build(build(
        vkckpt_outcome="kernel", vkckpt_panic=3, vkckpt_backtrace={"a": 1},
        vkckpt_suite_failures=["x", {"test": None}, {"test": 5}], vkckpt_suite_failed_tests="t",
        vkckpt_flaky={"test": "x"}, vkckpt_cycles_ok="1", vkckpt_cycles_total=True,
        vkckpt_culprit={"author": "no revision"}))
    assert w == WhatBroke()
    assert WhatBroke.from_build({}) == WhatBroke()


def test_rest_api_lists_and_a_backtrace_list_are_read_too():
    b = build()
    b["properties"] = {"vkckpt_panic": [PANIC, "cycle"], "vkckpt_backtrace": [FRAMES[:2], "c"]}
    w = WhatBroke.from_build(b)
    assert w.panic == PANIC and w.frames == FRAMES[:2] and w.kind == "kernel"


def test_the_agents_result_stands_in_for_a_missing_outcome():
    agent = Result("failure", "cycle 1/1 (verify): restore broke the guest", "kernel",
                   "bisect it")
    b = build(steps=[step("checkpoint-cycle", 2, "kernel: ... (fix: bisect it)")])
    w = WhatBroke.from_build(b, agent)
    assert (w.step, w.kind, w.cause, w.fix, w.summary) == (
        "checkpoint-cycle", "kernel", "cycle 1/1 (verify): restore broke the guest",
        "bisect it", None)
    # a recorded outcome wins
    w = WhatBroke.from_build(build(vkckpt_outcome={"step": "boot", "kind": "timeout"}), agent)
    assert (w.step, w.kind, w.cause) == ("boot", "timeout", None)
