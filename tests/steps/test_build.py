"""BuildWorld / BuildKernel with Buildbot's step-testing mixin (fake worker, real step code)."""
from buildbot.process.results import EXCEPTION, FAILURE, SUCCESS, WARNINGS
from buildbot.test.reactor import TestReactorMixin
from buildbot.test.steps import ExpectShell, TestBuildStepMixin
from twisted.trial import unittest

from buildbot_vkckpt.steps.build import BuildKernel, BuildWorld

DASH = "-" * 62


def banner(text):
    return f"{DASH}\n>>> {text}\n{DASH}\n"


WORLD_OK = (
    banner("starting buildworld target")
    + banner("Rebuilding the temporary build tree")
    + banner("stage 1: bootstrap tools")
    + "===> usr.bin/make\ncc -O -pipe -c make.c\n"
    + banner("stage 4b: building libraries")
    + "===> lib/libc\n"
    + "/usr/src/lib/libc/gen/glob.c:120:9: warning: unused variable 'x' [-Wunused-variable]\n"
    + "/usr/src/lib/libc/gen/glob.c:120:9: warning: unused variable 'x' [-Wunused-variable]\n"
    + "/usr/src/bin/ls/ls.c:77:3: warning: implicit fallthrough [-Wimplicit-fallthrough]\n"
    + banner("stage 4d: building everything")
    + banner("buildworld target complete")
)

# warnings are deduplicated (glob.c:120 appears twice); stage durations come from the clock
WORLD_OK_RESULTS = [
    (1000, "unused variable 'x'", "-Wunused-variable", "/usr/src/lib/libc/gen/glob.c", 120, None),
    (1000, "implicit fallthrough", "-Wimplicit-fallthrough", "/usr/src/bin/ls/ls.c", 77, None),
] + [(1001, "0.000", f"stage {name}", None, None, None)
     for name in ("init", "tmp", "1", "4b", "4d", "done")]

WORLD_FAIL_4B = (
    banner("starting buildworld target")
    + banner("stage 4b: building libraries")
    + "===> lib/libc\n"
    + "/usr/src/lib/libc/gen/glob.c:88:5: error: expected ';' before 'return'\n"
    + "*** [glob.o] Error code 1\n\nmake: stopped in /usr/src/lib/libc\n"
    + "*** [_libraries] Error code 2\n\nmake: stopped in /usr/src\n"
)

KERNEL_NO_WORLD = (
    "You must buildworld before buildkernel.  If you wish\n"
    "to build a kernel using native tools, config it manually\n"
    "or use the nativekernel target if you are in a rush.\n"
    "*** Error code 1\n\nStop.\nmake: stopped in /usr/src\n"
)


