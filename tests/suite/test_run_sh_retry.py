"""run.sh --retries: a failed test is run alone again; the TAP says how every attempt ended."""
from buildbot_vkckpt.agent.retry import Flake, parse_attempts


def corrupt(tmp_path, runs=None, only="memory"):
    env = {"CKPT_FAULT": "corrupt", "CKPT_FAULT_ONLY": only}
    if runs is not None:
        counts = tmp_path / "fault-counts"
        counts.mkdir(exist_ok=True)
        env.update(CKPT_FAULT_RUNS=str(runs), CKPT_FAULT_COUNTS=str(counts))
    return env


def verdicts(run):
    return {r.name: r for r in run.report.results}


def test_a_test_that_fails_once_is_flaky(run_suite, tmp_path):
    run = run_suite("--nocr", "--only", "memory,files", "--retries", "2",
                    env=corrupt(tmp_path, runs=1))
    memory = verdicts(run)["memory"]
    # the TAP line stays the first attempt's: a conservative reader still sees the failure
    assert not memory.ok and "CKPT_FAULT" not in memory.message and memory.message
    assert memory.diagnostics["attempts"] == "fail pass pass"
    assert Flake("memory", parse_attempts(memory.diagnostics["attempts"])).verdict \
        == "flaky (1/3 failed)"
    assert "attempts" not in verdicts(run)["files"].diagnostics      # passed: never re-run
    # every attempt's work dir is kept: the failed first one beside the last one
    assert (run.results / "memory.attempt1" / "result").read_text().startswith("FAIL")
    assert (run.results / "memory" / "result").read_text() == "PASS\n"
    assert run.proc.returncode == 1


def test_a_test_that_always_fails_is_deterministic(run_suite, tmp_path):
    run = run_suite("--nocr", "--only", "memory", "--retries", "2", env=corrupt(tmp_path))
    attempts = parse_attempts(verdicts(run)["memory"].diagnostics["attempts"])
    assert Flake("memory", attempts).verdict == "deterministic (3/3 failed)"


def test_without_retries_nothing_is_re_run(run_suite, tmp_path):
    run = run_suite("--nocr", "--only", "memory", env=corrupt(tmp_path, runs=1))
    memory = verdicts(run)["memory"]
    assert not memory.ok and "attempts" not in memory.diagnostics
    assert not (run.results / "memory.attempt1").exists()


def test_an_expected_failure_is_not_re_run(run_suite, tmp_path, emulated_checkpt):
    env = dict(emulated_checkpt, CKPT_EMULATE="dragonfly")
    run = run_suite("--only", "pipe", "--retries", "2", env=env)
    pipe = verdicts(run)["pipe"]
    assert pipe.outcome == "xfail", pipe.message
    assert "attempts" not in pipe.diagnostics


def test_bad_retries_is_a_usage_error(run_suite):
    run = run_suite("--nocr", "--retries", "two")
    assert run.proc.returncode == 2 and "--retries wants a number" in run.proc.stderr
