"""VkernelCheckpointCycle with Buildbot's step-testing mixin: probe, prepare and per cycle
checkpoint → restore → verify as agent commands; results, summaries, logs, test-result sets."""

from buildbot.config.errors import ConfigErrors
from buildbot.process.properties import Property
from buildbot.process.results import EXCEPTION, FAILURE, SUCCESS, WARNINGS
from buildbot.test.reactor import TestReactorMixin
from buildbot.test.steps import ExpectShell, ExpectStat, TestBuildStepMixin
from twisted.trial import unittest

from buildbot_vkckpt.steps.agent import MARGIN
from buildbot_vkckpt.steps.cycle import VkernelCheckpointCycle, format_bytes
from buildbot_vkckpt.units import format_ms

from .agentout import BUILDDIR, ScriptedTransport, agent_path, event, metric, result

SESSION = f"{BUILDDIR}/vkckpt-sessions/build-7"
MIB = 1 << 20
CHECKS = ("workload-alive", "workload-progressed", "uptime-continuous", "files-intact",
          "network")
INSPECT = ["threads: 2", "notes: NT_PRSTATUS ×2, NT_DVCKPT_VNODES", "mappings: 14 (256.0 MiB)"]


def ckpt_file(n):
    return f"{SESSION}/ckpt/vkernel.{n}.ckpt"


def checkpoint_ok(n, seconds, size):
    return (event(ev="phase", name="checkpoint") + metric("ckpt_seconds", seconds, "s")
            + metric("ckpt_bytes", size, "bytes")
            + result("ok", f"checkpoint written ({size} bytes)", file=ckpt_file(n),
                     seconds=seconds, bytes=size, threads=2, inspect=INSPECT))


def restore_ok(seconds, console):
    return ("Restored from checkpoint...\n" + metric("restore_seconds", seconds, "s")
            + metric("console_seconds", console, "s") + result("ok", "guest restored"))


def verify_out(failed=None, text="counter stuck at 412"):
    out = "".join(event(ev="check", name=c, ok=c != failed, text=text if c == failed else "")
                  for c in CHECKS)
    if failed:
        return out + result("failure", f"restore broke the guest: {failed}: {text}", "kernel")
    return out + result("ok", "guest continued (5 checks)")


class CycleCase(TestReactorMixin, TestBuildStepMixin, unittest.TestCase):
    def setUp(self):
        self.setup_test_reactor()
        return self.setup_test_build_step()

    def setup(self, **kwargs):
        self.setup_step(VkernelCheckpointCycle(**kwargs))
        self.build.setProperty("builddir", BUILDDIR, "Worker")
        self.build.setProperty("buildnumber", 7, "Build")
        self.cmds = [ExpectStat(file=agent_path(), log_environ=False).stat_file().exit(0)]

    def agent(self, log, args, stdout, rc=0, timeout=1200):
        self.cmds.append(ExpectShell(workdir="wkdir", log_environ=False, timeout=timeout,
                                     command=["python3", "-S", agent_path(), args[0], "--session",
                                              SESSION] + args[1:])
                         .log(log, stdout=stdout).exit(rc))

    def probe_and_prepare(self):
        self.agent("stdio", ["probe"], result("ok", "vkernel checkpoint supported",
                                              supported=True, ckpt_path="%N.ckpt"))
        self.agent("stdio", ["verify", "--prepare"], result("ok", "workload started"))

    def checkpoint(self, n, stdout, rc=0):
        # Buildbot's backstop: the agent's own timeout + MARGIN
        self.agent(f"cycle {n}", ["checkpoint", "--timeout", "600"], stdout, rc,
                   timeout=600 + MARGIN)

    def restore(self, n, stdout, rc=0):
        self.agent(f"cycle {n}", ["restore", "--file", ckpt_file(n), "--timeout", "300"],
                   stdout, rc, timeout=300 + MARGIN)

    def verify(self, n, stdout, rc=0):
        self.agent(f"cycle {n}", ["verify"], stdout, rc)

    def good_cycle(self, n, ckpt=(1.8, 256 * MIB), restore=(0.9, 1.2)):
        self.checkpoint(n, checkpoint_ok(n, *ckpt))
        self.restore(n, restore_ok(*restore))
        self.verify(n, verify_out())

    def summary(self):
        return self.get_nth_step(0).getResultSummary()

    def report(self):
        return self.get_nth_step(0).logs["cycle-report.html"].stdout

    def lognames(self):
        return list(self.get_nth_step(0).logs)

    def expect_sets(self, passfail, ckpt_s=(), restore_s=(), console_s=(), ckpt_bytes=()):
        """The sets in order (a number set only when it holds values): pass_fail as
        (test name, value), then (cycle, value)."""
        numbers = [(("checkpoint time", "performance", "seconds"), ckpt_s),
                   (("restore time", "performance", "seconds"), restore_s),
                   (("time to responsive console", "performance", "seconds"), console_s),
                   (("checkpoint file size", "binary_size", "bytes"), ckpt_bytes)]
        numbers = [(spec, values) for spec, values in numbers if values]
        self.expect_test_result_sets([("vkernel checkpoint cycle", "pass_fail", "boolean")]
                                     + [spec for spec, _values in numbers])
        rows = [(1000, value, name, None, None, None) for name, value in passfail]
        for setid, (_spec, values) in enumerate(numbers, 1001):
            rows += [(setid, value, f"cycle {n}", None, None, None) for n, value in values]
        self.expect_test_results(rows)


