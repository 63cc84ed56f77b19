"""monitor/suite: the guest suite's TAP and build console read into verdicts (status, kind,
cause), with no Buildbot in sight."""
from buildbot_vkckpt.monitor.suite import build_failure, evaluate
from buildbot_vkckpt.protocol import Kind


def test_empty_tap_is_infrastructure():
    verdict = evaluate("", [], 1)
    assert (verdict.status, verdict.kind) == ("infrastructure", Kind.INFRASTRUCTURE)


def test_plan_without_results_names_every_test_missing():
    verdict = evaluate("1..2\n", ["memory", "files"], 1)
    assert (verdict.status, verdict.kind) == ("failure", Kind.TEST)
    assert "no result: memory, files" in verdict.cause
    assert verdict.failed == ["memory", "files"] and verdict.counts["missing"] == 2


def test_failed_test_is_a_test_verdict_not_a_kernel_one():
    verdict = evaluate("1..2\nok 1 - memory\nnot ok 2 - pipe\n", ["memory", "pipe"], 3)
    assert (verdict.status, verdict.kind) == ("failure", Kind.TEST)
    assert verdict.cause == "1 passed, 1 failed, 0 xfail · 3 iterations · failed: pipe"
    assert verdict.counts["pass"] == 1 and verdict.counts["fail"] == 1
    assert verdict.failed == ["pipe"]


def test_pass_and_xfail_is_ok_and_xpass_warns():
    ok = evaluate("1..2\nok 1 - memory\nnot ok 2 - pipe # TODO xfail\n", [], 1, nocr=True)
    assert (ok.status, ok.kind, ok.cause) == ("ok", None, "1 passed, 0 failed, 1 xfail · no "
                                                          "checkpoint (nocr)")
    xpass = evaluate("1..1\nok 1 - pipe # TODO xfail\n", [], 1)
    assert xpass.status == "warnings" and "unexpectedly passed: pipe" in xpass.cause


def test_bail_out_is_infrastructure_and_a_short_read_adds_a_problem():
    verdict = evaluate("1..2\nok 1 - memory\nBail out! disk gone\n", [], 1)
    assert (verdict.status, verdict.cause) == ("infrastructure",
                                               "the suite bailed out: disk gone")
    ok = evaluate("1..1\nok 1 - memory\n", [], 1)
    ok.add_problem("infrastructure", Kind.INFRASTRUCTURE, "read 2 of 3 TAP lines")
    assert ok.status == "infrastructure"
    assert ok.cause.endswith(" · infrastructure: read 2 of 3 TAP lines")


def test_build_failure_is_the_last_failed_line():
    assert build_failure(["cc memory", "build.sh: failed: pipe", "build.sh: failed: kqueue"]) \
        == "failed: kqueue"
    assert build_failure(["cc memory"]) is None
