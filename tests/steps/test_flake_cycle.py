"""VkernelCheckpointCycle's flake verdicts: a cycle whose verify failed (the guest still runs)
is run again, fresh, in the same session; flaky is WARNINGS naming the check, every attempt a
test result; a panic or a failed restore is never re-run."""
from buildbot.config.errors import ConfigErrors
from buildbot.process.results import FAILURE, WARNINGS

from buildbot_vkckpt.steps.cycle import VkernelCheckpointCycle

from .agentout import result
from .test_cycle import (MIB, CycleCase, checkpoint_ok, passed, restore_ok, verify_out)

NAME = "cycle: workload-alive"
BROKE = "kernel: cycle 1/{total} (verify): restore broke the guest: workload-alive: " \
        "counter stuck at 412"


class FlakeCase(CycleCase):
    def cycle(self, n, verify_failed=None, prepare=False):
        if prepare:
            self.agent(f"cycle {n}", ["verify", "--prepare"], result("ok", "workload started"))
        self.checkpoint(n, checkpoint_ok(n, 1.8, 256 * MIB))
        self.restore(n, restore_ok(0.9, 1.2))
        self.verify(n, verify_out(failed=verify_failed), rc=1 if verify_failed else 0)

    def expect_results(self, attempts, passfail, cycles):
        """The attempts set first (recorded when the re-runs end), then the cycle's sets."""
        self.expect_test_result_sets(
            [("vkernel checkpoint cycle attempts", "pass_fail", "boolean"),
             ("vkernel checkpoint cycle", "pass_fail", "boolean"),
             ("checkpoint time", "performance", "seconds"),
             ("restore time", "performance", "seconds"),
             ("time to responsive console", "performance", "seconds"),
             ("checkpoint file size", "binary_size", "bytes")])
        rows = [(1000, value, NAME, None, n, None) for n, value in enumerate(attempts, 1)]
        rows += [(1001, value, name, None, None, None) for name, value in passfail]
        for setid, value in ((1002, "1.8"), (1003, "0.9"), (1004, "1.2"),
                             (1005, str(256 * MIB))):
            rows += [(setid, value, f"cycle {n}", None, None, None) for n in cycles]
        self.expect_test_results(rows)


    def expect_restore_failed(self):
        self.expect_sets([("cycle 1: checkpoint", "1"), ("cycle 1: restore", "0")],
                         ckpt_s=[(1, "1.8")], ckpt_bytes=[(1, str(256 * MIB))])


class TestFlakyCycles(FlakeCase):
    async def test_a_cycle_that_passes_when_re_run_is_flaky_and_warns(self):
        self.setup(cycles=2)
        self.probe_and_prepare()
        self.cycle(1, verify_failed="workload-alive")
        self.cycle(1, prepare=True)
        self.cycle(1, prepare=True)
        self.cycle(2)
        self.expect_commands(*self.cmds)
        self.expect_outcome(result=WARNINGS)
        self.expect_results(["0", "1", "1"], passed(1, "workload-alive") + passed(2), (1, 2))
        self.expect_property("vkckpt_flaky", [{"test": NAME, "verdict": "flaky (1/3 failed)"}])
        await self.run_step()
        summary = self.summary()["step"]
        self.assertTrue(summary.startswith("1/2 cycles ok · "), summary)
        self.assertTrue(summary.endswith(" · cycle: workload-alive: flaky (1/3 failed)"),
                        summary)
        self.assertIn("flaky (1/3 failed)", self.report())

    async def test_a_cycle_that_fails_every_attempt_is_deterministic(self):
        self.setup(cycles=1)
        self.probe_and_prepare()
        for prepare in (False, True, True):
            self.cycle(1, verify_failed="workload-alive", prepare=prepare)
        self.expect_commands(*self.cmds)
        self.expect_outcome(result=FAILURE)
        self.expect_results(["0", "0", "0"], passed(1, "workload-alive"), (1,))
        await self.run_step()
        self.assertEqual(self.summary()["step"],
                         BROKE.format(total=1) + " · deterministic (3/3 failed)")
        self.assertEqual(self.get_nth_step(0).getProperty("vkckpt_flaky"),
                         [{"test": NAME, "verdict": "deterministic (3/3 failed)"}])

    async def test_a_panic_while_re_running_ends_the_step_with_the_panic(self):
        self.setup(cycles=1, retries=1)
        self.probe_and_prepare()
        self.cycle(1, verify_failed="workload-alive")
        self.agent("cycle 1", ["verify", "--prepare"], result("ok", "workload started"))
        self.checkpoint(1, checkpoint_ok(1, 1.8, 256 * MIB))
        self.restore(1, result("failure", "panic: vm_fault: fault on nofault entry · ddb "
                               "trace captured", "kernel", backtrace=["vm_fault", "trap"],
                               panic="vm_fault: fault on nofault entry"), rc=1)
        self.expect_commands(*self.cmds)
        self.expect_outcome(result=FAILURE)
        self.expect_test_result_sets(
            [("vkernel checkpoint cycle", "pass_fail", "boolean"),
             ("checkpoint time", "performance", "seconds"),
             ("restore time", "performance", "seconds"),
             ("time to responsive console", "performance", "seconds"),
             ("checkpoint file size", "binary_size", "bytes")])
        self.expect_test_results(
            [(1000, v, n, None, None, None) for n, v in passed(1, "workload-alive")]
            + [(s, v, "cycle 1", None, None, None) for s, v in
               ((1001, "1.8"), (1002, "0.9"), (1003, "1.2"), (1004, str(256 * MIB)))])
        self.expect_log_file("backtrace", "vm_fault\ntrap\n")
        await self.run_step()
        self.assertEqual(self.summary()["step"],
                         "kernel: cycle 1/1 (restore): panic: vm_fault: fault on nofault entry "
                         "· ddb trace captured (re-running cycle: workload-alive after it "
                         "failed)")

    async def test_a_panic_is_never_re_run(self):
        self.setup(cycles=1)
        self.probe_and_prepare()
        self.checkpoint(1, checkpoint_ok(1, 1.8, 256 * MIB))
        self.restore(1, result("failure", "panic: vm_fault · ddb trace captured", "kernel",
                               panic="vm_fault", crash={"kind": "panic"}), rc=1)
        self.expect_commands(*self.cmds)        # nothing after the panic
        self.expect_outcome(result=FAILURE)
        self.expect_restore_failed()
        await self.run_step()
        self.assertEqual(self.summary()["step"],
                         "kernel: cycle 1/1 (restore): panic: vm_fault · ddb trace captured")

    async def test_a_failed_restore_is_not_re_run_and_says_why(self):
        self.setup(cycles=1)
        self.probe_and_prepare()
        self.checkpoint(1, checkpoint_ok(1, 1.8, 256 * MIB))
        self.restore(1, result("failure", "restore failed: thaw failed error 22", "kernel"),
                     rc=1)
        self.expect_commands(*self.cmds)
        self.expect_outcome(result=FAILURE)
        self.expect_restore_failed()
        await self.run_step()
        self.assertTrue(self.summary()["step"].endswith(
            "thaw failed error 22 · not retried: needs a fresh boot"), self.summary())

    def test_retries_is_validated_naming_the_parameter(self):
        with self.assertRaises(ConfigErrors) as caught:
            VkernelCheckpointCycle(retries=-1)
        self.assertIn("VkernelCheckpointCycle: retries must be an integer >= 0",
                      str(caught.exception))