def passed(n, *failed_checks, checks=CHECKS):
    return ([(f"cycle {n}: checkpoint", "1"), (f"cycle {n}: restore", "1")]
            + [(f"cycle {n}: {c}", "0" if c in failed_checks else "1") for c in checks])


class TestCycles(CycleCase):
    async def test_all_cycles_ok_record_every_check_and_metric(self):
        self.setup(cycles=3)
        self.probe_and_prepare()
        self.good_cycle(1, (1.7, 255 * MIB), (0.8, 1.1))
        self.good_cycle(2, (1.8, 256 * MIB), (0.9, 1.2))
        self.good_cycle(3, (2.5, 257 * MIB), (1.4, 1.9))
        self.expect_commands(*self.cmds)
        self.expect_outcome(result=SUCCESS)
        self.expect_sets(passed(1) + passed(2) + passed(3),
                         ckpt_s=[(1, "1.7"), (2, "1.8"), (3, "2.5")],
                         restore_s=[(1, "0.8"), (2, "0.9"), (3, "1.4")],
                         console_s=[(1, "1.1"), (2, "1.2"), (3, "1.9")],
                         ckpt_bytes=[(n, str(b * MIB)) for n, b in ((1, 255), (2, 256), (3, 257))])
        self.expect_property("vkckpt_cycles_ok", 3)
        self.expect_property("vkckpt_ckpt_seconds", 1.8)
        self.expect_property("vkckpt_ckpt_bytes", 256 * MIB)
        self.expect_property("vkckpt_restore_seconds", 0.9)
        self.expect_property("vkckpt_cycles_total", 3)
        self.expect_property("vkckpt_cycles_not_run", 0)
        await self.run_step()
        self.assertEqual(self.summary(), {"step": "3/3 cycles ok · ckpt 1.800 s / 256.0 MiB · "
                                                  "restore 900 ms"})
        # test result values are strings, as Buildbot 4.3 requires
        self.assertTrue(all(isinstance(r[1], str) for r in self._got_test_results))
        html = self.report()
        # times in ms, sizes in MiB: for people, not raw floats and byte counts
        self.assertIn("<tr><td>2</td><td>ok</td><td>1.800 s</td><td>256.0 MiB</td><td>2</td>"
                      "<td>ok</td><td>900 ms</td><td>1.200 s</td>", html)
        self.assertIn("3/3 cycles ok", html)
        self.assertNotIn("background", html)
        # the report leads; the backtrace log follows it and says there was none
        self.assertEqual(self.lognames()[:2], ["cycle-report.html", "backtrace"])
        self.assertEqual(self.get_nth_step(0).logs["backtrace"].stdout,
                         "no panic, trap or ddb backtrace in this step\n")

    async def test_unsupported_probe_is_not_tested_never_green(self):
        self.setup()
        self.agent("stdio", ["probe"], result(
            "unsupported", "the vkernel has no checkpoint handler (stock DragonFly cannot "
            "checkpoint a running vkernel)", "unsupported",
            fix="build the vkernel from a tree with the handler"), rc=3)
        self.expect_commands(*self.cmds)
        self.expect_outcome(result=WARNINGS)
        reason = ("the vkernel has no checkpoint handler (stock DragonFly cannot checkpoint a "
                  "running vkernel)")
        self.expect_property("vkckpt_not_tested", reason)
        self.expect_property("vkckpt_cycles_ok", 0)
        self.expect_property("vkckpt_cycles_total", 3)
        self.expect_property("vkckpt_cycles_not_run", 3)
        await self.run_step()
        # the build's summary too, so the builder list says it
        self.assertEqual(self.summary(), {"step": f"checkpoint NOT TESTED — {reason}",
                                          "build": f"checkpoint NOT TESTED — {reason}"})
        self.assertTrue(self.get_nth_step(0).warnOnWarnings)
        self.assertEqual(self._got_test_result_sets, [])
        html = self.report()
        self.assertEqual(html.count("<td>not tested</td>"), 9)
        self.assertIn("require_checkpoint_support=True", html)
        self.assertIn("build the vkernel from a tree with the handler", html)
        self.assertNotIn("§", html + self.summary()["step"])

    async def test_unsupported_is_failure_when_support_is_required(self):
        self.setup(require_support=True)
        self.agent("stdio", ["probe"], result("unsupported", "kern.ckptgroup excludes root",
                                              "unsupported"), rc=3)
        self.expect_commands(*self.cmds)
        self.expect_outcome(result=FAILURE)
        self.expect_property("vkckpt_not_tested", "kern.ckptgroup excludes root")
        await self.run_step()
        text = "checkpoint NOT TESTED — kern.ckptgroup excludes root (checkpoint support is " \
               "required)"
        self.assertEqual(self.summary(), {"step": text, "build": text})

    async def test_checkpoint_failure_stops_and_names_the_cycle(self):
        self.setup(cycles=3)
        self.probe_and_prepare()
        self.good_cycle(1)
        self.checkpoint(2, metric("ckpt_seconds", 0.4, "s") + result(
            "failure", "checkpoint file invalid: PT_LOAD 3 runs past end of file", "kernel",
            file=ckpt_file(2), inspect=["ELF header ok", "PT_LOAD 3 runs past end of file"]),
            rc=1)
        self.expect_commands(*self.cmds)
        self.expect_outcome(result=FAILURE)
        self.expect_sets(passed(1) + [("cycle 2: checkpoint", "0")],
                         ckpt_s=[(1, "1.8"), (2, "0.4")], restore_s=[(1, "0.9")],
                         console_s=[(1, "1.2")], ckpt_bytes=[(1, str(256 * MIB))])
        self.expect_log_file("checkpoint-inspect",
                             "ELF header ok\nPT_LOAD 3 runs past end of file\n")
        self.expect_property("vkckpt_cycles_ok", 1)
        await self.run_step()
        # the agent's summary says what failed: no "checkpoint failed:" in front of it
        self.assertEqual(self.summary()["step"], "kernel: cycle 2/3 (checkpoint): checkpoint file invalid: "
                                                 "PT_LOAD 3 runs past end of file · not retried: needs a fresh boot")

    async def test_restore_failure_attaches_inspect_tail_and_backtrace(self):
        self.setup(cycles=3)
        self.probe_and_prepare()
        self.good_cycle(1)
        self.checkpoint(2, checkpoint_ok(2, 1.9, 256 * MIB))
        self.restore(2, "thaw failed error 22 Invalid argument\n" + result(
            "failure", "restore failed: thaw failed error 22 Invalid argument", "kernel",
            inspect=INSPECT, tail=["checkpt: restoring", "thaw failed error 22 Invalid argument"],
            backtrace=["ckpt_thaw_proc", "sys_sys_checkpoint"]), rc=1)
        self.expect_commands(*self.cmds)
        self.expect_outcome(result=FAILURE)
        self.expect_log_file("checkpoint-inspect", "\n".join(INSPECT) + "\n")
        self.expect_log_file("last-console-lines", "checkpt: restoring\nthaw failed error 22 "
                                                   "Invalid argument\n")
        self.expect_log_file("backtrace", "ckpt_thaw_proc\nsys_sys_checkpoint\n")
        self.expect_sets(passed(1) + [("cycle 2: checkpoint", "1"), ("cycle 2: restore", "0")],
                         ckpt_s=[(1, "1.8"), (2, "1.9")], restore_s=[(1, "0.9")],
                         console_s=[(1, "1.2")],
                         ckpt_bytes=[(1, str(256 * MIB)), (2, str(256 * MIB))])
        self.expect_property("vkckpt_cycles_ok", 1)
        self.expect_property("vkckpt_cycles_total", 3)
        self.expect_property("vkckpt_cycles_not_run", 1)
        self.expect_property("vkckpt_backtrace", "ckpt_thaw_proc\nsys_sys_checkpoint")
        self.expect_property("vkckpt_backtrace_log", "backtrace")
        await self.run_step()
        self.assertEqual(self.summary()["step"], "kernel: cycle 2/3 (restore): restore failed: thaw "
                                                 "failed error 22 Invalid argument · not retried: needs a fresh boot")
        html = self.report()
        # the failed cycle first and coloured, with what failed; cycle 3 did not run
        rows = [line for line in html.splitlines() if line.startswith("<tr")][1:]
        self.assertTrue(rows[0].startswith('<tr style="background:#f8d0d0"><td>2</td><td>ok'
                                           '</td><td>1.900 s</td>'), rows[0])
        self.assertIn("restore failed: thaw failed error 22", rows[0])
        self.assertTrue(rows[1].startswith("<tr><td>1</td>"), rows[1])
        self.assertIn("<td>3</td><td>not run</td>", rows[2])
        self.assertIn("ckpt_thaw_proc\nsys_sys_checkpoint", html)

    async def test_agent_timeout_in_restore_is_named_once(self):
        self.setup(cycles=3)
        self.probe_and_prepare()
        self.checkpoint(1, checkpoint_ok(1, 1.8, 256 * MIB))
        self.restore(1, result("failure", "timeout in restore: no 'Restored from checkpoint...' "
                               "within 20 s; last line: Restoring vmspaces...", "timeout",
                               inspect=INSPECT, tail=["Restoring vmspaces..."]), rc=1)
        self.expect_commands(*self.cmds)
        self.expect_outcome(result=FAILURE)
        self.expect_sets([("cycle 1: checkpoint", "1"), ("cycle 1: restore", "0")],
                         ckpt_s=[(1, "1.8")], ckpt_bytes=[(1, str(256 * MIB))])
        self.expect_log_file("last-console-lines", "Restoring vmspaces...\n")
        await self.run_step()
        self.assertEqual(self.summary()["step"],
                         "timeout: cycle 1/3 (restore): timeout in restore: no 'Restored from checkpoint...' "
                         "within 20 s; "
                         "last line: Restoring vmspaces... · not retried: needs a fresh boot")

    async def test_the_action_is_named_beside_the_cycle(self):
        self.setup(cycles=1)
        self.probe_and_prepare()
        self.checkpoint(1, checkpoint_ok(1, 1.8, 256 * MIB))
        self.restore(1, result("failure", "panic: vm_fault: fault on nofault entry · ddb trace "
                               "captured", "kernel", backtrace=["vm_fault", "trap"],
                               panic="vm_fault: fault on nofault entry"), rc=1)
        self.expect_commands(*self.cmds)
        self.expect_outcome(result=FAILURE)
        self.expect_sets([("cycle 1: checkpoint", "1"), ("cycle 1: restore", "0")],
                         ckpt_s=[(1, "1.8")], ckpt_bytes=[(1, str(256 * MIB))])
        self.expect_log_file("backtrace", "vm_fault\ntrap\n")
        self.expect_property("vkckpt_panic", "panic: vm_fault: fault on nofault entry")
        await self.run_step()
        self.assertIn("panic: vm_fault: fault on nofault entry\n\nbacktrace", self.report())
        self.assertEqual(self.summary()["step"],
                         "kernel: cycle 1/1 (restore): panic: vm_fault: fault on nofault "
                         "entry · ddb trace captured")

    async def test_verify_failure_names_the_check(self):
        self.setup(cycles=2, retries=0)     # re-runs: tests/steps/test_flake_cycle.py
        self.probe_and_prepare()
        self.checkpoint(1, checkpoint_ok(1, 1.8, 256 * MIB))
        self.restore(1, restore_ok(0.9, 1.2))
        self.verify(1, verify_out(failed="workload-progressed"), rc=1)
        self.expect_commands(*self.cmds)
        self.expect_outcome(result=FAILURE)
        self.expect_log_file("checkpoint-inspect", "\n".join(INSPECT) + "\n")
        self.expect_sets(passed(1, "workload-progressed"), ckpt_s=[(1, "1.8")],
                         restore_s=[(1, "0.9")], console_s=[(1, "1.2")],
                         ckpt_bytes=[(1, str(256 * MIB))])
        self.expect_property("vkckpt_cycles_ok", 0)
        await self.run_step()
        self.assertEqual(self.summary()["step"], "kernel: cycle 1/2 (verify): restore broke the guest: "
                                                 "workload-progressed: counter stuck at 412")

    async def test_infrastructure_is_exception_with_the_fix(self):
        self.setup(cycles=2)
        self.probe_and_prepare()
        self.checkpoint(1, result("infrastructure", "no space left for the checkpoint file "
                                  "(12 MiB free, 256 MiB needed)", "infrastructure",
                                  "free space in the session directory"), rc=4)
        self.expect_commands(*self.cmds)
        self.expect_outcome(result=EXCEPTION)
        self.expect_test_result_sets([("vkernel checkpoint cycle", "pass_fail", "boolean")])
        self.expect_test_results([(1000, "0", "cycle 1: checkpoint", None, None, None)])
        await self.run_step()
        self.assertEqual(self.summary()["step"],
                         "infrastructure: cycle 1/2 (checkpoint): no space left for the "
                         "checkpoint file (12 MiB free, 256 MiB needed) (fix: free space in the "
                         "session directory)")

    async def test_silent_restore_times_out_naming_cycle_and_last_console_lines(self):
        self.setup(cycles=1, timeouts={"restore": 1500})
        self.probe_and_prepare()
        self.checkpoint(1, checkpoint_ok(1, 1.8, 256 * MIB))
        self.cmds.append(
            ExpectShell(workdir="wkdir", log_environ=False, timeout=1500 + MARGIN,
                        command=["python3", "-S", agent_path(), "restore", "--session", SESSION,
                                 "--file", ckpt_file(1), "--timeout", "1500"])
            .log("cycle 1", stdout="checkpt: restoring\nthawing 2 threads\n")
            .update("failure_reason", "timeout_without_output").exit(-1))
        self.expect_commands(*self.cmds)
        self.expect_outcome(result=FAILURE)
        self.expect_sets([("cycle 1: checkpoint", "1"), ("cycle 1: restore", "0")],
                         ckpt_s=[(1, "1.8")], ckpt_bytes=[(1, str(256 * MIB))])
        self.expect_log_file("checkpoint-inspect", "\n".join(INSPECT) + "\n")
        await self.run_step()
        self.assertEqual(self.summary()["step"],
                         "timeout: cycle 1/1 (restore): no output for 1620 s; last console lines: "
                         "checkpt: restoring | thawing 2 threads · not retried: needs a fresh boot")

    async def test_agent_without_result_is_exception(self):
        self.setup()
        self.agent("stdio", ["probe"], "Traceback (most recent call last):\n", rc=1)
        self.expect_commands(*self.cmds)
        self.expect_outcome(result=EXCEPTION)
        await self.run_step()
        self.assertEqual(self.summary()["step"],
                         "infrastructure: probe: agent exited 1 without a result")

    async def test_failed_prepare_runs_no_cycle(self):
        self.setup()
        self.agent("stdio", ["probe"], result("ok", "supported", supported=True))
        self.agent("stdio", ["verify", "--prepare"],
                   result("failure", "guest shell did not answer", "kernel"), rc=1)
        self.expect_commands(*self.cmds)
        self.expect_outcome(result=FAILURE)
        await self.run_step()
        self.assertEqual(self.summary()["step"], "kernel: preparing the guest workload: "
                                                 "guest shell did not answer")


