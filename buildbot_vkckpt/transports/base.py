"""The one interface through which a step runs agent commands on the DragonFly host.

Two transports implement it: :class:`~buildbot_vkckpt.transports.worker.WorkerTransport` (the
Buildbot worker that runs the build, the default) and
:class:`~buildbot_vkckpt.transports.ssh.SSHTransport` (a dedicated test host reached from the
master). A step holds exactly one of them and never asks which: paths, the interpreter, file
copies, running a command and interrupting it all go through these methods.
"""
from dataclasses import dataclass

from twisted.internet import defer

from buildbot_vkckpt.transports.errors import (CommandInterrupted, TransportError,
                                               TransportTimeout)


@dataclass
class Execution:
    """How one command ended on the host, as far as the transport can tell."""
    rc: int = None
    cancelled: bool = False
    timed_out: bool = False       # silent for ``timeout`` s (Buildbot's or the transport's)
    failure: TransportError = None   # the host could not run it to its end


class Transport:
    """What every transport provides; ``python`` is the interpreter that runs the agent."""

    python = "python3"

    def describe(self):
        raise NotImplementedError

    def builddir(self, step):
        """The builder's directory on the host that runs the agent."""
        raise NotImplementedError

    def join(self, step, *parts):
        """A path on that host."""
        raise NotImplementedError

    async def ensure_file(self, step, local_path, sha256hex):
        """Copy a master-side file to the host unless the same version is there; its path."""
        raise NotImplementedError

    async def execute(self, step, argv, logname, timeout=None, max_time=None):
        """Run ``argv`` on the host with its output in the step's log ``logname`` (where the
        step's log observers read it); an :class:`Execution`. Never raises a TransportError."""
        raise NotImplementedError

    async def fetch_file(self, step, remote_path, local_path, maxsize=None):
        """Copy a file from the host to ``local_path`` on the master. Raises
        FileNotFoundError when it is absent, ValueError above ``maxsize``, TransportError."""
        raise NotImplementedError

    def interrupt(self, step):
        """The build was stopped: stop ``step``'s running command."""


class StreamingTransport(Transport):
    """A transport that runs commands itself (``run``) and streams their output through
    callbacks on the reactor thread; :meth:`execute` writes it into the step's log."""

    async def run(self, step, argv, on_stdout, on_stderr, timeout=None, max_time=None):
        raise NotImplementedError

    async def execute(self, step, argv, logname, timeout=None, max_time=None):
        try:
            log = step.getLog(logname)
        except KeyError:
            log = await step.addLog(logname)
        pending = set()

        def write(add, text):
            # called on the reactor thread (the transport's contract), already redacted
            d = add(text)
            pending.add(d)
            d.addBoth(lambda r: (pending.discard(d), r)[1])

        result = Execution()
        try:
            write(log.addHeader, step.redact(f"{self.describe()}: "
                                             f"{' '.join(map(str, argv))}\n"))
            result.rc = await self.run(step, argv, lambda text: write(log.addStdout, text),
                                       lambda text: write(log.addStderr, text),
                                       timeout=timeout, max_time=max_time)
        except TransportError as e:
            result.failure = e
        if pending:
            await defer.DeferredList(list(pending))
        failure = result.failure
        result.cancelled = failure is not None and (
            isinstance(failure, CommandInterrupted) or bool(step.stopped))
        result.timed_out = isinstance(failure, TransportTimeout)
        return result
