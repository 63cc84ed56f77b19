"""The ready-made pipeline as one BuildFactory.

``VkernelCheckpointFactory`` validates its parameters at config time, so a wrong value fails
``buildbot checkconfig`` with the parameter named instead of failing a build hours later.
"""
import functools
import re

from buildbot.plugins import steps as bb_steps
from buildbot.plugins import util

from buildbot_vkckpt import changes, validate
from buildbot_vkckpt.agent.retry import DEFAULT_RETRIES
from buildbot_vkckpt.steps.build import BuildKernel, BuildWorld
from buildbot_vkckpt.steps.cycle import VkernelCheckpointCycle
from buildbot_vkckpt.steps.plan import BuildPlan, RecordStage, planned, reused_description
from buildbot_vkckpt.steps.suite import GuestCheckpointSuite
from buildbot_vkckpt.steps import timeouts as step_timeouts
from buildbot_vkckpt.suite import list_tests
from buildbot_vkckpt.steps.vkernel import (BootVkernel, CleanupStaleSessions, CollectArtifacts,
                                           MakeRootImage, RunInVkernel, ShutdownVkernel,
                                           VkernelPreflight)

# One vkernel session per host at a time: builds of every builder on a worker share it.
HOST_LOCK = util.WorkerLock("vkckpt-host")
_SSH_HOST_LOCKS = {}


def host_locks(transport=None):
    """Builder lock accesses for one vkernel session per host at a time: the worker's, and
    with an SSH transport also one per test host, which builders on other workers share."""
    from buildbot_vkckpt.transports.ssh import SSHTransport
    locks = [HOST_LOCK.access("exclusive")]
    if isinstance(transport, SSHTransport):
        name = f"vkckpt-ssh-host-{transport.host}:{transport.port}"
        lock = _SSH_HOST_LOCKS.setdefault(name, util.MasterLock(name))
        locks.append(lock.access("exclusive"))
    return locks

OWNER = "VkernelCheckpointFactory"
TEST_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")


_error = functools.partial(validate.error, OWNER)
_positive_int = functools.partial(validate.positive_int, OWNER)
_non_empty_str = functools.partial(validate.non_empty_str, OWNER)


def _without_revision(step):
    return not step.getProperty("revision") and bool(step.getProperty("got_revision"))


def _check_transport(transport):
    from buildbot_vkckpt.transports.base import Transport
    if transport is None or isinstance(transport, Transport):
        return
    if transport == "worker":
        _error("transport", "'worker' is no longer a transport name: leave transport=None "
                            "(or give WorkerTransport()) to run on the Buildbot worker")
        return
    _error("transport", f"must be None (the Buildbot worker), a WorkerTransport or an "
                        f"SSHTransport, not {transport!r}")


