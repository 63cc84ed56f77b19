"""GuestCheckpointSuite with Buildbot's step-testing mixin: the three agent commands, and how the
TAP read from the results disk becomes the step's result, summary, logs and test results."""

from buildbot.config.errors import ConfigErrors
from buildbot.process.results import EXCEPTION, FAILURE, SUCCESS, WARNINGS
from buildbot.test.reactor import TestReactorMixin
from buildbot.test.steps import ExpectShell, ExpectStat, TestBuildStepMixin
from twisted.trial import unittest

from buildbot_vkckpt.steps.agent import MARGIN
from buildbot_vkckpt.steps.suite import GuestCheckpointSuite
from buildbot_vkckpt.suite import list_tests

from .agentout import BUILDDIR, ScriptedTransport, agent_path, event, result

SESSION = f"{BUILDDIR}/vkckpt-sessions/build-7"
SUITE = '"$HOME"/../usr/vkckpt'
RESULTS = "\"$HOME\"/'vkckpt-results'"
BUILD_LINE = f"(cd {SUITE} && sh build.sh memory pipe)"
RUN_LINE = (f"(cd {SUITE} && {{ dd if=/dev/zero of=/dev/vkd1 bs=512 count=4 2>/dev/null; "
            f"rm -rf {RESULTS}; sh run.sh --results {RESULTS} --results-disk /dev/vkd1 "
            f"--iterations 1 --only memory,pipe --retries 2; }})")
PIPE_REASON = "checkpt(1): pipes cannot be completely restored"


def tap_case(name, number, ok, xfail=False, message="PASS", ms=40):
    directive = f" # TODO xfail: {PIPE_REASON}" if xfail else ""
    return [f"{'ok' if ok else 'not ok'} {number} - {name}{directive}", "  ---",
            f'  message: "{message}"', f"  expect: {'xfail' if xfail else 'pass'}",
            "  mode: cr", "  cycles: 1", f"  duration_ms: {ms}", "  ..."]


def tap(*cases, plan=2):
    lines = ["TAP version 13", "# vkckpt guest suite: mode=cr iterations=1 tests=2", f"1..{plan}"]
    for case in cases:
        lines += case
    return lines


def results_output(lines, logs=()):
    out = "".join(event(ev="tap", lines=lines[i:i + 5]) for i in range(0, len(lines), 5))
    for test, name, text in logs:
        out += event(ev="test_log", test=test, file=name, lines=text)
    return out + result("ok", "read results.tap", tap_lines=len(lines), files=7)


GOOD = tap(tap_case("memory", 1, True, ms=412),
           tap_case("pipe", 2, False, xfail=True,
                    message="FAIL: read from the pipe (fd 3): Bad file descriptor"))


class SuiteCase(TestReactorMixin, TestBuildStepMixin, unittest.TestCase):
    def setUp(self):
        self.setup_test_reactor()
        return self.setup_test_build_step()

    def setup(self, **kwargs):
        kwargs.setdefault("only", ["memory", "pipe"])
        kwargs.setdefault("timeouts", {"suite": 300})
        self.setup_step(GuestCheckpointSuite(**kwargs))
        self.build.setProperty("builddir", BUILDDIR, "Worker")
        self.build.setProperty("buildnumber", 7, "Build")

    def report(self):
        return self.get_nth_step(0).logs["results.html"].stdout

    def shell(self, args, stdout, rc, log="stdio"):
        """One agent command; each phase writes its own log (the real worker's stdio log of
        that command)."""
        return (ExpectShell(workdir="wkdir", log_environ=False, timeout=backstop(args),
                            command=["python3", "-S", agent_path()] + args)
                .log(log, stdout=stdout).exit(rc))

    def expect_run(self, results_stdout, results_rc=0, run_stdout=None, run_rc=0,
                   build_stdout=None, build_rc=0, stop_after=None, build_s=600, run_s=300):
        """``build_s``, ``run_s``: the agent's --timeout building and running the suite."""
        cmds = [ExpectStat(file=agent_path(), log_environ=False).stat_file().exit(0),
                self.shell(["exec", "--session", SESSION, "--timeout", str(build_s), "--",
                            BUILD_LINE],
                           build_stdout or "cc memory\ncc pipe\n"
                           + result("ok", "guest command succeeded", status=0), build_rc,
                           log="build")]
        if stop_after != "build":
            cmds.append(self.shell(
                ["exec", "--session", SESSION, "--timeout", str(run_s), "--", RUN_LINE],
                run_stdout or "ok 1 - memory\n" + result("ok", "guest command succeeded",
                                                         status=0), run_rc))
        if stop_after is None:
            cmds.append(self.shell(["results", "--session", SESSION], results_stdout,
                                   results_rc, log="results"))
        self.expect_commands(*cmds)

    def expect_one_set(self):
        self.expect_test_result_sets([("guest checkpoint suite", "pass_fail", "boolean")])

    def summary(self):
        return self.get_nth_step(0).getResultSummary()["step"]


