"""BuildWorld / BuildKernel with Buildbot's step-testing mixin (fake worker, real step code).

Every test runs twice: with ``log_mode="full"`` (stock streaming: the worker runs make and
streams every byte) and with ``log_mode="digest"`` (the worker runs make under the digest
runner, which streams what BuildLogDigest keeps — computed here by the real digest from the same
output — and the step uploads the gzipped whole output). The expected outcomes, summaries,
properties, logs and test results are the same in both modes.
"""
import gzip
import os
import shutil
import tempfile

from buildbot.process import remotetransfer
from buildbot.process.results import EXCEPTION, FAILURE, SUCCESS, WARNINGS
from buildbot.test.reactor import TestReactorMixin
from buildbot.test.steps import (ExpectDownloadFile, ExpectRemoteRef, ExpectShell, ExpectStat,
                                 ExpectUploadFile, TestBuildStepMixin)
from twisted.trial import unittest

from buildbot_vkckpt.makedigest import PREFIX
from buildbot_vkckpt.monitor.buildlogdigest import BuildLogDigest
from buildbot_vkckpt.steps.build import (FULL_LOG_MAX, TRANSFER_BLOCK, BuildKernel, BuildWorld,
                                         runner_zipapp)

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


def digested(text):
    digest = BuildLogDigest(clock=lambda: 0.0)
    return (digest.feed(text.encode()) + digest.close()).decode()


class MakeStepCase(TestReactorMixin, TestBuildStepMixin, unittest.TestCase):
    """``make_step`` and ``expect_make`` in the class's log mode; subclasses name the mode."""

    log_mode = "full"

    def setUp(self):
        self.setup_test_reactor()
        return self.setup_test_build_step()

    def make_step(self, cls, **kwargs):
        kwargs.setdefault("log_mode", self.log_mode)
        if kwargs["log_mode"] == "digest":
            # a directory of this test's own (the default, artifacts/ under the master's base
            # directory, is checked on a real master in tests/integration/test_build_logmode)
            self.full_log_dir = tempfile.mkdtemp(prefix="vkckpt-test-build-")
            self.addCleanup(shutil.rmtree, self.full_log_dir, True)
            kwargs.setdefault("full_log_dest", os.path.join(self.full_log_dir, "world.log.gz"))
        self.setup_step(cls(**kwargs))

    def expect_make(self, command, stdout="", stderr="", rc=0, env=None, name="buildworld",
                    runner_starts=True):
        """What the worker is asked to do to run ``command`` (make's argv) whose output is
        ``stdout`` then ``stderr`` and whose exit status is ``rc``."""
        env = env or {}
        if self.log_mode == "full":
            shell = ExpectShell(workdir="wkdir", command=command, env=env, log_environ=False)
            if stdout:
                shell.stdout(stdout)
            if stderr:
                shell.stderr(stderr)
            self.expect_commands(shell.exit(rc))
            return
        _, sha = runner_zipapp()
        runner = f"./vkckpt-makelog-{sha[:12]}.pyz"
        full_log = f"./{name}.log.gz"
        shell = ExpectShell(workdir="wkdir", env=env, log_environ=False, command=[
            "python3", "-S", runner, "--full-log", full_log, "--tail", "50", "--interval", "10",
            "--"] + command)
        if runner_starts:
            shell.stderr(f"{PREFIX} running {' '.join(command)}\n")
            out = digested(stdout + stderr)
            if out:
                shell.stdout(out)
        else:
            shell.stderr(stderr)
        expectations = [
            ExpectStat(file=runner, log_environ=False).exit(1),
            ExpectDownloadFile(workerdest=runner, workdir="wkdir", blocksize=65536, maxsize=None,
                               mode=0o644, reader=ExpectRemoteRef(remotetransfer.FileReader))
            .exit(0),
            shell.exit(rc)]
        if runner_starts and rc != 127:
            self.full_log_bytes = gzip.compress((stdout + stderr).encode())
            expectations.append(
                ExpectUploadFile(workersrc=full_log, workdir="wkdir", blocksize=TRANSFER_BLOCK,
                                 maxsize=FULL_LOG_MAX, keepstamp=False,
                                 writer=ExpectRemoteRef(remotetransfer.FileWriter))
                .upload_string(self.full_log_bytes).exit(0))
        self.expect_commands(*expectations)

    def check_full_log(self, step_name="buildworld", kind="world"):
        """In digest mode: the whole output reached the master, and the step points at it."""
        if self.log_mode != "digest":
            return
        step = self.get_nth_step(0)
        path = step.getProperty(f"vkckpt_{kind}_full_log")
        self.assertEqual(path, os.path.join(self.full_log_dir, "world.log.gz"))
        with open(path, "rb") as f:
            self.assertEqual(f.read(), self.full_log_bytes)
        self.assertIn(path, "".join(step.getLog("full-log").stdout))
        os.unlink(path)


