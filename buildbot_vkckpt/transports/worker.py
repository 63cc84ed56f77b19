"""WorkerTransport: agent commands on the Buildbot worker that runs the build (the default).

Buildbot's own machinery does the work: a RemoteShellCommand per agent command (so the
worker's silence ``timeout``, ``maxTime`` and interrupts apply), CompositeStepMixin's
``downloadFileContentToWorker`` for the zipapp and ``uploadFile`` for artifacts.
"""
from buildbot.process import remotecommand, remotetransfer
from buildbot.process.results import CANCELLED

from buildbot_vkckpt.transports.base import Execution, Transport
from buildbot_vkckpt.transports.errors import TransportError

UPLOAD_BLOCK = 64 * 1024


class WorkerTransport(Transport):
    """Runs agent commands on the build's worker with ``python``."""

    def __init__(self, python="python3"):
        self.python = python

    def describe(self):
        return "worker"

    def __repr__(self):
        return f"WorkerTransport(python={self.python!r})"

    def builddir(self, step):
        return step.getProperty("builddir") or "."

    def join(self, step, *parts):
        return step.build.path_module.join(*parts)

    async def ensure_file(self, step, local_path, sha256hex, data=None):
        stem, ext = step.build.path_module.splitext(step.build.path_module.basename(local_path))
        dest = self.join(step, self.builddir(step), f"{stem}-{sha256hex[:12]}{ext}")
        if not await step.pathExists(dest):
            if data is None:
                with open(local_path, "rb") as fp:
                    data = fp.read()
            done = await step.downloadFileContentToWorker(dest, data, mode=0o644)
            if done is None:
                raise TransportError(f"could not copy {stem}{ext} to {dest} on the worker")
        return dest

    async def execute(self, step, argv, logname, timeout=None, max_time=None):
        kwargs = {"timeout": timeout}
        if max_time is not None:
            kwargs["maxTime"] = max_time
        cmd = await step.makeRemoteShellCommand(command=argv, stdioLogName=logname, **kwargs)
        await step.runCommand(cmd)
        return Execution(rc=cmd.rc, cancelled=cmd.results() == CANCELLED,
                         timed_out=cmd.remote_failure_reason in ("timeout",
                                                                 "timeout_without_output"))

    async def fetch_file(self, step, remote_path, local_path, maxsize=None):
        if not await step.pathExists(remote_path):
            raise FileNotFoundError(remote_path)
        writer = remotetransfer.FileWriter(local_path, maxsize, 0o644)
        cmd = remotecommand.RemoteCommand("uploadFile", {
            "workersrc": remote_path, "writer": writer, "maxsize": maxsize,
            "blocksize": UPLOAD_BLOCK, "workdir": step.workdir, "keepstamp": False})
        await step.runCommand(cmd)
        if cmd.didFail():
            raise TransportError(f"could not upload {remote_path} from the worker")
        return True
