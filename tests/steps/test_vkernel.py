"""The agent-driven session steps with Buildbot's step-testing mixin: argv, exit-code mapping,
summaries with kind and fix, console log."""

from buildbot.process.results import EXCEPTION, FAILURE, SKIPPED, SUCCESS
from buildbot.test.reactor import TestReactorMixin
from buildbot.test.steps import ExpectShell, ExpectStat, TestBuildStepMixin
from twisted.trial import unittest

from buildbot_vkckpt.steps.agent import MARGIN
from buildbot_vkckpt.steps.vkernel import (BootVkernel, CleanupStaleSessions, MakeRootImage,
                                           RunInVkernel, ShutdownVkernel, VkernelPreflight)

from .agentout import BUILDDIR, agent_path, result

SESSION = f"{BUILDDIR}/vkckpt-sessions/build-7"


class AgentStepCase(TestReactorMixin, TestBuildStepMixin, unittest.TestCase):
    def setUp(self):
        self.setup_test_reactor()
        return self.setup_test_build_step()

    def setup(self, step):
        self.setup_step(step)
        self.build.setProperty("builddir", BUILDDIR, "Worker")
        self.build.setProperty("buildnumber", 7, "Build")

    def expect_agent(self, args, stdout, rc, timeout=None):
        if timeout is None:     # the agent's --timeout + MARGIN, else the step's 1200 s
            timeout = int(args[args.index("--timeout") + 1]) + MARGIN if "--timeout" in args \
                else 1200
        self.expect_commands(
            ExpectStat(file=agent_path(), log_environ=False).stat_file().exit(0),
            ExpectShell(workdir="wkdir", log_environ=False, timeout=timeout,
                        command=["python3", "-S", agent_path()] + args)
            .stdout(stdout).exit(rc))

    def summary(self):
        return self.get_nth_step(0).getResultSummary()["step"]


class TestPreflight(AgentStepCase):
    async def test_host_not_ready_is_exception_with_fix(self):
        self.setup(VkernelPreflight())
        self.expect_agent(
            ["preflight", "--session", SESSION, "--memory", "256m", "--image-size", "2g",
             "--workdir", BUILDDIR],
            result("infrastructure", "host not ready: vm.vkernel_enable is 0",
                   kind="infrastructure", fix="sysctl vm.vkernel_enable=1"), 4)
        self.expect_outcome(result=EXCEPTION)
        await self.run_step()
        self.assertEqual(self.summary(), "infrastructure: host not ready: vm.vkernel_enable is 0 "
                                         "(fix: sysctl vm.vkernel_enable=1)")

    async def test_the_first_red_step_records_what_broke_as_fields(self):
        self.setup(VkernelPreflight())
        self.expect_agent(
            ["preflight", "--session", SESSION, "--memory", "256m", "--image-size", "2g",
             "--workdir", BUILDDIR],
            result("infrastructure", "host not ready: vm.vkernel_enable is 0",
                   kind="infrastructure", fix="sysctl vm.vkernel_enable=1"), 4)
        self.expect_outcome(result=EXCEPTION)
        self.expect_property("vkckpt_outcome", {
            "step": "preflight", "kind": "infrastructure",
            "cause": "host not ready: vm.vkernel_enable is 0",
            "fix": "sysctl vm.vkernel_enable=1"})
        await self.run_step()

    async def test_an_earlier_red_step_keeps_its_outcome(self):
        self.setup(VkernelPreflight())
        self.build.setProperty("vkckpt_outcome", {"step": "buildworld"}, "buildworld")
        self.expect_agent(
            ["preflight", "--session", SESSION, "--memory", "256m", "--image-size", "2g",
             "--workdir", BUILDDIR],
            result("infrastructure", "host not ready", kind="infrastructure"), 4)
        self.expect_outcome(result=EXCEPTION)
        self.expect_property("vkckpt_outcome", {"step": "buildworld"})
        await self.run_step()

    async def test_the_host_kernel_release_becomes_a_property(self):
        self.setup(VkernelPreflight())
        self.expect_agent(
            ["preflight", "--session", SESSION, "--memory", "256m", "--image-size", "2g",
             "--workdir", BUILDDIR],
            result("ok", "host ready for a vkernel session", host_kernel="5.9-DEVELOPMENT"), 0)
        self.expect_outcome(result=SUCCESS)
        self.expect_property("vkckpt_host_kernel", "5.9-DEVELOPMENT")
        await self.run_step()

    def test_too_little_memory_is_config_error(self):
        from buildbot.config.errors import ConfigErrors
        with self.assertRaises(ConfigErrors) as ctx:
            VkernelPreflight(memory="32m")
        self.assertIn("memory", str(ctx.exception))