class TestLiveAndRendered(CycleCase):
    async def test_live_summary_names_cycle_and_action(self):
        self.setup(cycles=2)
        step = self.get_nth_step(0)
        seen = []
        original = step.run_agent_command

        async def spy(subcommand, args, logname="stdio", timeout=None):
            seen.append(step.getCurrentSummary()["step"])
            return await original(subcommand, args, logname, timeout)
        step.run_agent_command = spy
        self.probe_and_prepare()
        self.good_cycle(1)
        self.good_cycle(2)
        self.expect_commands(*self.cmds)
        self.expect_outcome(result=SUCCESS)
        self.expect_sets(passed(1) + passed(2), ckpt_s=[(1, "1.8"), (2, "1.8")],
                         restore_s=[(1, "0.9"), (2, "0.9")], console_s=[(1, "1.2"), (2, "1.2")],
                         ckpt_bytes=[(1, str(256 * MIB)), (2, str(256 * MIB))])
        await self.run_step()
        self.assertEqual(seen, ["probing checkpoint support", "starting the guest workload",
                                "cycle 1/2: checkpoint", "cycle 1/2: restore",
                                "cycle 1/2: verify", "cycle 2/2: checkpoint",
                                "cycle 2/2: restore", "cycle 2/2: verify"])

    async def test_rendered_iterations_and_long_timeouts(self):
        self.setup(cycles=Property("cycles"), timeouts={"checkpoint": 3000})
        self.build.setProperty("cycles", "1", "test")
        self.probe_and_prepare()
        # Buildbot's silence timeout stays above the agent's own
        self.agent("cycle 1", ["checkpoint", "--timeout", "3000"],
                   checkpoint_ok(1, 1.8, 256 * MIB), timeout=3000 + MARGIN)
        self.restore(1, restore_ok(0.9, 1.2))
        self.verify(1, verify_out())
        self.expect_commands(*self.cmds)
        self.expect_outcome(result=SUCCESS)
        self.expect_sets(passed(1), ckpt_s=[(1, "1.8")], restore_s=[(1, "0.9")],
                         console_s=[(1, "1.2")], ckpt_bytes=[(1, str(256 * MIB))])
        await self.run_step()
        self.assertEqual(self.summary()["step"], "1/1 cycles ok · ckpt 1.800 s / 256.0 MiB · "
                                                 "restore 900 ms")

    async def test_both_phases_from_one_rendered_timeouts_dict(self):
        self.setup(cycles=1, timeouts=Property("timeouts"))
        self.build.setProperty("timeouts", {"checkpoint": "45", "restore": 20}, "test")
        self.probe_and_prepare()
        self.agent("cycle 1", ["checkpoint", "--timeout", "45"],
                   checkpoint_ok(1, 1.8, 256 * MIB), timeout=45 + MARGIN)
        self.agent("cycle 1", ["restore", "--file", ckpt_file(1), "--timeout", "20"],
                   restore_ok(0.9, 1.2), timeout=20 + MARGIN)
        self.verify(1, verify_out())
        self.expect_commands(*self.cmds)
        self.expect_outcome(result=SUCCESS)
        self.expect_sets(passed(1), ckpt_s=[(1, "1.8")], restore_s=[(1, "0.9")],
                         console_s=[(1, "1.2")], ckpt_bytes=[(1, str(256 * MIB))])
        await self.run_step()

    async def test_a_rendered_cycle_key_is_a_configuration_exception(self):
        self.setup(timeouts=Property("timeouts"))
        self.build.setProperty("timeouts", {"cycle": 60}, "test")
        self.expect_outcome(result=EXCEPTION)
        await self.run_step()
        self.assertEqual(self.summary()["step"], "configuration: timeouts['cycle'] is now two "
                                                 "phases: timeouts={'checkpoint': 60, "
                                                 "'restore': 60}")

    async def test_rendered_garbage_is_a_configuration_exception(self):
        self.setup(cycles=Property("cycles"))
        self.build.setProperty("cycles", "3; reboot", "test")
        self.expect_outcome(result=EXCEPTION)
        await self.run_step()
        self.assertEqual(self.summary()["step"], "configuration: cycles must be a positive "
                                                 "integer, not '3; reboot'")