class TestBuildWorld(MakeStepCase):

    async def test_command_is_argv_and_objdir_in_env(self):
        self.make_step(BuildWorld, jobs=4, objdir="/build/obj", incremental=True,
                       make_vars={"NO_MODULES": True, "WORLD_CCVER": "gcc80"})
        self.expect_make(["make", "-j", "4", "-DNO_CLEAN", "buildworld",
                          "-DNO_MODULES", "WORLD_CCVER=gcc80"],
                         env={"MAKEOBJDIRPREFIX": "/build/obj"}, stdout=WORLD_OK)
        self.expect_outcome(result=SUCCESS)
        self.expect_property("vkckpt_world_state", "succeeded")
        self.expect_property("vkckpt_world_warnings", 3)
        self.expect_test_result_sets([
            ("buildworld compiler warnings", "code_issue", "message"),
            ("buildworld stage durations", "performance", "s"),
        ])
        self.expect_test_results(WORLD_OK_RESULTS)
        await self.run_step()
        self.check_full_log()
        # the set holds the distinct warnings: the summary says how many of the total
        self.assertTrue(self.get_nth_step(0).getResultSummary()["step"].endswith(
            f" · 3 warnings ({len([r for r in WORLD_OK_RESULTS if r[0] == 1000])} distinct)"))

    async def test_quick_uses_quickworld(self):
        self.make_step(BuildWorld, quick=True)
        self.expect_make(["make", "quickworld"])
        self.expect_outcome(result=SUCCESS)
        await self.run_step()

    async def test_failure_names_stage_and_error(self):
        self.make_step(BuildWorld, jobs=2)
        self.expect_make(["make", "-j", "2", "buildworld"], stdout=WORLD_FAIL_4B, rc=2)
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
        self.check_full_log()

    async def test_warnings_over_limit_give_warnings(self):
        self.make_step(BuildWorld, max_warnings=1)
        self.expect_make(["make", "buildworld"], stdout=WORLD_OK)
        self.expect_outcome(result=WARNINGS)
        self.expect_test_result_sets([
            ("buildworld compiler warnings", "code_issue", "message"),
            ("buildworld stage durations", "performance", "s"),
        ])
        self.expect_test_results(WORLD_OK_RESULTS)
        await self.run_step()

    async def test_make_missing_is_infrastructure(self):
        self.make_step(BuildWorld, make="bmake")
        if self.log_mode == "full":
            self.expect_make(["bmake", "buildworld"], stderr="sh: bmake: not found\n", rc=127)
        else:
            self.expect_make(["bmake", "buildworld"], rc=127, runner_starts=False,
                             stderr=f"{PREFIX} bmake: not found\n")
        self.expect_outcome(result=EXCEPTION)
        await self.run_step()
        self.assertIn("infrastructure", self.get_nth_step(0).getResultSummary()["step"])

    def test_bad_jobs_is_config_error(self):
        from buildbot.config.errors import ConfigErrors
        with self.assertRaises(ConfigErrors) as ctx:
            BuildWorld(jobs=0)
        self.assertIn("jobs", str(ctx.exception))


