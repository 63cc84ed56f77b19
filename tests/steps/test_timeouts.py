"""steps/timeouts.py: every step takes ``timeouts={phase: seconds}``, reads the phases it runs,
refuses the rest and the old keyword names at config time, and hands the seconds on as the
agent's ``--timeout`` (or Buildbot's silence timeout for make and the image)."""
import pytest
from buildbot.config.errors import capture_config_errors
from buildbot.process.properties import Property
from buildbot.process.results import EXCEPTION, SUCCESS
from buildbot.test.steps import ExpectShell

from buildbot_vkckpt.steps import timeouts as step_timeouts
from buildbot_vkckpt.steps.agent import MARGIN
from buildbot_vkckpt.steps.build import BuildKernel, BuildWorld
from buildbot_vkckpt.steps.cycle import VkernelCheckpointCycle
from buildbot_vkckpt.steps.suite import GuestCheckpointSuite
from buildbot_vkckpt.steps.vkernel import (BootVkernel, CleanupStaleSessions, CollectArtifacts,
                                           MakeRootImage, RunInVkernel, ShutdownVkernel,
                                           VkernelPreflight)

from .agentout import BUILDDIR, result
from .test_vkernel import SESSION, AgentStepCase

STEPS = {BuildWorld: ("world",), BuildKernel: ("kernel",), MakeRootImage: ("image",),
         BootVkernel: ("boot",), RunInVkernel: ("command",),
         GuestCheckpointSuite: ("suite_build", "suite"),
         VkernelCheckpointCycle: ("checkpoint", "restore"),
         VkernelPreflight: (), CleanupStaleSessions: (), ShutdownVkernel: (),
         CollectArtifacts: ()}


def make(cls, **kwargs):
    if cls is RunInVkernel:
        kwargs.setdefault("command", "true")
    return cls(**kwargs)


def errors_of(cls, **kwargs):
    """Every config error the step reports, as checkconfig collects them."""
    with capture_config_errors() as errors:
        make(cls, **kwargs)
    return errors.errors


def test_every_phase_belongs_to_exactly_one_step():
    owned = [phase for phases in STEPS.values() for phase in phases]
    assert sorted(owned) == sorted(step_timeouts.PHASES)
    for cls, phases in STEPS.items():
        assert cls.timeout_phases == phases


@pytest.mark.parametrize("cls", list(STEPS))
def test_each_step_takes_its_own_phases(cls):
    timeouts = {phase: 77 for phase in STEPS[cls]}
    assert errors_of(cls, timeouts=timeouts) == []
    assert make(cls, timeouts=timeouts).timeouts == timeouts


@pytest.mark.parametrize("cls", list(STEPS))
def test_a_phase_the_step_does_not_run_is_named(cls):
    other = next(p for p in step_timeouts.PHASES if p not in STEPS[cls])
    runs = (f"its phases: {', '.join(STEPS[cls])}" if STEPS[cls]
            else "it has no timed phase")
    assert errors_of(cls, timeouts={other: 10}) == [
        f"{cls.__name__}: timeouts has {other!r}, a phase this step does not run ({runs})"]


@pytest.mark.parametrize("cls", [BootVkernel, BuildWorld, VkernelCheckpointCycle])
def test_an_unknown_phase_lists_the_known_ones(cls):
    assert errors_of(cls, timeouts={"wrold": 10}) == [
        f"{cls.__name__}: timeouts has unknown phase 'wrold' (known: world, kernel, image, "
        f"boot, command, suite_build, suite, checkpoint, restore)"]


@pytest.mark.parametrize("seconds", [0, -5, 1.5, "300", True, None])
@pytest.mark.parametrize("cls", [c for c, phases in STEPS.items() if phases])
def test_seconds_must_be_a_positive_integer(cls, seconds):
    phase = STEPS[cls][-1]
    assert errors_of(cls, timeouts={phase: seconds}) == [
        f"{cls.__name__}: timeouts[{phase!r}] must be a positive integer, not {seconds!r}"]