class TestConfig(unittest.TestCase):
    def check_error(self, param, **kwargs):
        with self.assertRaises(ConfigErrors) as ctx:
            VkernelCheckpointCycle(**kwargs)
        self.assertIn(f"VkernelCheckpointCycle: {param} ", str(ctx.exception))

    def test_bad_parameters_are_named(self):
        self.check_error("cycles", cycles=0)
        self.check_error("timeouts['checkpoint']", timeouts={"checkpoint": "soon"})
        self.check_error("timeouts['restore']", timeouts={"restore": -1})
        self.check_error("require_support", require_support="yes")

    def test_the_old_name_iterations_is_rejected_naming_cycles(self):
        with self.assertRaises(ConfigErrors) as ctx:
            VkernelCheckpointCycle(iterations=3)
        self.assertIn("VkernelCheckpointCycle: iterations was renamed: use cycles=",
                      str(ctx.exception))

    def test_formatting(self):
        # the trends page's rule: ms below a second, three decimals above
        self.assertEqual([format_ms(v) for v in (0.021, 0.0015, 0.097, 12.4)],
                         ["21 ms", "1.5 ms", "97 ms", "12.400 s"])
        self.assertEqual(format_bytes(64 * MIB), "64.0 MiB")
        self.assertEqual(format_bytes(2633728), "2.5 MiB")
        self.assertEqual(format_bytes(3 * 1024 * MIB), "3.00 GiB")


