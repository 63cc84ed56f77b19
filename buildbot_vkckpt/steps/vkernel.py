"""The vkernel session steps: preflight, root image, boot, guest commands, shutdown, artifacts.

Each is an :class:`~buildbot_vkckpt.steps.agent.AgentStep`; the session lives in
``<builddir>/vkckpt-sessions/build-<N>`` on the worker (or under the SSH transport's ``workdir``
on the test host) and outlives the individual steps (the agent's supervisor owns the vkernel).
ShutdownVkernel and CollectArtifacts always run.
"""
import os

from buildbot.process.results import SUCCESS
from twisted.internet import threads

from buildbot_vkckpt import artifacts, validate
from buildbot_vkckpt.agent.image import kernel_path
from buildbot_vkckpt.steps.agent import IMAGE_NAME, SESSIONS_DIR, VKERNEL_STARTED, AgentStep
from buildbot_vkckpt.transports.errors import TransportError
from buildbot_vkckpt.steps.plan import plan_property


class _SessionStep(AgentStep):
    """Steps that need the source tree location and object directory of the build."""

    renderables = ["objdir", "kernconf"]

    def __init__(self, objdir="/usr/obj", kernconf="VKERNEL64", **kwargs):
        self.objdir = objdir
        self.kernconf = kernconf
        super().__init__(**kwargs)

    def srcdir(self):
        return self.worker_path(self.workdir or "build")

    def image_path(self):
        # in the builder directory, which exists and persists: images are reused across builds
        return self.host_path(IMAGE_NAME)


class CleanupStaleSessions(AgentStep):
    """Releases what earlier builds left on this host, from their ledgers: every session the
    host's session registry knows (any builder, worker or SSH workdir), not only this
    builder's. It runs under the host lock, so a session whose supervisor still runs belongs
    to no running build of ours (a crashed master, an interrupted shutdown): with
    ``live="stop"`` (the default) it is stopped and released, with ``live="refuse"`` the step
    ends EXCEPTION naming it."""

    name = "cleanup-stale"
    subcommand = "cleanup"
    console_log = False

    def __init__(self, live="stop", **kwargs):
        if live not in ("stop", "refuse"):
            validate.error("CleanupStaleSessions", "live", f"must be 'stop' or 'refuse', "
                                                           f"not {live!r}")
        self.live = live
        super().__init__(**kwargs)

    def agent_args(self):
        return ["--stale", "--root", self.host_path(SESSIONS_DIR), "--live", self.live]


class VkernelPreflight(AgentStep):
    """Checks the host before anything is touched; each problem comes with its fix."""

    name = "preflight"
    subcommand = "preflight"
    console_log = False
    renderables = ["memory", "image_size"]

    def __init__(self, memory="256m", image_size="2g", **kwargs):
        self.memory = memory
        self.image_size = image_size
        super().__init__(**kwargs)
        validate.size("VkernelPreflight", "memory", memory, 64)
        validate.size("VkernelPreflight", "image_size", image_size, 64)

    def agent_args(self):
        return ["--memory", self.memory, "--image-size", self.image_size,
                "--workdir", self.builddir()]

    async def publish(self, details, result):
        await super().publish(details, result)
        if isinstance(details.get("host_kernel"), str) and details["host_kernel"]:
            self.setProperty("vkckpt_host_kernel", details["host_kernel"], self.name)