def backstop(args):
    """Buildbot's silence timeout: the agent's --timeout + MARGIN, else the step's 1200 s."""
    if "--timeout" in args:
        return int(args[args.index("--timeout") + 1]) + MARGIN
    return 1200


class TestVerdicts(SuiteCase):
    async def test_pass_and_expected_failure_succeed_with_one_result_per_test(self):
        self.setup()
        self.expect_run(results_output(GOOD))
        self.expect_outcome(result=SUCCESS)
        self.expect_test_result_sets([("guest checkpoint suite", "pass_fail", "boolean")])
        self.expect_test_results([
            (1000, "1", "memory", "suite/tests/memory.c", None, 412_000_000),
            (1000, "1", "pipe", "suite/tests/pipe.c", None, 40_000_000)])
        self.expect_log_file("results.tap", "\n".join(GOOD) + "\n")
        self.expect_property("vkckpt_suite_counts", {"pass": 1, "fail": 0, "xfail": 1,
                                                      "xpass": 0, "skip": 0, "missing": 0})
        self.expect_property("vkckpt_suite_outcomes", {"memory": "pass", "pipe": "xfail"})
        await self.run_step()
        self.assertEqual(self.summary(), "1 passed, 0 failed, 1 xfail · 1 iteration")
        self.assertIn("<tr><td>memory</td><td>pass</td><td>pass</td><td>1</td><td>412</td>",
                      self.report())
        self.assertIn("<td>pipe</td><td>xfail</td>", self.report())
        # the report leads the step's logs, the backtrace log follows
        self.assertEqual(list(self.get_nth_step(0).logs)[:2], ["results.html", "backtrace"])

    async def test_the_live_summary_counts_the_tests_as_the_console_shows_them(self):
        self.setup()
        step = self.get_nth_step(0)
        live, set_live = [], step.set_live
        step.set_live = lambda text: (live.append(text), set_live(text))
        self.expect_run(results_output(GOOD), run_stdout=(
            "1..2\nok 1 - memory\nnot ok 2 - pipe # TODO xfail\n"
            + result("ok", "guest command succeeded", status=0)))
        self.expect_outcome(result=SUCCESS)
        self.expect_one_set()
        self.expect_test_results([
            (1000, "1", "memory", "suite/tests/memory.c", None, 412_000_000),
            (1000, "1", "pipe", "suite/tests/pipe.c", None, 40_000_000)])
        await self.run_step()
        assert live == ["guest-suite: building the suite", "guest-suite: running the suite",
                        "guest-suite: running the suite: 2/2 done",   # one chunk here
                        "guest-suite: reading the results disk"], live

    async def test_xfail_that_passes_warns(self):
        self.setup()
        self.expect_one_set()
        self.expect_test_results([(1000, "1", "memory", "suite/tests/memory.c", None, 40_000_000),
                                  (1000, "0", "pipe", "suite/tests/pipe.c", None, 40_000_000)])
        self.expect_run(results_output(tap(tap_case("memory", 1, True),
                                           tap_case("pipe", 2, True, xfail=True))))
        self.expect_outcome(result=WARNINGS)
        await self.run_step()
        self.assertEqual(self.summary(), "1 passed, 0 failed, 0 xfail, 1 unexpectedly passed · "
                                         "1 iteration · unexpectedly passed: pipe "
                                         "(update their expect=)")

    async def test_failing_test_is_failure_naming_it_with_its_logs(self):
        self.setup()
        self.expect_one_set()
        self.expect_run(results_output(
            tap(tap_case("memory", 1, False, message="FAIL: heap word 7 differs"),
                tap_case("pipe", 2, False, xfail=True, message="FAIL: gone")),
            logs=[("memory", "output.log", ["memory: ready (pid 9)", "memory: FAIL"])]),
            run_stdout="not ok 1 - memory\n" + result("failure", "guest command exited 1",
                                                      "test", status=1), run_rc=1)
        self.expect_outcome(result=FAILURE)
        self.expect_test_results([
            (1000, "0", "memory", "suite/tests/memory.c", None, 40_000_000),
            (1000, "1", "pipe", "suite/tests/pipe.c", None, 40_000_000)])
        self.expect_log_file("test-logs", "== memory/output.log\nmemory: ready (pid 9)\n"
                                          "memory: FAIL\n")
        self.expect_property("vkckpt_suite_failures",
                             [{"test": "memory", "message": "heap word 7 differs"}])
        await self.run_step()
        # the assertion in the summary, not only in the report
        self.assertEqual(self.summary(), "test: 0 passed, 1 failed, 1 xfail · 1 iteration · "
                                         "failed: memory (memory: heap word 7 differs)")
        self.assertEqual(self.get_nth_step(0).getResultSummary()["build"],
                         "guest-suite: test: 0 passed, 1 failed, 1 xfail · 1 iteration · "
                         "failed: memory (memory: heap word 7 differs)")
        # the failed test leads the report, coloured, with its assertion
        rows = [line for line in self.report().splitlines() if line.startswith("<tr")][1:]
        self.assertEqual(rows[0], '<tr style="background:#f8d0d0"><td>memory</td><td>fail</td>'
                                  '<td>pass</td><td>1</td><td>40</td>'
                                  '<td>heap word 7 differs</td></tr>')
        self.assertTrue(rows[1].startswith("<tr><td>pipe</td><td>xfail</td>"), rows[1])

    async def test_truncated_tap_names_the_tests_without_a_result(self):
        self.setup()
        self.expect_one_set()
        self.expect_test_results([(1000, "1", "memory", "suite/tests/memory.c", None, 40_000_000),
                                  (1000, "0", "pipe", "suite/tests/pipe.c", None, None)])
        self.expect_run(results_output(tap(tap_case("memory", 1, True))))
        self.expect_outcome(result=FAILURE)
        await self.run_step()
        self.assertIn("no result: pipe", self.summary())

    async def test_bail_out_is_exception_with_its_reason(self):
        self.setup()
        self.expect_run(results_output(["TAP version 13", "1..2",
                                        "Bail out! checkpt(1) not found on PATH"]))
        self.expect_outcome(result=EXCEPTION)
        await self.run_step()
        self.assertEqual(self.summary(), "infrastructure: the suite bailed out: checkpt(1) not "
                                         "found on PATH")


