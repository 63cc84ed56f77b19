"""Master-side Buildbot steps: Buildbot glue only (render arguments, run a command through a
transport or the worker, turn monitor events into results, summaries, logs, properties and
test results). Parsing lives in :mod:`buildbot_vkckpt.monitor`."""
from buildbot_vkckpt.steps.build import BuildKernel, BuildWorld
from buildbot_vkckpt.steps.cycle import VkernelCheckpointCycle
from buildbot_vkckpt.steps.plan import BuildPlan, RecordStage
from buildbot_vkckpt.steps.vkernel import (BootVkernel, CleanupStaleSessions, CollectArtifacts,
                                           MakeRootImage, RunInVkernel, ShutdownVkernel,
                                           VkernelPreflight)
from buildbot_vkckpt.steps.suite import GuestCheckpointSuite

__all__ = ["BuildPlan", "RecordStage", "BuildWorld", "BuildKernel", "CleanupStaleSessions",
           "VkernelPreflight",
           "MakeRootImage", "BootVkernel", "RunInVkernel", "ShutdownVkernel", "CollectArtifacts",
           "GuestCheckpointSuite", "VkernelCheckpointCycle"]