class TestBuildKernel(MakeStepCase):
    async def test_kernconf_argument(self):
        self.make_step(BuildKernel, jobs=2, kernconf="VKERNEL64")
        self.expect_make(
            ["make", "-j", "2", "buildkernel", "KERNCONF=VKERNEL64"],
            stdout=">>> Kernel build for VKERNEL64 started on Fri Nov 27 12:00:00 UTC 2026\n"
                   "===> VKERNEL64\nlinking kernel.debug\n"
                   ">>> Kernel build for VKERNEL64 completed on Fri Nov 27 12:01:00 UTC 2026\n",
            name="buildkernel")
        self.expect_outcome(result=SUCCESS)
        self.expect_property("vkckpt_kernel_state", "succeeded")
        self.expect_test_result_sets([("buildkernel stage durations", "performance", "s")])
        self.expect_test_results([(1000, "0.000", "stage kernel VKERNEL64", None, None, None)])
        await self.run_step()
        self.check_full_log("buildkernel", "kernel")

    async def test_precondition_message_in_summary(self):
        self.make_step(BuildKernel)
        self.expect_make(["make", "buildkernel", "KERNCONF=VKERNEL64"], stdout=KERNEL_NO_WORLD,
                         rc=1, name="buildkernel")
        self.expect_outcome(result=FAILURE)
        await self.run_step()
        self.assertIn("buildworld", self.get_nth_step(0).getResultSummary()["step"])

    def test_empty_kernconf_is_config_error(self):
        from buildbot.config.errors import ConfigErrors
        with self.assertRaises(ConfigErrors) as ctx:
            BuildKernel(kernconf="")
        self.assertIn("kernconf", str(ctx.exception))


# --- the same tests in digest mode, and what only digest mode does ------------------------------

def big_world(lines=5000):
    body = "".join(f"cc -O -pipe -c /usr/src/lib/libc/gen/f{i}.c\n" for i in range(lines))
    return (banner("starting buildworld target") + banner("stage 4b: building libraries")
            + body + "/usr/src/lib/libc/gen/glob.c:120:9: warning: unused variable 'x' "
            "[-Wunused-variable]\n" + body + banner("buildworld target complete"))