class TestRootImage(AgentStepCase):
    IMAGE_ARGS = ["image", "--session", SESSION, "--src", f"{BUILDDIR}/wkdir", "--objdir",
                  "/usr/obj", "--kernconf", "VKERNEL64", "--image", f"{BUILDDIR}/vkckpt-root.img",
                  "--size", "2g"]

    async def image_argv(self, step, extra, source="BuildPlan", **props):
        self.setup(step)
        for name, value in props.items():
            self.build.setProperty(name, value, source)
        self.expect_agent(self.IMAGE_ARGS + extra,
                          result("ok", "reused root image vkckpt-root.img (world 0123456789)",
                                 reused=True), 0)
        self.expect_outcome(result=SUCCESS)
        self.expect_property("vkckpt_image_reused", True)
        await self.run_step()

    async def test_the_suite_shipped_in_the_agent_by_default(self):
        await self.image_argv(MakeRootImage(), ["--with-suite"])

    async def test_a_suite_directory_on_the_worker(self):
        await self.image_argv(MakeRootImage(suite_dir="/opt/suite"), ["--suite", "/opt/suite"])

    async def test_without_suite(self):
        await self.image_argv(MakeRootImage(with_suite=False, network=True), ["--net"])

    async def test_a_reused_world_stamps_its_own_revision(self):
        # the plan's property (set when buildworld was skipped), not the checkout's HEAD
        await self.image_argv(MakeRootImage(), ["--with-suite", "--world-rev", "abc123"],
                              vkckpt_world_revision="abc123")

    async def test_a_world_revision_from_a_change_is_ignored(self):
        # a forged change carried it: the image must not pass for one of an old world
        await self.image_argv(MakeRootImage(), ["--with-suite"], source="Change",
                              vkckpt_world_revision="abc123")


class TestBoot(AgentStepCase):
    async def test_panic_is_failure_with_backtrace_log(self):
        self.setup(BootVkernel(objdir="/usr/obj", timeouts={"boot": 30}, silence=10))
        console = "Mounting root from ufs:vkd0s1a\npanic: vm_fault: fault on nofault entry\n"
        self.expect_agent(
            ["boot", "--session", SESSION,
             "--kernel", f"/usr/obj{BUILDDIR}/wkdir/sys/VKERNEL64/kernel.debug",
             "--image", f"{BUILDDIR}/vkckpt-root.img", "--memory", "256m", "--cpus", "2",
             "--timeout", "30", "--silence", "10"],
            console + result("failure", "panic: vm_fault: fault on nofault entry · ddb trace "
                             "captured", kind="kernel", backtrace=["vm_fault", "trap_pfault"]),
            1, timeout=30 + MARGIN)  # Buildbot's silence timeout is a backstop above the agent's
        self.expect_outcome(result=FAILURE)
        self.expect_property("vkckpt_session", SESSION)
        self.expect_log_file("backtrace", "vm_fault\ntrap_pfault\n")
        self.expect_log_file("console", console)
        await self.run_step()
        self.assertTrue(self.summary().startswith("kernel: panic: vm_fault"))


    async def test_the_flavour_shows_in_the_summary(self):
        self.setup(BootVkernel(objdir="/usr/obj", timeouts={"boot": 30}, silence=10))
        self.expect_agent(
            ["boot", "--session", SESSION,
             "--kernel", f"/usr/obj{BUILDDIR}/wkdir/sys/VKERNEL64/kernel.debug",
             "--image", f"{BUILDDIR}/vkckpt-root.img", "--memory", "256m", "--cpus", "2",
             "--timeout", "30", "--silence", "10"],
            result("ok", "booted in 4.2 s", flavour="gsoc2013"), 0, timeout=30 + MARGIN)
        self.expect_outcome(result=SUCCESS)
        self.expect_property("vkckpt_flavour", "gsoc2013")
        self.expect_property("vkckpt_vkernel_memory", "256m")
        self.expect_property("vkckpt_vkernel_cpus", "2")
        await self.run_step()
        self.assertEqual(self.summary(), "booted in 4.2 s (gsoc2013)")


class TestCleanupStale(AgentStepCase):
    async def test_every_session_of_the_host_live_ones_stopped(self):
        self.setup(CleanupStaleSessions())
        self.expect_agent(
            ["cleanup", "--session", SESSION, "--stale", "--root",
             f"{BUILDDIR}/vkckpt-sessions", "--live", "stop"],
            result("ok", "stopped 1 live session(s) and released 4 stale resource(s) from "
                         "1 session(s)", live_sessions=["/w/other/vkckpt-sessions/build-3"]),
            0)
        self.expect_outcome(result=SUCCESS)
        await self.run_step()
        self.assertTrue(self.summary().startswith("stopped 1 live session(s)"))

    async def test_refuse_is_an_exception_naming_the_session(self):
        self.setup(CleanupStaleSessions(live="refuse"))
        self.expect_agent(
            ["cleanup", "--session", SESSION, "--stale", "--root",
             f"{BUILDDIR}/vkckpt-sessions", "--live", "refuse"],
            result("infrastructure", "1 live session(s) on this host: /s/build-3",
                   kind="infrastructure", fix="stop them"), 4)
        self.expect_outcome(result=EXCEPTION)
        await self.run_step()
        self.assertIn("/s/build-3", self.summary())

    def test_live_must_be_stop_or_refuse(self):
        from buildbot.config.errors import ConfigErrors
        with self.assertRaises(ConfigErrors) as ctx:
            CleanupStaleSessions(live="ignore")
        self.assertIn("live must be 'stop' or 'refuse'", str(ctx.exception))