class TestBuildWorld(TestReactorMixin, TestBuildStepMixin, unittest.TestCase):
    def setUp(self):
        self.setup_test_reactor()
        return self.setup_test_build_step()

    def test_command_is_argv_and_objdir_in_env(self):
        self.setup_step(BuildWorld(jobs=4, objdir="/build/obj", incremental=True,
                                   make_vars={"NO_MODULES": True, "WORLD_CCVER": "gcc80"}))
        self.expect_commands(
            ExpectShell(workdir="wkdir",
                        command=["make", "-j", "4", "-DNO_CLEAN", "buildworld",
                                 "-DNO_MODULES", "WORLD_CCVER=gcc80"],
                        env={"MAKEOBJDIRPREFIX": "/build/obj"}, log_environ=False)
            .stdout(WORLD_OK).exit(0))
        self.expect_outcome(result=SUCCESS)
        self.expect_property("vkckpt_world_state", "succeeded")
        self.expect_property("vkckpt_world_warnings", 3)
        self.expect_test_result_sets([
            ("buildworld compiler warnings", "code_issue", "message"),
            ("buildworld stage durations", "performance", "s"),
        ])
        self.expect_test_results(WORLD_OK_RESULTS)
        return self.run_step()

    def test_quick_uses_quickworld(self):
        self.setup_step(BuildWorld(quick=True))
        self.expect_commands(
            ExpectShell(workdir="wkdir", command=["make", "quickworld"], log_environ=False)
            .stdout("").exit(0))
        self.expect_outcome(result=SUCCESS)
        return self.run_step()

    async def test_failure_names_stage_and_error(self):
        self.setup_step(BuildWorld(jobs=2))
        self.expect_commands(
            ExpectShell(workdir="wkdir", command=["make", "-j", "2", "buildworld"],
                        log_environ=False)
            .stdout(WORLD_FAIL_4B).exit(2))
        self.expect_outcome(result=FAILURE)
        self.expect_property("vkckpt_world_state", "failed")
        self.expect_property("vkckpt_world_stage", "4b")
        self.expect_test_result_sets([("buildworld stage durations", "performance", "s")])
        self.expect_test_results([(1000, "0.000", "stage init", None, None, None),
                                  (1000, "0.000", "stage 4b", None, None, None)])
        await self.run_step()
        summary = self.get_nth_step(0).getResultSummary()["step"]
        self.assertIn("stage 4b", summary)
        self.assertIn("Error code", summary)
        errors = self.get_nth_step(0).getLog("errors")
        self.assertIn("glob.c", "".join(errors.stdout if hasattr(errors, "stdout") else ""))

    async def test_warnings_over_limit_give_warnings(self):
        self.setup_step(BuildWorld(max_warnings=1))
        self.expect_commands(
            ExpectShell(workdir="wkdir", command=["make", "buildworld"], log_environ=False)
            .stdout(WORLD_OK).exit(0))
        self.expect_outcome(result=WARNINGS)
        self.expect_test_result_sets([
            ("buildworld compiler warnings", "code_issue", "message"),
            ("buildworld stage durations", "performance", "s"),
        ])
        self.expect_test_results(WORLD_OK_RESULTS)
        await self.run_step()

    async def test_make_missing_is_infrastructure(self):
        self.setup_step(BuildWorld(make="bmake"))
        self.expect_commands(
            ExpectShell(workdir="wkdir", command=["bmake", "buildworld"], log_environ=False)
            .stderr("sh: bmake: not found\n").exit(127))
        self.expect_outcome(result=EXCEPTION)
        await self.run_step()
        self.assertIn("infrastructure", self.get_nth_step(0).getResultSummary()["step"])

    def test_bad_jobs_is_config_error(self):
        from buildbot.config.errors import ConfigErrors
        with self.assertRaises(ConfigErrors) as ctx:
            BuildWorld(jobs=0)
        self.assertIn("jobs", str(ctx.exception))


class TestBuildKernel(TestReactorMixin, TestBuildStepMixin, unittest.TestCase):
    def setUp(self):
        self.setup_test_reactor()
        return self.setup_test_build_step()

    def test_kernconf_argument(self):
        self.setup_step(BuildKernel(jobs=2, kernconf="VKERNEL64"))
        self.expect_commands(
            ExpectShell(workdir="wkdir",
                        command=["make", "-j", "2", "buildkernel", "KERNCONF=VKERNEL64"],
                        log_environ=False)
            .stdout(">>> Kernel build for VKERNEL64 started on Fri Nov 27 12:00:00 UTC 2026\n"
                    "===> VKERNEL64\nlinking kernel.debug\n"
                    ">>> Kernel build for VKERNEL64 completed on Fri Nov 27 12:01:00 UTC 2026\n")
            .exit(0))
        self.expect_outcome(result=SUCCESS)
        self.expect_property("vkckpt_kernel_state", "succeeded")
        self.expect_test_result_sets([("buildkernel stage durations", "performance", "s")])
        self.expect_test_results([(1000, "0.000", "stage kernel VKERNEL64", None, None, None)])
        return self.run_step()

    async def test_precondition_message_in_summary(self):
        self.setup_step(BuildKernel())
        self.expect_commands(
            ExpectShell(workdir="wkdir", command=["make", "buildkernel", "KERNCONF=VKERNEL64"],
                        log_environ=False)
            .stdout(KERNEL_NO_WORLD).exit(1))
        self.expect_outcome(result=FAILURE)
        await self.run_step()
        self.assertIn("buildworld", self.get_nth_step(0).getResultSummary()["step"])

    def test_empty_kernconf_is_config_error(self):
        from buildbot.config.errors import ConfigErrors
        with self.assertRaises(ConfigErrors) as ctx:
            BuildKernel(kernconf="")
        self.assertIn("kernconf", str(ctx.exception))