class TestMissingResults(SuiteCase):
    async def test_blank_results_disk_is_exception_with_the_last_console_line(self):
        self.setup()
        self.expect_run(
            result("infrastructure", "no results tar on the results disk (it is blank)",
                   "infrastructure", "the guest suite did not finish; see its console log"),
            results_rc=4,
            run_stdout="run.sh: cannot write results to /dev/vkd1\n"
            + result("failure", "guest command exited 4", "test", status=4), run_rc=1)
        self.expect_outcome(result=EXCEPTION)
        await self.run_step()
        self.assertEqual(self.summary(),
                         "infrastructure: no results tar on the results disk (it is blank) "
                         "(fix: the guest suite did not finish; see its console log); last "
                         "console lines: run.sh: cannot write results to /dev/vkd1")

    async def test_garbage_tap_is_exception(self):
        self.setup()
        self.expect_run(results_output(["\x00\x01garbage", "<html>", "okay then"]))
        self.expect_outcome(result=EXCEPTION)
        await self.run_step()
        self.assertEqual(self.summary(), "infrastructure: unreadable TAP on the results disk "
                                         "(no plan, no test lines)")

    async def test_lost_tap_lines_are_exception(self):
        self.setup()
        self.expect_one_set()
        self.expect_test_results([
            (1000, "1", "memory", "suite/tests/memory.c", None, 412_000_000),
            (1000, "1", "pipe", "suite/tests/pipe.c", None, 40_000_000)])
        out = results_output(GOOD).replace(f'"tap_lines": {len(GOOD)}',
                                           f'"tap_lines": {len(GOOD) + 5}')
        self.expect_run(out)
        self.expect_outcome(result=EXCEPTION)
        await self.run_step()
        self.assertIn(f"read {len(GOOD)} of {len(GOOD) + 5} TAP lines", self.summary())


