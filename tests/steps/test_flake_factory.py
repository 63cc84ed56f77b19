"""VkernelCheckpointFactory(retries=...): validated at checkconfig naming the parameter, handed
to the guest suite and the checkpoint cycle."""
import pytest
from buildbot import config

from buildbot_vkckpt.factory import VkernelCheckpointFactory
from buildbot_vkckpt.steps.cycle import VkernelCheckpointCycle
from buildbot_vkckpt.steps.suite import GuestCheckpointSuite

REPO = "https://gitweb.dragonflybsd.org/dragonfly.git"


def retries_of(factory):
    return {s.step_class.__name__: s.kwargs["retries"] for s in factory.steps
            if s.step_class in (GuestCheckpointSuite, VkernelCheckpointCycle)}


@pytest.mark.parametrize("bad", [-1, "2", True, None, 1.5])
def test_wrong_retries_names_the_parameter(bad):
    with pytest.raises(config.ConfigErrors) as err:
        VkernelCheckpointFactory(REPO, retries=bad)
    assert any(e.startswith("VkernelCheckpointFactory: retries must be an integer >= 0, not ")
               for e in err.value.errors), err.value.errors


def test_retries_default_to_two_and_reach_both_test_steps():
    assert retries_of(VkernelCheckpointFactory(REPO)) == {
        "GuestCheckpointSuite": 2, "VkernelCheckpointCycle": 2}
    assert retries_of(VkernelCheckpointFactory(REPO, retries=0)) == {
        "GuestCheckpointSuite": 0, "VkernelCheckpointCycle": 0}