@pytest.mark.parametrize("cls", [BootVkernel, BuildKernel, GuestCheckpointSuite])
def test_timeouts_must_be_a_dict(cls):
    assert errors_of(cls, timeouts=[300]) == [
        f"{cls.__name__}: timeouts must be a dict of phase -> seconds, not [300]"]


@pytest.mark.parametrize("cls, old, phase, seconds", [
    (BootVkernel, "boot_timeout", "boot", 300),
    (RunInVkernel, "guest_timeout", "command", 3600),
    (GuestCheckpointSuite, "build_timeout", "suite_build", 120),
    (GuestCheckpointSuite, "run_timeout", "suite", 900),
    (VkernelCheckpointCycle, "checkpoint_timeout", "checkpoint", 60),
    (VkernelCheckpointCycle, "restore_timeout", "restore", 30),
])
def test_the_old_names_say_what_to_write_instead(cls, old, phase, seconds):
    assert errors_of(cls, **{old: seconds}) == [
        f"{cls.__name__}: {old}= is now timeouts={{{phase!r}: {seconds}}}"]


def test_an_old_name_without_a_value_still_says_what_to_write():
    assert errors_of(GuestCheckpointSuite, run_timeout=None) == [
        "GuestCheckpointSuite: run_timeout= is now timeouts={'suite': SECONDS}"]


def test_the_cycle_key_names_checkpoint_and_restore():
    assert errors_of(VkernelCheckpointCycle, timeouts={"cycle": 120}) == [
        "VkernelCheckpointCycle: timeouts['cycle'] is now two phases: "
        "timeouts={'checkpoint': 120, 'restore': 120}"]


@pytest.mark.parametrize("cls, phase", [(BuildWorld, "world"), (BuildKernel, "kernel"),
                                        (MakeRootImage, "image")])
def test_a_silence_phase_is_buildbots_own_timeout(cls, phase):
    assert make(cls, timeouts={phase: 3600}).timeout == 3600
    assert make(cls).timeout == step_timeouts.DEFAULTS[phase] == 1200
    assert make(cls, timeout=900).timeout == 900     # Buildbot's meaning, still accepted
    assert errors_of(cls, timeout=900, timeouts={phase: 3600}) == [
        f"{cls.__name__}: timeout= and timeouts[{phase!r}] are the same timeout (seconds "
        f"without output): give timeouts={{{phase!r}: SECONDS}} only"]


def test_agent_steps_keep_buildbots_timeout_for_what_the_agent_does_not_bound():
    step = BootVkernel(timeout=90, timeouts={"boot": 30})
    assert (step.timeout, step.phase_timeout("boot")) == (90, 30)
    assert step.backstop(None) == 90 and step.backstop(30) == 30 + MARGIN


def test_renderables_are_accepted_and_checked_once_rendered():
    assert errors_of(BootVkernel, timeouts={"boot": Property("boot_s")}) == []
    assert errors_of(VkernelCheckpointCycle, timeouts=Property("timeouts")) == []
    good, problem = step_timeouts.rendered({"restore": "30"}, ("checkpoint", "restore"))
    assert (good, problem) == ({"restore": 30}, None)
    for value, text in [({"restore": "soon"}, "timeouts['restore'] must be a positive "
                                              "integer, not 'soon'"),
                        ({"boot": 3}, "timeouts has 'boot', a phase this step does not run "
                                      "(its phases: checkpoint, restore)"),
                        ("300", "timeouts must be a dict of phase -> seconds, not '300'")]:
        assert step_timeouts.rendered(value, ("checkpoint", "restore")) == (None, text)


def boot_args(seconds):
    return ["boot", "--session", SESSION,
            "--kernel", f"/usr/obj{BUILDDIR}/wkdir/sys/VKERNEL64/kernel.debug",
            "--image", f"{BUILDDIR}/vkckpt-root.img", "--memory", "256m", "--cpus", "2",
            "--timeout", str(seconds), "--silence", "120"]