class TestPhases(SuiteCase):
    async def test_suite_that_does_not_compile_is_failure_naming_programs(self):
        self.setup()
        self.expect_run(None, build_stdout="cc memory\nmemory.c:3: error: x\nbuild.sh: failed: "
                        "memory\n" + result("failure", "guest command exited 1", "test",
                                            status=1),
                        build_rc=1, stop_after="build")
        self.expect_outcome(result=FAILURE)
        await self.run_step()
        self.assertEqual(self.summary(), "test: the suite does not build in the guest "
                                         "(failed: memory)")

    async def test_panic_during_the_run_is_failure_with_backtrace(self):
        self.setup()
        self.expect_run(None, run_stdout="panic: page fault\n" + result(
            "failure", "panic: page fault · ddb trace captured", "kernel",
            backtrace=["trap_pfault", "trap"]), run_rc=1, stop_after="run")
        self.expect_outcome(result=FAILURE)
        self.expect_log_file("backtrace", "trap_pfault\ntrap\n")
        await self.run_step()
        self.assertEqual(self.summary(), "kernel: running the suite: panic: page fault · ddb "
                                         "trace captured")

    async def test_without_build_and_nocr(self):
        self.setup(build_suite=False, nocr=True, only="memory", iterations=3,
                   results_dir="/tmp/r", guest_dir="/opt/suite dir")
        self.expect_one_set()
        self.expect_test_results([(1000, "1", "memory", "suite/tests/memory.c", None, 40_000_000)])
        line = ("(cd '/opt/suite dir' && { dd if=/dev/zero of=/dev/vkd1 bs=512 count=4 "
                "2>/dev/null; rm -rf '/tmp/r'; sh run.sh --results '/tmp/r' --results-disk "
                "/dev/vkd1 --iterations 3 --only memory --nocr --retries 2; })")
        self.expect_commands(
            ExpectStat(file=agent_path(), log_environ=False).stat_file().exit(0),
            self.shell(["exec", "--session", SESSION, "--timeout", "300", "--", line],
                       result("ok", "guest command succeeded", status=0), 0),
            self.shell(["results", "--session", SESSION],
                       results_output(tap(tap_case("memory", 1, True), plan=1)), 0,
                       log="results"))
        self.expect_outcome(result=SUCCESS)
        await self.run_step()
        self.assertEqual(self.summary(), "1 passed, 0 failed, 0 xfail · no checkpoint (nocr)")


class TestConfig(unittest.TestCase):
    def test_unknown_test_is_a_config_error(self):
        with self.assertRaises(ConfigErrors) as ctx:
            GuestCheckpointSuite(only=["memory", "nosuch"])
        self.assertIn("nosuch", str(ctx.exception))

    def test_iterations_must_be_positive(self):
        with self.assertRaises(ConfigErrors):
            GuestCheckpointSuite(iterations=0)

    def test_default_suite_timeout_grows_with_iterations(self):
        one = GuestCheckpointSuite(iterations=1).default_suite_timeout()
        three = GuestCheckpointSuite(iterations=3).default_suite_timeout()
        self.assertGreater(three, one)


class TestTimeouts(SuiteCase):
    def expect_good_results(self):
        self.expect_one_set()
        self.expect_test_results([
            (1000, "1", "memory", "suite/tests/memory.c", None, 412_000_000),
            (1000, "1", "pipe", "suite/tests/pipe.c", None, 40_000_000)])

    async def test_building_and_running_have_a_phase_each(self):
        self.setup(timeouts={"suite_build": 90, "suite": 2400})
        self.expect_run(results_output(GOOD), build_s=90, run_s=2400)
        self.expect_good_results()
        self.expect_outcome(result=SUCCESS)
        await self.run_step()

    async def test_without_a_suite_timeout_it_comes_from_the_tests(self):
        self.setup(timeouts={"suite_build": 90})
        computed = GuestCheckpointSuite(only=["memory", "pipe"]).default_suite_timeout()
        per_wait = sum(t.timeout for t in list_tests() if t.name in ("memory", "pipe"))
        self.assertEqual(computed, per_wait * (3 + 2 * 1) * (1 + 2))  # waits x runs
        self.expect_run(results_output(GOOD), build_s=90, run_s=computed)
        self.expect_good_results()
        self.expect_outcome(result=SUCCESS)
        await self.run_step()