class TestRunInVkernel(AgentStepCase):
    async def test_guest_exit_status_fails_the_step(self):
        self.setup(RunInVkernel(command="uname -a", timeouts={"command": 30}))
        self.expect_agent(["exec", "--session", SESSION, "--timeout", "30", "--", "uname -a"],
                          "uname: bad\n" + result("failure", "guest command exited 3",
                                                  kind="kernel"), 1)
        self.expect_outcome(result=FAILURE)
        await self.run_step()
        self.assertEqual(self.summary(), "kernel: guest command exited 3")

    async def test_unsupported_is_skipped(self):
        self.setup(RunInVkernel(command=["ls", "-l", "$(reboot)"]))
        self.expect_agent(["exec", "--session", SESSION, "--timeout", "600", "--",
                           "ls", "-l", "$(reboot)"],
                          result("unsupported", "not here", kind="unsupported"), 3)
        self.expect_outcome(result=SKIPPED)
        await self.run_step()

    async def test_agent_without_result_names_the_interpreter(self):
        self.setup(RunInVkernel(command="true", python="python3.11"))
        self.expect_commands(
            ExpectStat(file=agent_path(), log_environ=False).stat_file().exit(0),
            ExpectShell(workdir="wkdir", log_environ=False, timeout=600 + MARGIN,
                        command=["python3.11", "-S", agent_path(), "exec", "--session", SESSION,
                                 "--timeout", "600", "--", "true"])
            .stderr("python3.11: not found\n").exit(127))
        self.expect_outcome(result=EXCEPTION)
        await self.run_step()
        self.assertIn("python3.11", self.summary())


class TestShutdown(AgentStepCase):
    async def test_always_runs_and_only_warns(self):
        step = ShutdownVkernel()
        self.assertTrue(step.alwaysRun)
        self.assertFalse(step.flunkOnFailure)
        self.setup(step)
        self.expect_agent(["shutdown", "--session", SESSION],
                          result("ok", "vkernel halted cleanly · released 2 resource(s)"), 0)
        self.expect_outcome(result=SUCCESS)
        await self.run_step()
        self.assertEqual(self.summary(), "vkernel halted cleanly · released 2 resource(s)")


class TestCollectArtifacts(AgentStepCase):
    """CollectArtifacts fetches through the transport into artifacts/ under master.basedir."""

    async def test_uploads_under_the_master_basedir(self):
        import os
        import tempfile
        from buildbot.process import remotetransfer
        from buildbot.test.steps import ExpectRemoteRef, ExpectUploadFile

        from buildbot_vkckpt.steps.vkernel import CollectArtifacts
        basedir = tempfile.mkdtemp(prefix="vkckpt-test-master-")
        self.addCleanup(__import__("shutil").rmtree, basedir, True)
        self.setup(CollectArtifacts())
        self.master.basedir = basedir
        collect = f"{SESSION}/collect"
        self.expect_commands(
            ExpectStat(file=agent_path(), log_environ=False).stat_file().exit(0),
            ExpectShell(workdir="wkdir", log_environ=False, timeout=1200,
                        command=["python3", "-S", agent_path(), "collect", "--session", SESSION,
                                 "--dest", collect])
            .stdout(result("ok", "collected 1 file")).exit(0),
            ExpectStat(file=f"{collect}/console.log", log_environ=False).stat_file().exit(0),
            ExpectUploadFile(workersrc=f"{collect}/console.log", workdir="wkdir",
                             blocksize=64 * 1024, maxsize=512 * 1024 * 1024, keepstamp=False,
                             writer=ExpectRemoteRef(remotetransfer.FileWriter))
            .upload_string("login: root\n").exit(0),
            ExpectStat(file=f"{collect}/events.jsonl", log_environ=False).exit(1),
            ExpectStat(file=f"{collect}/ledger.jsonl", log_environ=False).exit(1),
            ExpectStat(file=f"{collect}/results.tar", log_environ=False).exit(1))
        self.expect_outcome(result=SUCCESS)
        dest = os.path.join(basedir, "artifacts", self.build.builder.name, "7")
        self.expect_property("vkckpt_artifacts", dest)
        self.expect_log_file("console.log", "login: root\n")
        await self.run_step()
        with open(os.path.join(dest, "console.log")) as fp:
            self.assertEqual(fp.read(), "login: root\n")
        self.assertTrue(self.summary().endswith("· uploaded console.log"))