class MakeRootImage(_SessionStep):
    """installworld + distribution + installkernel into a vn-backed root image, with the guest
    suite at /usr/vkckpt: the one shipped inside the agent (``with_suite``, the default) or a
    directory on the worker (``suite_dir``)."""

    name = "root-image"
    subcommand = "image"
    console_log = False
    renderables = ["image_size", "suite_dir", "with_suite"]
    # the agent does not bound the image: timeouts['image'] is Buildbot's silence timeout
    timeout_phases = ("image",)
    silence_phase = "image"

    def __init__(self, image_size="2g", suite_dir=None, with_suite=True, network=False,
                 **kwargs):
        self.image_size = image_size
        self.suite_dir = suite_dir
        self.with_suite = with_suite
        self.network = network
        super().__init__(**kwargs)
        validate.size("MakeRootImage", "image_size", image_size, 64)

    def agent_args(self):
        args = ["--src", self.srcdir(), "--objdir", self.objdir, "--kernconf", self.kernconf,
                "--image", self.image_path(), "--size", self.image_size]
        # suite_dir is a path on the worker's host; the agent carries its own copy otherwise
        if self.suite_dir:
            args += ["--suite", self.suite_dir]
        elif self.with_suite:
            args.append("--with-suite")
        if self.network:
            args.append("--net")
        # a world reused from an earlier build is that build's revision, not the checkout's;
        # only the plan may say so (a change can carry a property of the same name)
        world_rev = plan_property(self, "vkckpt_world_revision")
        if world_rev:
            args += ["--world-rev", str(world_rev)]
        return args

    async def publish(self, details, result):
        await super().publish(details, result)
        if "reused" in details:
            self.setProperty("vkckpt_image_reused", bool(details["reused"]), self.name)


class BootVkernel(_SessionStep):
    """Boots the vkernel under the agent's supervisor and waits for a guest shell."""

    name = "boot"
    runs_with_vkernel = True
    subcommand = "boot"
    renderables = ["memory", "cpus", "network", "silence"]
    timeout_phases = ("boot",)

    def __init__(self, memory="256m", cpus=2, network=None, vmm=False, silence=120,
                 **kwargs):
        self.memory = memory
        self.cpus = cpus
        self.network = network
        self.vmm = vmm
        self.silence = silence
        super().__init__(**kwargs)
        validate.size("BootVkernel", "memory", memory, 64)
        validate.positive_int("BootVkernel", "cpus", cpus, allow_none=False, maximum=16)

    def agent_timeout(self):
        return self.phase_timeout("boot")

    async def run(self):
        # from here on the vkernel may run on the host: losing the host is "host lost"
        self.setProperty(VKERNEL_STARTED, True, self.name)
        return await super().run()

    def agent_args(self):
        args = ["--kernel", kernel_path(self.objdir, self.srcdir(), self.kernconf),
                "--image", self.image_path(), "--memory", self.memory,
                "--cpus", self.cpus, "--timeout", self.phase_timeout("boot"),
                "--silence", self.silence]
        if self.network:
            args += ["--net", self.network]
        if self.vmm:
            args.append("--vmm")
        return args

    async def publish(self, details, result):
        await super().publish(details, result)
        self.setProperty("vkckpt_session", self.session_dir(), self.name)
        flavour = details.get("flavour")
        if flavour:
            self.setProperty("vkckpt_flavour", str(flavour), self.name)
            if str(flavour) not in self.final_summary:
                self.final_summary = f"{self.final_summary} ({flavour})"
        info = self.infos()
        for key in ("version", "kernconf"):
            if info.get(key):
                self.setProperty(f"vkckpt_guest_{key}", info[key], self.name)
        metrics = self.metrics()
        if "boot_time" in metrics:
            self.setProperty("vkckpt_boot_seconds", metrics["boot_time"], self.name)
        # what the guest ran with, for the trends page's identity line
        self.setProperty("vkckpt_vkernel_memory", str(self.memory), self.name)
        self.setProperty("vkckpt_vkernel_cpus", str(self.cpus), self.name)


class RunInVkernel(AgentStep):
    """A guest command as a step (ShellCommand-like): ``RunInVkernel(command="uname -a")``."""

    name = "guest-command"
    runs_with_vkernel = True
    subcommand = "exec"
    renderables = ["guest_command"]
    timeout_phases = ("command",)

    def __init__(self, command=None, **kwargs):
        if not command:
            validate.error("RunInVkernel", "command", "is required")
        self.guest_command = command
        super().__init__(**kwargs)

    def agent_timeout(self):
        return self.phase_timeout("command")

    def agent_args(self):
        cmd = self.guest_command
        cmd = list(cmd) if isinstance(cmd, (list, tuple)) else [cmd]
        return ["--timeout", self.phase_timeout("command"), "--"] + cmd