class TestTheAgentGetsTheTimeout(AgentStepCase):
    async def boot(self, step, seconds):
        self.setup(step)
        self.expect_agent(boot_args(seconds), result("ok", "booted in 4.2 s"), 0,
                          timeout=seconds + MARGIN)
        self.expect_outcome(result=SUCCESS)
        await self.run_step()

    async def test_boot_default(self):
        await self.boot(BootVkernel(), 300)

    async def test_boot_given(self):
        await self.boot(BootVkernel(timeouts={"boot": 45}), 45)

    async def test_boot_rendered_from_a_property(self):
        step = BootVkernel(timeouts={"boot": Property("boot_s")})
        self.setup(step)
        self.build.setProperty("boot_s", "45", "test")
        self.expect_agent(boot_args(45), result("ok", "booted in 4.2 s"), 0,
                          timeout=45 + MARGIN)
        self.expect_outcome(result=SUCCESS)
        await self.run_step()

    async def test_a_rendered_wrong_value_ends_the_step_before_the_agent_runs(self):
        self.setup(BootVkernel(timeouts=Property("timeouts")))
        self.build.setProperty("timeouts", {"boot": "soon"}, "test")
        self.expect_outcome(result=EXCEPTION)
        await self.run_step()
        self.assertEqual(self.summary(), "configuration: timeouts['boot'] must be a positive "
                                         "integer, not 'soon'")

    async def command(self, step, seconds):
        self.setup(step)
        self.expect_agent(["exec", "--session", SESSION, "--timeout", str(seconds), "--",
                           "uname -a"], result("ok", "guest command succeeded"), 0,
                          timeout=seconds + MARGIN)
        self.expect_outcome(result=SUCCESS)
        await self.run_step()

    async def test_guest_command_default(self):
        await self.command(RunInVkernel(command="uname -a"), 600)

    async def test_guest_command_given(self):
        # longer than Buildbot's 1200 s: the backstop stays above the agent's own
        await self.command(RunInVkernel(command="uname -a", timeouts={"command": 3600}), 3600)

    async def test_the_image_phase_is_the_silence_timeout_of_its_command(self):
        self.setup(MakeRootImage(timeouts={"image": 2400}))
        self.expect_agent(
            ["image", "--session", SESSION, "--src", f"{BUILDDIR}/wkdir", "--objdir", "/usr/obj",
             "--kernconf", "VKERNEL64", "--image", f"{BUILDDIR}/vkckpt-root.img", "--size",
             "2g", "--with-suite"], result("ok", "root image built"), 0, timeout=2400)
        self.expect_outcome(result=SUCCESS)
        await self.run_step()


class TestMakeGetsTheTimeout(AgentStepCase):
    async def make(self, step, seconds, props=None):
        self.setup(step)
        for name, value in (props or {}).items():
            self.build.setProperty(name, value, "test")
        self.expect_commands(
            ExpectShell(workdir="wkdir", command=["make", "buildworld"], log_environ=False,
                        timeout=seconds).exit(0))
        self.expect_outcome(result=SUCCESS)
        await self.run_step()

    async def test_world_given(self):
        await self.make(BuildWorld(log_mode="full", timeouts={"world": 3600}), 3600)

    async def test_world_default(self):
        await self.make(BuildWorld(log_mode="full"), 1200)

    async def test_world_rendered(self):
        await self.make(BuildWorld(log_mode="full", timeouts=Property("timeouts")), 5400,
                        {"timeouts": {"world": 5400}})

    async def test_a_rendered_clash_with_timeout_is_a_configuration_exception(self):
        self.setup(BuildWorld(log_mode="full", timeout=600, timeouts=Property("timeouts")))
        self.build.setProperty("timeouts", {"world": 5400}, "test")
        self.expect_outcome(result=EXCEPTION)
        await self.run_step()
        self.assertEqual(self.summary(), "configuration: timeout= and timeouts['world'] are "
                                         "the same timeout (seconds without output): give "
                                         "timeouts={'world': SECONDS} only")
