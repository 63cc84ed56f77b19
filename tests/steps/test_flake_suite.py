"""GuestCheckpointSuite's flake verdicts: run.sh re-ran a failed test alone (``--retries``);
the step says flaky (WARNINGS) or deterministic (FAILURE), records every attempt and sets
``vkckpt_flaky``."""
from buildbot.config.errors import ConfigErrors
from buildbot.plugins import util
from buildbot.process.results import EXCEPTION, FAILURE, WARNINGS

from buildbot_vkckpt.steps.suite import GuestCheckpointSuite

from .agentout import result
from .test_suite import SuiteCase, results_output, tap, tap_case

FAILED_RUN = dict(run_stdout="not ok 1 - memory\n" + result(
    "failure", "guest command exited 1", "test", status=1), run_rc=1)


def retried(attempts, message="FAIL: heap word 7 differs"):
    case = tap_case("memory", 1, False, message=message)
    return case[:-1] + [f"  attempts: {attempts}"] + case[-1:]


class TestFlakeVerdicts(SuiteCase):
    def expect_attempt_sets(self, attempts):
        self.expect_test_result_sets([("guest checkpoint suite", "pass_fail", "boolean"),
                                      ("guest checkpoint suite attempts", "pass_fail",
                                       "boolean")])
        self.expect_test_results(
            [(1000, "0", "memory", "suite/tests/memory.c", None, 40_000_000),
             (1000, "1", "pipe", "suite/tests/pipe.c", None, 40_000_000)]
            + [(1001, "1" if word == "pass" else "0", "memory", None, n, None)
               for n, word in enumerate(attempts.split(), 1)])

    async def test_a_test_that_passes_when_re_run_is_flaky_and_warns(self):
        self.setup()
        self.expect_run(results_output(tap(retried("fail pass pass"),
                                           tap_case("pipe", 2, False, xfail=True))),
                        **FAILED_RUN)
        self.expect_attempt_sets("fail pass pass")
        self.expect_outcome(result=WARNINGS)
        self.expect_property("vkckpt_flaky", [{"test": "memory",
                                               "verdict": "flaky (1/3 failed)"}])
        self.expect_property("vkckpt_suite_failed_tests", [])
        await self.run_step()
        self.assertEqual(self.summary(), "0 passed, 0 failed, 1 flaky, 1 xfail · 1 iteration · "
                                         "memory: flaky (1/3 failed)")
        self.assertIn("<td>memory</td><td>flaky</td>", self.report())
        self.assertIn("memory: flaky (1/3 failed)", self.report())

    async def test_a_test_that_fails_every_attempt_is_deterministic(self):
        self.setup()
        self.expect_run(results_output(tap(retried("fail fail fail"),
                                           tap_case("pipe", 2, False, xfail=True))),
                        **FAILED_RUN)
        self.expect_attempt_sets("fail fail fail")
        self.expect_outcome(result=FAILURE)
        self.expect_property("vkckpt_suite_failed_tests", ["memory"])
        await self.run_step()
        self.assertEqual(self.summary(), "test: 0 passed, 1 failed, 1 xfail · 1 iteration · "
                                         "failed: memory: deterministic (3/3 failed) "
                                         "(memory: heap word 7 differs)")
        self.assertIn("failed: memory: deterministic (3/3 failed)", self.report())
        self.assertEqual(self.get_nth_step(0).getProperty("vkckpt_flaky"),
                         [{"test": "memory", "verdict": "deterministic (3/3 failed)"}])

    async def test_flaky_joins_what_another_step_set(self):
        self.setup()
        self.build.setProperty("vkckpt_flaky", [{"test": "cycle: workload-alive",
                                                 "verdict": "flaky (1/3 failed)"}], "cycle")
        self.expect_run(results_output(tap(retried("fail fail pass"),
                                           tap_case("pipe", 2, False, xfail=True))),
                        **FAILED_RUN)
        self.expect_attempt_sets("fail fail pass")
        self.expect_outcome(result=WARNINGS)
        self.expect_property("vkckpt_flaky", [
            {"test": "cycle: workload-alive", "verdict": "flaky (1/3 failed)"},
            {"test": "memory", "verdict": "flaky (2/3 failed)"}])
        await self.run_step()

    async def test_garbage_attempts_are_a_plain_failure(self):
        self.setup()
        self.expect_run(results_output(tap(retried("maybe"),
                                           tap_case("pipe", 2, False, xfail=True))),
                        **FAILED_RUN)
        self.expect_one_set()
        self.expect_test_results([
            (1000, "0", "memory", "suite/tests/memory.c", None, 40_000_000),
            (1000, "1", "pipe", "suite/tests/pipe.c", None, 40_000_000)])
        self.expect_outcome(result=FAILURE)
        await self.run_step()
        self.assertTrue(self.summary().endswith("failed: memory (memory: heap word 7 "
                                                "differs)"), self.summary())

    async def test_rendered_retries_must_be_a_count(self):
        self.setup(retries=util.Property("retries"))
        self.build.setProperty("retries", "two", "Force")
        self.expect_outcome(result=EXCEPTION)
        await self.run_step()
        self.assertEqual(self.summary(), "configuration: retries must be an integer >= 0, "
                                         "not 'two'")


class TestRetriesParameter(SuiteCase):
    def test_retries_is_validated_naming_the_parameter(self):
        for bad in (-1, "2", True):
            with self.assertRaises(ConfigErrors) as caught:
                GuestCheckpointSuite(retries=bad)
            self.assertIn("GuestCheckpointSuite: retries must be an integer >= 0",
                          str(caught.exception))

    def test_zero_retries_runs_no_retry(self):
        self.setup(retries=0)
        self.assertNotIn("--retries", self.get_nth_step(0).run_line())
