"""AgentStep with a transport: argv and paths under the transport's workdir, output into stdio
and the observer, and transport errors as outcomes (host lost, unreachable, key rejected),
redacted."""
import json

from buildbot.process.results import EXCEPTION, FAILURE, SUCCESS
from buildbot.test.reactor import TestReactorMixin
from buildbot.test.steps import TestBuildStepMixin
from twisted.trial import unittest

from buildbot_vkckpt.steps.vkernel import BootVkernel, ShutdownVkernel
from tests.steps.agentout import FakeSSH
from buildbot_vkckpt.transports import (HostKeyRejected, HostLost, HostUnreachable,
                                        TransportTimeout)

WORKDIR = "/var/tmp/vkckpt"
AGENT = "/root/.vkckpt/vkckpt-agent-0123456789ab.pyz"
SECRET = "hunter2-passphrase"


class FakeTransport(FakeSSH):
    """Duck-types SSHTransport: records argv, emits ``lines``, then returns rc or raises."""
    workdir = WORKDIR
    python = "/usr/local/bin/python3.11"

    def __init__(self, lines=(), rc=0, error=None):
        self.lines, self.rc, self.error = lines, rc, error
        self.argv = None
        self.interrupted = False

    def describe(self):
        return "ssh root@dfly-test:22"

    async def ensure_file(self, step, local, sha, data=None):
        return AGENT

    async def run(self, step, argv, on_stdout, on_stderr, timeout=None, max_time=None):
        self.argv = argv
        for line in self.lines:
            on_stdout(line + "\n")
        if self.error:
            raise self.error
        return self.rc

    def interrupt(self, step):
        self.interrupted = True


def result(status, summary, kind=None):
    return "@@vkckpt " + json.dumps({"ev": "result", "status": status, "kind": kind,
                                     "summary": summary, "details": {}})


class TransportStepCase(TestReactorMixin, TestBuildStepMixin, unittest.TestCase):
    def setUp(self):
        self.setup_test_reactor()
        return self.setup_test_build_step()

    def setup(self, step):
        self.setup_step(step)
        self.build.setProperty("builddir", "/w/vk", "Worker")
        self.build.setProperty("buildnumber", 7, "Build")
        self.build.properties.useSecret(SECRET, "ssh_passphrase")

    def step(self):
        return self.get_nth_step(0)

    def summary(self):
        return self.step().getResultSummary()["step"]


class TestAgentStepOverTransport(TransportStepCase):
    async def test_runs_under_the_transport_workdir(self):
        transport = FakeTransport([result("ok", "booted in 0.4 s")], rc=0)
        self.setup(BootVkernel(objdir="/usr/obj", transport=transport))
        self.expect_outcome(result=SUCCESS)
        await self.run_step()
        builder_dir = f"{WORKDIR}/{self.step().build.builder.config.workerbuilddir}"
        argv = transport.argv
        self.assertEqual(argv[:6], [FakeTransport.python, "-S", AGENT, "boot", "--session",
                                    f"{builder_dir}/vkckpt-sessions/build-7"])
        self.assertIn(f"{builder_dir}/vkckpt-root.img", argv)
        # the kernel comes from the worker's objdir and source tree (shared path)
        self.assertIn("/usr/obj/w/vk/wkdir/sys/VKERNEL64/kernel.debug", argv)
        self.assertEqual(self.summary(), "booted in 0.4 s")

    async def test_host_lost_is_failure_with_console_tail(self):
        transport = FakeTransport(["vkd0: 2048MB", "Mounting root from ufs:/dev/vkd0s1a"],
                                  error=HostLost(f"connection reset ({SECRET})"))
        self.setup(BootVkernel(transport=transport))
        self.expect_outcome(result=FAILURE)
        self.expect_log_file("last-console-lines",
                             "vkd0: 2048MB\nMounting root from ufs:/dev/vkd0s1a\n")
        await self.run_step()
        self.assertEqual(self.summary(), "host lost: connection reset (<ssh_passphrase>); last "
                                         "console lines: vkd0: 2048MB | Mounting root from "
                                         "ufs:/dev/vkd0s1a")

    async def test_unreachable_before_the_vkernel_started_is_infrastructure(self):
        transport = FakeTransport(error=HostUnreachable("cannot connect to root@h:22: "
                                                        "Connection refused"))
        self.setup(ShutdownVkernel(transport=transport))
        self.expect_outcome(result=EXCEPTION)
        await self.run_step()
        self.assertEqual(self.summary(), "infrastructure: host unreachable before the vkernel "
                                         "started: cannot connect to root@h:22: Connection "
                                         "refused (fix: bring the test host up and make it "
                                         "reachable over SSH)")
        self.assertTrue(self.step().alwaysRun)
        self.assertFalse(self.step().flunkOnFailure)

    async def test_always_run_step_after_boot_reports_the_host_lost(self):
        transport = FakeTransport(error=HostUnreachable("cannot connect to root@h:22: "
                                                        "Connection refused"))
        self.setup(ShutdownVkernel(transport=transport))
        self.build.setProperty("vkckpt_vkernel_started", True, "boot")
        self.expect_outcome(result=FAILURE)
        await self.run_step()
        self.assertEqual(self.summary(), "host lost: cannot connect to root@h:22: "
                                         "Connection refused")

    async def test_a_change_property_does_not_make_the_vkernel_started(self):
        transport = FakeTransport(error=HostLost("connection reset"))
        self.setup(ShutdownVkernel(transport=transport))
        self.build.setProperty("vkckpt_vkernel_started", True, "Change")
        self.expect_outcome(result=EXCEPTION)
        await self.run_step()

    async def test_rejected_host_key_is_infrastructure_exception(self):
        transport = FakeTransport(error=HostKeyRejected("host key for h rejected; pin it with "
                                                        "host_key='ssh-ed25519 AAAA'"))
        self.setup(BootVkernel(transport=transport))
        self.expect_outcome(result=EXCEPTION)
        await self.run_step()
        self.assertTrue(self.summary().startswith("infrastructure: host key for h rejected"))
        self.assertIn("pin it with host_key=", self.summary())

    async def test_silence_is_a_timeout_failure(self):
        transport = FakeTransport(["vkd0: 2048MB"],
                                  error=TransportTimeout("no output for timeout=80 s; stopped"))
        self.setup(BootVkernel(transport=transport, timeouts={"boot": 20}))
        self.expect_outcome(result=FAILURE)
        await self.run_step()
        self.assertEqual(self.summary(), "timeout in boot: no output for timeout=80 s; "
                                         "stopped; last console lines: vkd0: 2048MB")


def test_factory_hands_the_transport_to_the_vkernel_steps_only():
    from buildbot.plugins import util
    from buildbot_vkckpt.factory import VkernelCheckpointFactory
    from buildbot_vkckpt.transports import SSHTransport

    transport = SSHTransport("dfly-test", key=util.Secret("k"), host_key=None,
                             known_hosts="/nonexistent/known_hosts")
    factory = VkernelCheckpointFactory("file:///src", transport=transport)
    given = {f.kwargs.get("name") or f.step_class.name: f.kwargs.get("transport")
             for f in factory.steps}
    vkernel = ["cleanup-stale", "preflight", "root-image", "boot", "guest-command",
               "shutdown", "collect"]
    assert all(given[name] is transport for name in vkernel), given
    assert all(given[name] is None for name in ("checkout", "buildworld", "buildkernel")), given
