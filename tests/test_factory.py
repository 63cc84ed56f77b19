"""VkernelCheckpointFactory: parameter validation names the parameter; steps follow the plan."""
import pytest
from buildbot import config
from buildbot.plugins import util
from buildbot.steps.source.git import Git

from buildbot_vkckpt.factory import VkernelCheckpointFactory
from buildbot_vkckpt.steps.cycle import VkernelCheckpointCycle
from buildbot_vkckpt.steps.suite import GuestCheckpointSuite
from buildbot_vkckpt.steps.plan import planned

REPO = "https://gitweb.dragonflybsd.org/dragonfly.git"


def step_names(factory):
    return [s.buildStep().name for s in factory.steps]


@pytest.mark.parametrize("kwargs, message", [
    (dict(repourl=""), "repourl must be a non-empty string"),
    (dict(branch=None), "branch must be a non-empty string"),
    (dict(kernconf="VKERNEL64; rm -rf /"), "kernconf must be a kernel configuration name"),
    (dict(jobs=0), "jobs must be a positive integer"),
    (dict(jobs=True), "jobs must be a positive integer"),
    (dict(objdir="obj"), "objdir must be an absolute path"),
    (dict(memory="lots"), "memory must be a size"),
    (dict(memory="32m"), "memory must be at least 64m"),
    (dict(cpus=17), "cpus must be an integer from 1 to 16"),
    (dict(network=""), "network must be a non-empty string"),
    (dict(cycles=-1), "cycles must be an integer >= 0"),
    (dict(guest_tests="fork"), "guest_tests must be None"),
    (dict(guest_tests=["fork", "../x"]), "guest_tests must be None"),
    (dict(require_checkpoint_support="yes"), "require_checkpoint_support must be True"),
    (dict(transport="ssh://host"), "transport must be None (the Buildbot worker), a "
                                   "WorkerTransport or an SSHTransport"),
    (dict(transport="worker"), "'worker' is no longer a transport name: leave "
                               "transport=None (or give WorkerTransport())"),
    (dict(timeouts={"wrold": 10}), "timeouts has unknown phase 'wrold'"),
    (dict(timeouts={"boot": 0}), "timeouts['boot'] must be a positive integer"),
    (dict(timeouts=[1]), "timeouts must be a dict"),
    (dict(timeouts={"cycle": 120}), "timeouts['cycle'] is now two phases: "
                                    "timeouts={'checkpoint': 120, 'restore': 120}"),
    (dict(timeouts=util.Property("t")), "timeouts must be a dict of phase -> seconds (its "
                                        "values may be renderables), not a renderable"),
    (dict(guest_commands="uname"), "guest_commands must be a list"),
    (dict(make_vars=["X"]), "make_vars must be a dict"),
])
def test_wrong_value_names_the_parameter(kwargs, message):
    args = {"repourl": REPO, **kwargs}
    with pytest.raises(config.ConfigErrors) as err:
        VkernelCheckpointFactory(**args)
    assert any(e.startswith("VkernelCheckpointFactory: ") and message in e
               for e in err.value.errors), err.value.errors


def test_parameters_reach_the_steps_and_a_worker_transport_is_handed_on():
    from buildbot_vkckpt.transports import WorkerTransport
    transport = WorkerTransport(python="python3.11")
    f = VkernelCheckpointFactory(REPO, cycles=0, guest_tests=["memory", "pipe"],
                                 transport=transport, timeouts={"suite": 900, "restore": 120})
    assert not hasattr(f, "settings")
    assert "checkpoint-cycle" not in step_names(f)
    suite, = [s for s in f.steps if s.step_class is GuestCheckpointSuite]
    assert suite.kwargs["only"] == ["memory", "pipe"]
    assert suite.kwargs["timeouts"] == {"suite": 900}
    assert suite.kwargs["transport"] is transport


def test_both_test_layers_run_between_boot_and_shutdown():
    f = VkernelCheckpointFactory(REPO, cycles=2, guest_tests=["memory"],
                                 require_checkpoint_support=True,
                                 timeouts={"checkpoint": 120, "boot": 60})
    names = step_names(f)
    assert names.index("boot") < names.index("guest-command") < names.index("guest-suite") \
        < names.index("checkpoint-cycle") < names.index("shutdown")
    cycle, = [s for s in f.steps if s.step_class is VkernelCheckpointCycle]
    assert cycle.kwargs["cycles"] == 2      # one name for one thing, factory and step
    assert (cycle.kwargs["require_support"], cycle.kwargs["timeouts"]) == \
        (True, {"checkpoint": 120})
    suite = [s for s in f.steps if "only" in s.kwargs][0].kwargs
    assert suite["only"] == ["memory"]
    assert "checkpoint-cycle" not in step_names(VkernelCheckpointFactory(REPO, cycles=0))