class VkernelCheckpointFactory(util.BuildFactory):
    """Plan, check out DragonFly, build world and the vkernel, make the image, boot, test.

    Parameters (see docs/configuration.rst):
      repourl     git URL of the DragonFly source repository (required)
      branch      branch to build when the change names none (default ``master``)
      kernconf    kernel configuration (default ``VKERNEL64``)
      jobs        ``make -j`` (default: the make default)
      objdir      MAKEOBJDIRPREFIX on the worker, an absolute path; keep it outside the build
                  directory so later builds can reuse world and kernel
      make        the make program (default ``make``)
      make_vars   dict of extra make variables (``{"NO_MODULES": True}`` gives ``-DNO_MODULES``)
      incremental pass ``-DNO_CLEAN``
      timeouts    dict phase -> seconds, the steps' own: ``world``, ``kernel``, ``image``
                  (without output), ``boot`` (without console progress), ``command`` (per
                  guest command), ``suite_build`` and ``suite`` (building and running the
                  guest suite), ``checkpoint`` and ``restore`` (one each per cycle); each
                  step gets the phases it runs (defaults in steps/timeouts.py)
      memory      vkernel memory (``-m``, default ``256m``; at least 64m)
      cpus        vkernel CPUs (``-n``, 1-16, default 2)
      network     ``-I`` argument for the vkernel (e.g. ``auto:bridge0``); default none
      image_size  root image size (default ``2g``)
      guest_commands  list of shell lines run in the booted guest, one step each
      cycles      vkernel checkpoint/restore cycles per build (default 3; 0 = none)
      guest_tests names of the guest suite's tests to run (default None: all)
      retries     how often a failed guest test or checkpoint cycle is re-run to tell a flake
                  from a regression (default 2; 0 = never): ``flaky (1/3 failed)`` is
                  WARNINGS, ``deterministic (3/3 failed)`` FAILURE (docs/flakes.rst)
      require_checkpoint_support  a host without vkernel checkpoint support fails the build
                  instead of skipping the cycles (default False)
      transport   how agent commands reach the host: None (the Buildbot worker), a
                  :class:`~buildbot_vkckpt.transports.worker.WorkerTransport` or an
                  :class:`~buildbot_vkckpt.transports.ssh.SSHTransport`
      suite_prefix  where the guest suite lives in the tree, for the build plan
                  (default ``test/vkckpt/``; None: no such rule)
      plan        compute a build plan from the changes and skip what it allows (default True)
      live_sessions  what stale-session cleanup does with a session on the host whose
                  supervisor still runs: ``"stop"`` it (default; the host lock says no build
                  of this master uses it) or ``"refuse"`` to build (a host shared with
                  another master)
      keep_artifacts  builds whose artifacts (console log, results, full build logs) stay
                  under the master's ``artifacts/<builder>/`` (default 20; None: all)
    """

    def __init__(self, repourl, branch="master", kernconf="VKERNEL64", jobs=None,
                 objdir="/usr/obj", make="make", make_vars=None, incremental=False,
                 timeouts=None, memory="256m", cpus=2, network=None, image_size="2g",
                 guest_commands=("uname -a",), cycles=3, guest_tests=None,
                 require_checkpoint_support=False, transport=None,
                 suite_prefix=changes.DEFAULT_SUITE_PREFIX, plan=True, live_sessions="stop",
                 retries=DEFAULT_RETRIES, keep_artifacts=20):
        super().__init__()
        _non_empty_str("repourl", repourl)
        _non_empty_str("branch", branch)
        if _non_empty_str("kernconf", kernconf) and isinstance(kernconf, str) \
                and not re.fullmatch(r"[A-Za-z0-9_.-]+", kernconf):
            _error("kernconf", f"must be a kernel configuration name, not {kernconf!r}")
        _positive_int("jobs", jobs)
        _non_empty_str("make", make)
        if _non_empty_str("objdir", objdir) and isinstance(objdir, str) \
                and not objdir.startswith("/"):
            _error("objdir", f"must be an absolute path (MAKEOBJDIRPREFIX), not {objdir!r}")
        if make_vars is not None and not isinstance(make_vars, dict):
            _error("make_vars", "must be a dict of make variables")
            make_vars = None
        if validate.renderable(timeouts):   # split between the steps: known at config time
            _error("timeouts", "must be a dict of phase -> seconds (its values may be "
                               "renderables), not a renderable")
            timeouts = None
        # the entries that pass go to the steps, so each problem is reported once
        timeouts = step_timeouts.checked(OWNER, timeouts, step_timeouts.PHASES)

        def timeouts_of(step_class):
            return {"timeouts": step_timeouts.for_step(timeouts, step_class)}

        validate.size(OWNER, "memory", memory, 64)
        validate.size(OWNER, "image_size", image_size, 64)
        _positive_int("cpus", cpus, allow_none=False, maximum=16)
        if not _positive_int("keep_artifacts", keep_artifacts):
            keep_artifacts = 20     # reported once, as the factory's parameter
        if network is not None:
            _non_empty_str("network", network)
        if isinstance(guest_commands, str) or not isinstance(guest_commands, (list, tuple)) \
                or not all(isinstance(c, str) and c.strip() for c in guest_commands):
            _error("guest_commands", "must be a list of non-empty shell lines")
            guest_commands = ()
        _positive_int("cycles", cycles, allow_none=False, minimum=0)
        _positive_int("retries", retries, allow_none=False, minimum=0)
        if guest_tests is not None and (
                isinstance(guest_tests, str) or not isinstance(guest_tests, (list, tuple))
                or not guest_tests
                or not all(isinstance(t, str) and TEST_NAME.match(t) for t in guest_tests)):
            _error("guest_tests", "must be None (all tests) or a non-empty list of test "
                                  f"names, not {guest_tests!r}")
            guest_tests = None
        elif guest_tests is not None:
            known = {t.name for t in list_tests()}
            unknown = [t for t in guest_tests if t not in known]
            if unknown:
                _error("guest_tests", f"names unknown tests {', '.join(unknown)}; "
                                      f"known: {', '.join(sorted(known))}")
                guest_tests = None
        if not isinstance(require_checkpoint_support, bool):
            _error("require_checkpoint_support",
                   f"must be True or False, not {require_checkpoint_support!r}")
        _check_transport(transport)
        if suite_prefix is not None:
            _non_empty_str("suite_prefix", suite_prefix)

        make_args = dict(jobs=jobs, objdir=objdir, make=make, make_vars=make_vars,
                         incremental=incremental)
        session = dict(objdir=objdir, kernconf=kernconf)
        # the vkernel steps reach the test host through the transport; build steps stay on
        # the worker
        vk = dict(transport=transport)

        def stage_step(stage, **kwargs):
            # skipped (not hidden) when the plan reuses this stage
            if plan:
                kwargs.update(doStepIf=planned(stage))
                if stage != "tests":
                    kwargs.update(descriptionDone=reused_description(stage))
            return kwargs

        self.addStep(bb_steps.Git(repourl=repourl, branch=branch, mode="incremental",
                                  name="checkout", haltOnFailure=True))
        if plan:
            # after the checkout: a reuse must hold for the tree itself (git diff since the
            # stage was built), not only for the changes this build was told about
            self.addStep(BuildPlan(suite_prefix=suite_prefix, **session))
        # the web UI's builds table shows the ``revision`` property, which a forced or
        # nightly build lacks: give it the revision the checkout got (hidden, never fails)
        self.addStep(bb_steps.SetProperty(
            name="revision", property="revision", value=util.Property("got_revision"),
            doStepIf=_without_revision, hideStepIf=True, flunkOnFailure=False))
        # the host is checked before an hour of buildworld is spent on it
        self.addStep(CleanupStaleSessions(live=live_sessions, haltOnFailure=True, **vk))
        self.addStep(VkernelPreflight(memory=memory, image_size=image_size,
                                      haltOnFailure=True, **vk))
        self.addStep(BuildWorld(haltOnFailure=True, **timeouts_of(BuildWorld),
                                **stage_step("world", **make_args)))
        if plan:
            self.addStep(RecordStage("world", **session))
        self.addStep(BuildKernel(kernconf=kernconf, haltOnFailure=True,
                                 **timeouts_of(BuildKernel),
                                 **stage_step("kernel", **make_args)))
        if plan:
            self.addStep(RecordStage("kernel", **session))
        self.addStep(MakeRootImage(image_size=image_size, network=bool(network),
                                   haltOnFailure=True, **timeouts_of(MakeRootImage),
                                   **stage_step("image", **session), **vk))
        if plan:
            self.addStep(RecordStage("image", **session))
        self.addStep(BootVkernel(memory=memory, cpus=cpus, network=network,
                                 **timeouts_of(BootVkernel), haltOnFailure=True,
                                 **stage_step("tests", **session), **vk))
        for i, line in enumerate(guest_commands):
            self.addStep(RunInVkernel(command=line, name=f"guest-command-{i + 1}"
                                      if len(guest_commands) > 1 else "guest-command",
                                      **timeouts_of(RunInVkernel),
                                      haltOnFailure=True, **stage_step("tests"), **vk))
        # the two test layers (DESIGN.md): a failing guest test does not stop the vkernel
        # cycle, which checks a different thing
        self.addStep(GuestCheckpointSuite(only=guest_tests, retries=retries,
                                          **timeouts_of(GuestCheckpointSuite),
                                          **stage_step("tests"), **vk))
        if cycles:
            self.addStep(VkernelCheckpointCycle(
                cycles=cycles, require_support=require_checkpoint_support,
                retries=retries, **timeouts_of(VkernelCheckpointCycle),
                **stage_step("tests"), **vk))
        self.addStep(ShutdownVkernel(**vk))
        self.addStep(CollectArtifacts(keep_artifacts=keep_artifacts, **vk))
