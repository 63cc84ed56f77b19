"""The ready-made pipeline as one BuildFactory.

``VkernelCheckpointFactory`` validates its parameters at config time, so a wrong value fails
``buildbot checkconfig`` with the parameter named instead of failing a build hours later.
"""
from buildbot import config
from buildbot.plugins import steps as bb_steps
from buildbot.plugins import util

from buildbot_vkckpt.steps.build import BuildKernel, BuildWorld
from buildbot_vkckpt.steps.vkernel import (BootVkernel, CleanupStaleSessions, CollectArtifacts,
                                           MakeRootImage, RunInVkernel, ShutdownVkernel,
                                           VkernelPreflight, check_size)

# One vkernel session per host at a time: builds of every builder on a worker share it.
HOST_LOCK = util.WorkerLock("vkckpt-host")


def _positive_int(name, value, allow_none=True):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        config.error(f"VkernelCheckpointFactory: {name} must be a positive integer, "
                     f"not {value!r}")


def _non_empty_str(name, value):
    if not isinstance(value, str) or not value.strip():
        config.error(f"VkernelCheckpointFactory: {name} must be a non-empty string, "
                     f"not {value!r}")


class VkernelCheckpointFactory(util.BuildFactory):
    """Check out DragonFly, build world and the vkernel.

    Parameters:
      repourl     git URL of the DragonFly source repository (required)
      branch      branch to build when the change names none (default ``master``)
      kernconf    kernel configuration (default ``VKERNEL64``)
      jobs        ``make -j`` (default: the make default)
      objdir      MAKEOBJDIRPREFIX on the worker; keep it outside the build directory so
                  incremental builds can reuse it
      make        the make program (default ``make``)
      make_vars   dict of extra make variables (``{"NO_MODULES": True}`` gives ``-DNO_MODULES``)
      incremental pass ``-DNO_CLEAN``
      timeouts    dict phase -> seconds: ``world``, ``kernel``, ``image`` (without output),
                  ``boot`` (without console progress), ``command`` (per guest command)
      memory      vkernel memory (``-m``, default ``256m``; at least 64m, multiple of 2m)
      cpus        vkernel CPUs (``-n``, default 2)
      network     ``-I`` argument for the vkernel (e.g. ``auto:bridge0``); default none
      image_size  root image size (default ``2g``)
      guest_commands  list of shell lines run in the booted guest, one step each
    """

    TIMEOUT_PHASES = ("world", "kernel", "image", "boot", "command")

    def __init__(self, repourl, branch="master", kernconf="VKERNEL64", jobs=None,
                 objdir="/usr/obj", make="make", make_vars=None, incremental=False,
                 timeouts=None, memory="256m", cpus=2, network=None, image_size="2g",
                 guest_commands=("uname -a",)):
        super().__init__()
        _non_empty_str("repourl", repourl)
        _non_empty_str("branch", branch)
        _non_empty_str("kernconf", kernconf)
        _positive_int("jobs", jobs)
        _non_empty_str("make", make)
        if objdir is not None:
            _non_empty_str("objdir", objdir)
        if make_vars is not None and not isinstance(make_vars, dict):
            config.error("VkernelCheckpointFactory: make_vars must be a dict")
        timeouts = dict(timeouts or {})
        for phase, seconds in timeouts.items():
            if phase not in self.TIMEOUT_PHASES:
                config.error(f"VkernelCheckpointFactory: timeouts has unknown phase {phase!r} "
                             f"(known: {', '.join(self.TIMEOUT_PHASES)})")
            _positive_int(f"timeouts[{phase!r}]", seconds, allow_none=False)

        check_size("VkernelCheckpointFactory", "memory", memory, 64)
        check_size("VkernelCheckpointFactory", "image_size", image_size, 64)
        _positive_int("cpus", cpus, allow_none=False)
        if network is not None:
            _non_empty_str("network", network)
        if isinstance(guest_commands, str) or not all(
                isinstance(c, str) and c.strip() for c in guest_commands):
            config.error("VkernelCheckpointFactory: guest_commands must be a list of "
                         "non-empty shell lines")

        make_args = dict(jobs=jobs, objdir=objdir, make=make, make_vars=make_vars,
                         incremental=incremental)
        session = dict(objdir=objdir, kernconf=kernconf)
        self.addStep(bb_steps.Git(repourl=repourl, branch=branch, mode="incremental",
                                  name="checkout", haltOnFailure=True))
        # the host is checked before an hour of buildworld is spent on it
        self.addStep(CleanupStaleSessions(haltOnFailure=True))
        self.addStep(VkernelPreflight(memory=memory, image_size=image_size,
                                      haltOnFailure=True))
        self.addStep(BuildWorld(haltOnFailure=True,
                                timeout=timeouts.get("world", 1200), **make_args))
        self.addStep(BuildKernel(kernconf=kernconf, haltOnFailure=True,
                                 timeout=timeouts.get("kernel", 1200), **make_args))
        self.addStep(MakeRootImage(image_size=image_size, network=bool(network),
                                   haltOnFailure=True, timeout=timeouts.get("image", 1200),
                                   **session))
        self.addStep(BootVkernel(memory=memory, cpus=cpus, network=network,
                                 boot_timeout=timeouts.get("boot", 300), haltOnFailure=True,
                                 **session))
        for i, line in enumerate(guest_commands):
            self.addStep(RunInVkernel(command=line, name=f"guest-command-{i + 1}"
                                      if len(guest_commands) > 1 else "guest-command",
                                      guest_timeout=timeouts.get("command", 600),
                                      haltOnFailure=True))
        self.addStep(ShutdownVkernel())
        self.addStep(CollectArtifacts())