def test_each_step_gets_the_phases_it_runs_and_nothing_else():
    given = {"world": 3600, "kernel": 1800, "image": 900, "boot": 60, "command": 30,
             "suite_build": 120, "suite": 1500, "checkpoint": 90, "restore": 45}
    f = VkernelCheckpointFactory(REPO, timeouts=given, guest_commands=["uname -a", "true"])
    by_name = dict(zip(step_names(f), f.steps))
    assert {name: by_name[name].kwargs["timeouts"] for name in (
        "buildworld", "buildkernel", "root-image", "boot", "guest-command-1",
        "guest-command-2", "guest-suite", "checkpoint-cycle")} == {
        "buildworld": {"world": 3600}, "buildkernel": {"kernel": 1800},
        "root-image": {"image": 900}, "boot": {"boot": 60}, "guest-command-1": {"command": 30},
        "guest-command-2": {"command": 30}, "guest-suite": {"suite_build": 120, "suite": 1500},
        "checkpoint-cycle": {"checkpoint": 90, "restore": 45}}
    # Buildbot's own timeout= is never set by the factory: the steps map their phase to it
    assert not any("timeout" in s.kwargs for s in f.steps if s.step_class is not Git)
    steps = [s.buildStep() for s in f.steps]
    assert [s.timeout for s in steps if s.name in ("buildworld", "buildkernel",
                                                   "root-image")] == [3600, 1800, 900]


def test_without_timeouts_the_steps_keep_their_defaults():
    f = VkernelCheckpointFactory(REPO)
    steps = {s.name: s for s in (f.buildStep() for f in f.steps)}
    assert steps["boot"].phase_timeout("boot") == 300
    assert steps["guest-command"].phase_timeout("command") == 600
    assert steps["guest-suite"].phase_timeout("suite_build") == 600
    assert steps["guest-suite"].phase_timeout("suite") is None      # from the tests
    assert (steps["checkpoint-cycle"].phase_timeout("checkpoint"),
            steps["checkpoint-cycle"].phase_timeout("restore")) == (600, 300)
    assert steps["buildworld"].timeout == steps["root-image"].timeout == 1200


def test_unknown_guest_test_is_named_at_checkconfig():
    with pytest.raises(config.ConfigErrors, match=r"guest_tests names unknown tests nosuch"):
        VkernelCheckpointFactory(REPO, guest_tests=["memory", "nosuch"])


def test_plan_right_after_checkout_and_stage_steps_skip_by_plan():
    f = VkernelCheckpointFactory(REPO, guest_commands=["uname -a", "true"])
    names = step_names(f)
    # the plan compares the checked-out tree with the markers' revisions (git diff)
    assert names[:2] == ["checkout", "plan"]
    assert names.index("buildworld") < names.index("record-world") < names.index("buildkernel")
    assert names[-2:] == ["shutdown", "collect"]
    by_name = dict(zip(names, f.steps))
    for name, stage in (("buildworld", "world"), ("buildkernel", "kernel"),
                        ("root-image", "image"), ("boot", "tests"),
                        ("guest-command-2", "tests")):
        assert by_name[name].kwargs["doStepIf"].__name__ == planned(stage).__name__
        assert "hideStepIf" not in by_name[name].kwargs  # skipped, not hidden
    assert "doStepIf" not in by_name["shutdown"].kwargs


def test_without_plan_every_step_runs():
    names = step_names(VkernelCheckpointFactory(REPO, plan=False))
    assert "plan" not in names and not any(n.startswith("record-") for n in names)
    assert "buildworld" in names


def test_live_sessions_reach_the_cleanup_step():
    def cleanup(f):
        return [s for s in f.steps if s.kwargs.get("live")][0].kwargs["live"]
    assert cleanup(VkernelCheckpointFactory(REPO)) == "stop"
    assert cleanup(VkernelCheckpointFactory(REPO, live_sessions="refuse")) == "refuse"
    with pytest.raises(config.ConfigErrors, match="live must be 'stop' or 'refuse'"):
        VkernelCheckpointFactory(REPO, live_sessions="kill")