class _AlwaysRunStep(AgentStep):
    """Runs after a failure or a stop too; its own failure only warns, since the build's
    verdict belongs to the steps that tested the kernel."""

    def __init__(self, **kwargs):
        kwargs.setdefault("alwaysRun", True)
        kwargs.setdefault("flunkOnFailure", False)
        kwargs.setdefault("warnOnFailure", True)
        super().__init__(**kwargs)


class ShutdownVkernel(_AlwaysRunStep):
    """Halts the guest (or stops the vkernel) and releases everything in the session ledger."""

    name = "shutdown"
    subcommand = "shutdown"


class CollectArtifacts(_AlwaysRunStep):
    """Collects the console log, ledger, events and results tar, and uploads them to the
    master: ``artifacts/<builder>/<build>/`` under the master's base directory (or
    ``master_dest``; a relative one is taken under the base directory too). Directory and
    console-tail I/O on the master run off the reactor thread. Of ``artifacts/<builder>/``
    only the newest ``keep_artifacts`` builds stay (None: all), full build logs included."""

    name = "collect"
    subcommand = "collect"
    console_log = False
    UPLOADS = ("console.log", "events.jsonl", "ledger.jsonl", "results.tar")
    MAX_UPLOAD = 512 * 1024 * 1024
    CONSOLE_TAIL = 512 * 1024
    renderables = ["master_dest", "keep_artifacts"]

    def __init__(self, master_dest=None, keep_artifacts=20, **kwargs):
        validate.positive_int("CollectArtifacts", "keep_artifacts", keep_artifacts)
        self.master_dest = master_dest
        self.keep_artifacts = keep_artifacts
        super().__init__(**kwargs)

    def collect_dir(self):
        return self.transport.join(self, self.session_dir(), "collect")

    def agent_args(self):
        return ["--dest", self.collect_dir()]

    def artifacts_dir(self):
        dest = self.master_dest or os.path.join(
            "artifacts", self.build.builder.name, str(self.getProperty("buildnumber")))
        return os.path.join(self.master.basedir, os.path.expanduser(dest))

    def _off_reactor(self, fn, *args):
        reactor = self.master.reactor
        return threads.deferToThreadPool(reactor, reactor.getThreadPool(), fn, *args)

    async def publish(self, details, result):
        await super().publish(details, result)
        if not self.master_dest:        # a builder's own tree: keep its newest builds only
            number = self.getProperty("buildnumber")
            pruned = await self._off_reactor(
                artifacts.prune, os.path.join(self.master.basedir, "artifacts",
                                              self.build.builder.name),
                self.keep_artifacts, number if isinstance(number, int) else None)
            if pruned:
                self.final_summary = (f"{self.final_summary} · removed the artifacts of "
                                      f"{len(pruned)} older build(s)")
        if result != SUCCESS:
            return
        dest = self.artifacts_dir()
        await self._off_reactor(os.makedirs, dest, 0o755, True)
        uploaded = []
        for name in self.UPLOADS:
            try:
                await self.transport.fetch_file(
                    self, self.transport.join(self, self.collect_dir(), name),
                    os.path.join(dest, name), maxsize=self.MAX_UPLOAD)
            except (OSError, ValueError, TransportError):
                continue
            uploaded.append(name)
        self.setProperty("vkckpt_artifacts", dest, self.name)
        if "console.log" in uploaded:
            data = await self._off_reactor(_tail, os.path.join(dest, "console.log"),
                                           self.CONSOLE_TAIL)
            await self.addCompleteLog("console.log", data.decode("utf-8", "replace"))
        self.final_summary = f"{self.final_summary} · uploaded {', '.join(uploaded) or 'nothing'}"


def _tail(path, size):
    with open(path, "rb") as fp:
        fp.seek(0, os.SEEK_END)
        fp.seek(max(0, fp.tell() - size))
        return fp.read()
