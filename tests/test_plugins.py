"""The package's Buildbot plugins are reachable the way a master.cfg reaches Buildbot's own."""
from buildbot.plugins import steps, util

from buildbot_vkckpt.factory import VkernelCheckpointFactory, host_locks
from buildbot_vkckpt.steps.cycle import VkernelCheckpointCycle
from buildbot_vkckpt.transports import SSHTransport, WorkerTransport


def test_factory_transport_and_locks_are_util_plugins():
    assert util.VkernelCheckpointFactory is VkernelCheckpointFactory
    assert util.SSHTransport is SSHTransport
    assert util.WorkerTransport is WorkerTransport
    assert util.vkckpt_host_locks is host_locks


def test_steps_are_step_plugins():
    assert steps.VkernelCheckpointCycle is VkernelCheckpointCycle


def test_the_worker_is_only_a_demo_extra():
    from importlib.metadata import requires

    reqs = requires("buildbot-vkckpt")
    core = [r for r in reqs if "extra ==" not in r]
    assert not any(r.startswith("buildbot-worker") for r in core), core
    assert any(r.startswith("buildbot-worker") and 'extra == "demo"' in r for r in reqs), reqs