class TestBuildWorldDigest(TestBuildWorld):
    log_mode = "digest"

    def test_digest_is_the_default(self):
        self.assertEqual(BuildWorld().log_mode, "digest")
        self.assertEqual(BuildKernel().log_mode, "digest")

    async def test_live_log_is_the_digest_and_the_full_log_is_shipped(self):
        text = big_world()
        self.make_step(BuildWorld, full_log_url="https://ci.example.org/logs/w.log.gz")
        self.expect_make(["make", "buildworld"], stdout=text)
        self.expect_outcome(result=SUCCESS, state_string="buildworld done (12/12 stages) · "
                                                         "1 warning")
        self.expect_property("vkckpt_world_warnings", 1)
        self.expect_test_result_sets([
            ("buildworld compiler warnings", "code_issue", "message"),
            ("buildworld stage durations", "performance", "s"),
        ])
        self.expect_test_results(
            [(1000, "unused variable 'x'", "-Wunused-variable", "/usr/src/lib/libc/gen/glob.c",
              120, None)]
            + [(1001, "0.000", f"stage {name}", None, None, None) for name in ("init", "4b",
                                                                                "done")])
        await self.run_step()
        step = self.get_nth_step(0)
        live = "".join(step.getLog("stdio").stdout)
        self.assertLess(len(live), len(text) / 20)
        self.assertIn(">>> stage 4b: building libraries", live)
        self.assertIn("glob.c:120:9: warning", live)
        self.assertIn("more lines in the full log", live)
        self.assertTrue(live.endswith(text[-2000:]))          # the last lines, as they were
        urls = await self.master.data.get(("steps", step.stepid))
        self.assertEqual([u["url"] for u in urls["urls"]],
                         ["https://ci.example.org/logs/w.log.gz"])
        self.assertIn("https://ci.example.org/logs/w.log.gz",
                      "".join(step.getLog("full-log").stdout))
        self.check_full_log()

    async def test_runner_that_does_not_start_is_infrastructure(self):
        self.make_step(BuildWorld)
        self.expect_make(["make", "buildworld"], rc=1, runner_starts=False,
                         stderr="OSError: [Errno 2] No such file or directory: 'python3'\n")
        self.expect_outcome(result=EXCEPTION)
        await self.run_step()
        summary = self.get_nth_step(0).getResultSummary()["step"]
        self.assertIn("infrastructure: the log runner did not start with 'python3'", summary)
        self.assertIn("log_mode='full'", summary)

    async def test_runner_already_on_the_worker_is_not_sent_again(self):
        _, sha = runner_zipapp()
        runner = f"./vkckpt-makelog-{sha[:12]}.pyz"
        self.make_step(BuildWorld, tail_lines=20, live_interval=2.5, python="python3.11")
        self.expect_commands(
            ExpectStat(file=runner, log_environ=False).stat_file().exit(0),
            ExpectShell(workdir="wkdir", log_environ=False, command=[
                "python3.11", "-S", runner, "--full-log", "./buildworld.log.gz", "--tail", "20",
                "--interval", "2.5", "--", "make", "buildworld"])
            .stderr(f"{PREFIX} running make buildworld\n").exit(0),
            ExpectUploadFile(workersrc="./buildworld.log.gz", workdir="wkdir",
                             blocksize=TRANSFER_BLOCK, maxsize=FULL_LOG_MAX, keepstamp=False,
                             writer=ExpectRemoteRef(remotetransfer.FileWriter)).exit(1))
        self.expect_outcome(result=SUCCESS)
        self.expect_no_property("vkckpt_world_full_log")
        await self.run_step()
        self.assertIn("could not be uploaded",
                      "".join(self.get_nth_step(0).getLog("full-log").stdout))

    def test_bad_log_mode_is_config_error(self):
        from buildbot.config.errors import ConfigErrors
        for kwargs in ({"log_mode": "quiet"}, {"tail_lines": 0}, {"live_interval": 0}):
            with self.assertRaises(ConfigErrors) as ctx:
                BuildWorld(**kwargs)
            self.assertIn(next(iter(kwargs)), str(ctx.exception))


class TestBuildKernelDigest(TestBuildKernel):
    log_mode = "digest"


class TestDigestStopped(MakeStepCase):
    log_mode = "digest"

    async def test_stopped_step_leaves_the_full_log_on_the_worker(self):
        from buildbot.process.results import CANCELLED
        _, sha = runner_zipapp()
        runner = f"./vkckpt-makelog-{sha[:12]}.pyz"
        self.make_step(BuildWorld)
        shell = ExpectShell(workdir="wkdir", log_environ=False, command=[
            "python3", "-S", runner, "--full-log", "./buildworld.log.gz", "--tail", "50",
            "--interval", "10", "--", "make", "buildworld"])
        shell.interrupted = True
        self.expect_commands(
            ExpectStat(file=runner, log_environ=False).stat_file().exit(0),
            shell.stderr(f"{PREFIX} running make buildworld\n")
            .stdout(digested(banner("starting buildworld target"))).exit(137))
        self.interrupt_nth_remote_command(1)
        self.expect_outcome(result=CANCELLED)
        await self.run_step()
        text = "".join(self.get_nth_step(0).getLog("full-log").stdout)
        self.assertIn("stopped", text)
        self.assertIn("./buildworld.log.gz", text)