class TestOverTransport(CycleCase):
    async def test_cycles_run_on_the_ssh_host_and_a_lost_host_fails(self):
        from buildbot_vkckpt.transports.errors import HostLost
        transport = ScriptedTransport({
            "probe": (result("ok", "supported", supported=True), 0),
            "verify": (result("ok", "workload started"), 0),
            "checkpoint": (checkpoint_ok(1, 1.8, 256 * MIB), 0),
            "restore": HostLost("connection to dfly lost (no keepalive answer for 45 s)")})
        self.setup(cycles=2, transport=transport)
        self.expect_outcome(result=FAILURE)
        self.expect_sets([("cycle 1: checkpoint", "1"), ("cycle 1: restore", "0")],
                         ckpt_s=[(1, "1.8")], ckpt_bytes=[(1, str(256 * MIB))])
        await self.run_step()
        self.assertEqual(self.summary()["step"],
                         "host lost: connection to dfly lost (no keepalive answer for 45 s)")
        self.assertEqual([argv[3:] for argv in transport.argvs][-2:], [
            ["checkpoint", "--session", argv_session(transport), "--timeout", "600"],
            ["restore", "--session", argv_session(transport), "--file", ckpt_file(1),
             "--timeout", "300"]])


def argv_session(transport):
    return transport.argvs[0][5]


class TestRegistration(unittest.TestCase):
    def test_every_step_is_a_buildbot_plugin_entry_point(self):
        """setup.py's STEPS name every step the package exports, and each target imports."""
        import ast
        import importlib
        from pathlib import Path

        import buildbot_vkckpt.steps as package
        tree = ast.parse((Path(__file__).resolve().parents[2] / "setup.py").read_text())
        steps = next(ast.literal_eval(node.value) for node in tree.body
                     if isinstance(node, ast.Assign) and node.targets[0].id == "STEPS")
        self.assertEqual(set(steps), set(package.__all__))
        self.assertEqual(steps["VkernelCheckpointCycle"],
                         "buildbot_vkckpt.steps.cycle:VkernelCheckpointCycle")
        for name, target in steps.items():
            module, attr = target.split(":")
            self.assertEqual(getattr(importlib.import_module(module), attr).__name__, name)