class TestRendered(SuiteCase):
    async def test_rendered_names_are_checked_before_reaching_the_guest_shell(self):
        from buildbot.process.properties import Property
        self.setup(only=Property("tests"))
        self.build.setProperty("tests", "memory;reboot", "test")
        self.expect_outcome(result=EXCEPTION)
        await self.run_step()
        self.assertEqual(self.summary(), "configuration: unknown test(s) in only: memory;reboot")


class TestOverTransport(SuiteCase):
    def session(self):
        builder_dir = self.get_nth_step(0).build.builder.config.workerbuilddir
        return f"{ScriptedTransport.workdir}/{builder_dir}/vkckpt-sessions/build-7"

    async def test_three_commands_run_on_the_ssh_host(self):
        transport = ScriptedTransport(
            ("cc memory\ncc pipe\n" + result("ok", "guest command succeeded", status=0), 0),
            ("ok 1 - memory\n" + result("ok", "guest command succeeded", status=0), 0),
            (results_output(GOOD), 0))
        self.setup(transport=transport)
        # no worker command at all: expect_commands() with nothing fails on any
        self.expect_commands()
        self.expect_outcome(result=SUCCESS)
        self.expect_one_set()
        self.expect_test_results([
            (1000, "1", "memory", "suite/tests/memory.c", None, 412_000_000),
            (1000, "1", "pipe", "suite/tests/pipe.c", None, 40_000_000)])
        self.expect_log_file("results.tap", "\n".join(GOOD) + "\n")
        await self.run_step()
        session = self.session()
        python, agent = ScriptedTransport.python, ScriptedTransport.agent
        self.assertEqual(transport.argvs, [
            [python, "-S", agent, "exec", "--session", session, "--timeout", "600", "--",
             BUILD_LINE],
            [python, "-S", agent, "exec", "--session", session, "--timeout", "300", "--",
             RUN_LINE],
            [python, "-S", agent, "results", "--session", session]])
        self.assertTrue(session.startswith(ScriptedTransport.workdir + "/"))
        self.assertEqual(self.summary(), "1 passed, 0 failed, 1 xfail · 1 iteration")
        step = self.get_nth_step(0)
        self.assertIn("cc pipe", "".join(step.logs["build"].stdout))
        self.assertIn("ok 1 - memory", "".join(step.logs["stdio"].stdout))

    async def test_host_lost_while_running_is_failure_and_reads_no_results(self):
        from buildbot_vkckpt.transports import HostLost
        transport = ScriptedTransport(
            (result("ok", "guest command succeeded", status=0), 0),
            HostLost("connection to dfly-test lost (no keepalive answer for 45 s)"))
        self.setup(transport=transport)
        self.expect_commands()
        self.expect_outcome(result=FAILURE)
        await self.run_step()
        self.assertEqual(self.summary(), "host lost: connection to dfly-test lost (no keepalive "
                                         "answer for 45 s)")
        self.assertEqual([argv[3] for argv in transport.argvs], ["exec", "exec"])


class KernelFeatures(SuiteCase):
    """pass_with tests (threads, kqueue) are expected passes on a kernel with the GSoC work;
    only the boot step's flavour says so, never a property a change carries."""

    def run_line_with(self, flavour, source):
        self.setup()
        self.build.setProperty("vkckpt_flavour", flavour, source)
        return self.get_nth_step(0).run_line()

    def test_gsoc_flavours_run_with_the_feature(self):
        for flavour in ("gsoc2013", "master-with-port"):
            self.assertIn("--kernel-has vkernel_chkpt", self.run_line_with(flavour, "boot"))

    def test_stock_flavour_runs_without(self):
        self.assertNotIn("--kernel-has", self.run_line_with("master2020", "boot"))

    def test_a_change_cannot_claim_the_feature(self):
        self.assertNotIn("--kernel-has", self.run_line_with("gsoc2013", "Change"))
