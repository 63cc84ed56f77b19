"""The vkernel session steps: preflight, root image, boot, guest commands, shutdown, artifacts.

Each is an :class:`~buildbot_vkckpt.steps.agent.AgentStep`; the session lives in
``<builddir>/vkckpt-sessions/build-<N>`` on the worker (or under the SSH transport's ``workdir``
on the test host) and outlives the individual steps (the agent's supervisor owns the vkernel).
ShutdownVkernel and CollectArtifacts always run.
"""
import os
import posixpath

from buildbot.process import remotecommand, remotetransfer
from buildbot.process.results import SUCCESS

from buildbot_vkckpt import validate
from buildbot_vkckpt.agent.image import kernel_path
from buildbot_vkckpt.steps.agent import IMAGE_NAME, SESSIONS_DIR, AgentStep
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


class MakeRootImage(_SessionStep):
    """installworld + distribution + installkernel into a vn-backed root image, with the guest
    suite at /usr/vkckpt: the one shipped inside the agent (``with_suite``, the default) or a
    directory on the worker (``suite_dir``)."""

    name = "root-image"
    subcommand = "image"
    console_log = False
    renderables = ["image_size", "suite_dir", "with_suite"]

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

    async def publish(self, result_event, result):
        await super().publish(result_event, result)
        details = result_event.get("details") or {}
        if "reused" in details:
            self.setProperty("vkckpt_image_reused", bool(details["reused"]), self.name)


class BootVkernel(_SessionStep):
    """Boots the vkernel under the agent's supervisor and waits for a guest shell."""

    name = "boot"
    subcommand = "boot"
    renderables = ["memory", "cpus", "network", "boot_timeout", "silence"]

    def __init__(self, memory="256m", cpus=2, network=None, vmm=False, boot_timeout=300,
                 silence=120, **kwargs):
        self.memory = memory
        self.cpus = cpus
        self.network = network
        self.vmm = vmm
        self.boot_timeout = boot_timeout
        self.silence = silence
        # the agent enforces the boot timeout; Buildbot's own is a backstop above it
        kwargs.setdefault("timeout", int(boot_timeout) + 60 if isinstance(boot_timeout, (int, float)) else 1200)
        super().__init__(**kwargs)
        validate.size("BootVkernel", "memory", memory, 64)
        validate.positive_int("BootVkernel", "cpus", cpus, allow_none=False, maximum=16)

    def agent_args(self):
        args = ["--kernel", kernel_path(self.objdir, self.srcdir(), self.kernconf),
                "--image", self.image_path(), "--memory", self.memory,
                "--cpus", self.cpus, "--timeout", self.boot_timeout, "--silence", self.silence]
        if self.network:
            args += ["--net", self.network]
        if self.vmm:
            args.append("--vmm")
        return args

    async def publish(self, result_event, result):
        await super().publish(result_event, result)
        self.setProperty("vkckpt_session", self.session_dir(), self.name)
        flavour = (result_event.get("details") or {}).get("flavour")
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


class RunInVkernel(AgentStep):
    """A guest command as a step (ShellCommand-like): ``RunInVkernel(command="uname -a")``."""

    name = "guest-command"
    subcommand = "exec"
    renderables = ["guest_command", "guest_timeout"]

    def __init__(self, command=None, guest_timeout=600, **kwargs):
        if not command:
            validate.error("RunInVkernel", "command", "is required")
        self.guest_command = command
        self.guest_timeout = guest_timeout
        super().__init__(**kwargs)

    def agent_args(self):
        cmd = self.guest_command
        cmd = list(cmd) if isinstance(cmd, (list, tuple)) else [cmd]
        return ["--timeout", self.guest_timeout, "--"] + cmd


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
    master (``artifacts/<builder>/<build>/`` under the master's base directory)."""

    name = "collect"
    subcommand = "collect"
    console_log = False
    UPLOADS = ("console.log", "events.jsonl", "ledger.jsonl", "results.tar")
    renderables = ["master_dest"]

    def __init__(self, master_dest=None, **kwargs):
        self.master_dest = master_dest
        super().__init__(**kwargs)

    def collect_dir(self):
        if self.transport is not None:
            return posixpath.join(self.session_dir(), "collect")
        return self.build.path_module.join(self.session_dir(), "collect")

    def agent_args(self):
        return ["--dest", self.collect_dir()]

    async def publish(self, result_event, result):
        await super().publish(result_event, result)
        if result != SUCCESS:
            return
        dest = self.master_dest or os.path.join(
            "artifacts", self.build.builder.name, str(self.getProperty("buildnumber")))
        os.makedirs(dest, exist_ok=True)
        uploaded = []
        for name in self.UPLOADS:
            if self.transport is not None:
                if await self._fetch(name, os.path.join(dest, name)):
                    uploaded.append(name)
                continue
            src = self.build.path_module.join(self.collect_dir(), name)
            if not await self.pathExists(src):
                continue
            target = os.path.join(dest, name)
            writer = remotetransfer.FileWriter(target, None, 0o644)
            cmd = remotecommand.RemoteCommand("uploadFile", {
                "workersrc": src, "writer": writer, "maxsize": 512 * 1024 * 1024,
                "blocksize": 64 * 1024, "workdir": self.workdir, "keepstamp": False})
            await self.runCommand(cmd)
            if not cmd.didFail():
                uploaded.append(name)
        self.setProperty("vkckpt_artifacts", os.path.abspath(dest), self.name)
        console = os.path.join(dest, "console.log")
        if "console.log" in uploaded:
            with open(console, "rb") as fp:
                data = fp.read()[-512 * 1024:]
            await self.addCompleteLog("console.log", data.decode("utf-8", "replace"))
        self.final_summary = f"{self.final_summary} · uploaded {', '.join(uploaded) or 'nothing'}"

    async def _fetch(self, name, target):
        """One collected file from the SSH test host to the master, over SFTP."""
        from buildbot_vkckpt.transports.errors import TransportError
        try:
            await self.transport.fetch_file(self, posixpath.join(self.collect_dir(), name),
                                            target, maxsize=512 * 1024 * 1024)
        except (OSError, ValueError, TransportError):
            return False
        return True
