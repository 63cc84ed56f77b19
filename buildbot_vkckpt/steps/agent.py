"""Base of every step that runs an agent subcommand on the DragonFly host.

The agent (``buildbot_vkckpt/agent``, a zipapp) is uploaded to the worker when its hash changed
(its file name carries the hash), then run as ``python3 vkckpt-agent-<sha>.pyz SUBCOMMAND
--session DIR ...`` — always as an argv list. Its ``@@vkckpt`` events are read by
:class:`~buildbot_vkckpt.monitor.agentlog.AgentLogMonitor`; the final ``result`` event becomes the
step's summary, and the exit code its result (0 SUCCESS, 1 FAILURE, 2 WARNINGS, 3 SKIPPED,
4 EXCEPTION). Guest console lines go to a ``console`` log as they arrive.

With ``transport=SSHTransport(...)`` the agent runs on a dedicated test host over SSH instead
(docs/ssh-transport.rst): the zipapp is copied by ``ensure_file``, output streams into the same
``stdio`` log and observer, and the session, image and agent live under the transport's
``workdir`` on that host. A lost host ends the step FAILURE ``host lost``; a rejected host key or
key is an EXCEPTION of kind ``infrastructure``.
"""
import os
import posixpath
import re
import tempfile

from buildbot.process import buildstep, logobserver, remotecommand, remotetransfer
from buildbot.process.results import (CANCELLED, EXCEPTION, FAILURE, SKIPPED, SUCCESS,
                                      WARNINGS)
from twisted.internet import defer

from buildbot_vkckpt.monitor.agentlog import AgentLogMonitor
from buildbot_vkckpt.steps.report import FinalSummaryMixin
from buildbot_vkckpt.transports.errors import (AuthenticationFailed, CommandInterrupted,
                                               HostKeyRejected, HostLost, HostUnreachable,
                                               TransportError, TransportTimeout)
from buildbot_vkckpt.transports.ssh import redact

AGENT_RESULTS = {0: SUCCESS, 1: FAILURE, 2: WARNINGS, 3: SKIPPED, 4: EXCEPTION}
SESSIONS_DIR = "vkckpt-sessions"
IMAGE_NAME = "vkckpt-root.img"

_zipapp_cache = {}


def agent_zipapp():
    """Build the agent zipapp once per master process; returns (path, sha256)."""
    if "path" not in _zipapp_cache:
        from buildbot_vkckpt.agent.zipapp import build_zipapp
        path = os.path.join(tempfile.mkdtemp(prefix="vkckpt-agent-"), "vkckpt-agent.pyz")
        _zipapp_cache["sha"] = build_zipapp(path)
        _zipapp_cache["path"] = path
    return _zipapp_cache["path"], _zipapp_cache["sha"]


class _AgentObserver(logobserver.LogObserver):
    """Feeds the agent monitor; copies guest console lines into the ``console`` log."""

    def __init__(self, step):
        super().__init__()
        self.monitor = AgentLogMonitor()
        self._step = step

    def outReceived(self, data):
        self.monitor.feed(data.encode("utf-8", "surrogateescape"))
        console = self.monitor.take_console()
        if console:
            self._step.console_lines("\n".join(console) + "\n")

    def finishReceived(self):
        self.monitor.close()
        console = self.monitor.take_console()
        if console:
            self._step.console_lines("\n".join(console) + "\n")


class AgentStep(FinalSummaryMixin, buildstep.ShellMixin, buildstep.CommandMixin,
                buildstep.BuildStep):
    """Runs one agent subcommand; subclasses set ``subcommand`` and implement ``agent_args``."""

    subcommand = None
    console_log = True
    renderables = ["python"]

    def __init__(self, python="python3", transport=None, **kwargs):
        self.python = python
        # None and "worker" both mean the Buildbot worker
        self.transport = None if transport in (None, "worker") else transport
        kwargs.setdefault("logEnviron", False)
        kwargs.setdefault("decodeRC", dict(AGENT_RESULTS))
        kwargs = self.setupShellMixin(kwargs, prohibitArgs=["command"])
        super().__init__(**kwargs)
        self.observer = _AgentObserver(self)
        self.addLogObserver("stdio", self.observer)
        self._console_log = None
        self._pending_console = []

    # --- paths ------------------------------------------------------------------------------
    # On the worker: relative to the builder directory, made absolute there. Over SSH: the
    # agent's files (sessions, image, zipapp) live under ``transport.workdir/<builder dir>`` on
    # the test host, while the source tree and objdir are the worker's paths, which the test
    # host must see at the same place (docs/ssh-transport.rst, "shared path").
    def worker_builddir(self):
        return self.getProperty("builddir") or "."

    def worker_path(self, *parts):
        return self.build.path_module.join(self.worker_builddir(), *parts)

    def builddir(self):
        """The builder's directory on the host that runs the agent."""
        if self.transport is None:
            return self.worker_builddir()
        config = getattr(self.build.builder, "config", None)
        name = getattr(config, "workerbuilddir", None) or self.build.builder.name
        return posixpath.join(self.transport.workdir, re.sub(r"[^A-Za-z0-9_.-]", "_", name))

    def host_path(self, *parts):
        """A path on the host that runs the agent (the worker, or the SSH test host)."""
        if self.transport is None:
            return self.worker_path(*parts)
        return posixpath.join(self.builddir(), *parts)

    def session_dir(self):
        return self.host_path(SESSIONS_DIR, f"build-{self.getProperty('buildnumber')}")

    def agent_args(self):
        return []

    # --- console log -----------------------------------------------------------------------
    def console_lines(self, text):
        if self._console_log is not None:
            self._console_log.addStdout(text)
        else:
            self._pending_console.append(text)

    # --- summaries -------------------------------------------------------------------------
    def getCurrentSummary(self):
        events = self.observer.monitor.events
        for ev in reversed(events):
            if ev.get("ev") == "phase":
                return {"step": f"{self.name}: {ev.get('name')}"}
        return super().getCurrentSummary()

    def describe_result(self, result_event, rc):
        if not result_event:
            if rc in AGENT_RESULTS:
                return f"agent exited {rc} without a result"
            return (f"infrastructure: agent exited {rc} without a result "
                    f"(is {self.python} installed on the host?)")
        summary = result_event.get("summary") or ""
        kind = result_event.get("kind")
        if kind and not summary.startswith(kind):
            summary = f"{kind}: {summary}"
        if result_event.get("fix"):
            summary += f" (fix: {result_event['fix']})"
        return summary

    # --- run -------------------------------------------------------------------------------
    async def ensure_agent(self):
        local, sha = agent_zipapp()
        if self.transport is not None:
            return await self.transport.ensure_file(self, local, sha)
        dest = self.worker_path(f"vkckpt-agent-{sha[:12]}.pyz")
        if await self.pathExists(dest):
            return dest
        with open(local, "rb") as fp:
            args = {"maxsize": None, "reader": remotetransfer.FileReader(fp),
                    "blocksize": 64 * 1024, "workdir": self.workdir, "mode": 0o644,
                    "workerdest": dest}
            cmd = remotecommand.RemoteCommand("downloadFile", args)
            await self.runCommand(cmd)
        if cmd.didFail():
            raise buildstep.BuildStepFailed(f"could not upload the agent to {dest}")
        return dest

    def agent_argv(self, agent):
        python = self.transport.python if self.transport is not None else self.python
        argv = [python, agent, self.subcommand, "--session", self.session_dir()]
        return argv + [str(a) for a in self.agent_args()]

    async def run(self):
        if self.console_log:
            self._console_log = await self.addLog("console")
            for text in self._pending_console:
                self._console_log.addStdout(text)
        if self.transport is not None:
            return await self.run_over_transport()
        agent = await self.ensure_agent()
        cmd = await self.makeRemoteShellCommand(command=self.agent_argv(agent))
        await self.runCommand(cmd)
        self.observer.monitor.close()
        if cmd.results() == CANCELLED:
            self.final_summary = "cancelled"
            return CANCELLED
        return await self.finish_agent(cmd.rc)

    async def finish_agent(self, rc):
        result_event = self.observer.monitor.result
        result = AGENT_RESULTS.get(rc, EXCEPTION)
        if self.timed_out:
            result = FAILURE
            tail = " | ".join(self.observer.monitor.console_tail(3))
            self.final_summary = (f"timeout in {self.subcommand}: no output for "
                                   f"{self.timeout} s; last console lines: {tail}")
        else:
            self.final_summary = self.describe_result(result_event, rc)
        await self.publish(result_event or {}, result)
        return result

    # --- over SSH ---------------------------------------------------------------------------
    def redact(self, text):
        return redact(text, self)

    async def run_over_transport(self):
        """The agent on the SSH test host; transport failures become the step's outcome."""
        stdio = await self.addLog("stdio")
        pending = set()

        def write(add, text):
            # called on the reactor thread (the transport's contract), already redacted
            d = add(text)
            pending.add(d)
            d.addBoth(lambda r: (pending.discard(d), r)[1])

        rc, failure = None, None
        try:
            agent = await self.ensure_agent()
            argv = self.agent_argv(agent)
            write(stdio.addHeader, self.redact(f"{self.transport.describe()}: "
                                               f"{' '.join(map(str, argv))}\n"))
            rc = await self.transport.run(
                self, argv, lambda text: write(stdio.addStdout, text),
                lambda text: write(stdio.addStderr, text),
                timeout=self.timeout, max_time=self.maxTime)
        except TransportError as e:
            failure = e
        except OSError as e:            # the local zipapp, or SFTP refused a path
            failure = TransportError(f"copying the agent to the host failed: {e}")
        if pending:
            await defer.DeferredList(list(pending))
        await stdio.finish()
        self.observer.monitor.close()
        if failure is None:
            return await self.finish_agent(rc)
        return await self.transport_failed(failure)

    async def transport_failed(self, error):
        message = self.redact(str(error))
        tail = self.observer.monitor.console_tail(5)
        if isinstance(error, CommandInterrupted) or self.stopped:
            self.final_summary = "cancelled"
            return CANCELLED
        if isinstance(error, TransportTimeout):
            self.timed_out = True
            self.final_summary = (f"timeout in {self.subcommand}: {message}; last console "
                                   f"lines: {' | '.join(tail[-3:])}")
            return FAILURE
        if isinstance(error, HostUnreachable):
            self.final_summary = f"host unreachable: {message}"
            return FAILURE
        if isinstance(error, HostLost):
            summary = f"host lost: {message}"
            if tail:
                summary += f"; last console lines: {' | '.join(tail[-3:])}"
                await self.addCompleteLog("last-console-lines", "\n".join(tail) + "\n")
            self.final_summary = summary
            return FAILURE
        if isinstance(error, HostKeyRejected):
            self.final_summary = f"infrastructure: {message}"
            return EXCEPTION
        if isinstance(error, AuthenticationFailed):
            self.final_summary = (f"infrastructure: {message} (fix: the transport's key= "
                                   f"secret must be the private key whose public half is in "
                                   f"the host user's authorized_keys; passphrase= for an "
                                   f"encrypted key)")
            return EXCEPTION
        self.final_summary = f"infrastructure: {message}"
        return EXCEPTION

    def interrupt(self, reason):
        d = super().interrupt(reason)
        if self.transport is not None:
            # closes the channel; the remote wrapper stops the agent's process group
            self.transport.interrupt(self)
        return d

    async def publish(self, result_event, result):
        """Subclasses add properties, logs and test results from the agent's events."""
        details = result_event.get("details") or {}
        backtrace = details.get("backtrace")
        if backtrace:
            await self.addCompleteLog("backtrace", "\n".join(map(str, backtrace)) + "\n")
        block = details.get("panic_block") or details.get("block")
        if block:
            text = "\n".join(block) if isinstance(block, list) else str(block)
            await self.addCompleteLog("panic", text + "\n")
        tail = details.get("tail")
        if result not in (SUCCESS, SKIPPED) and tail:
            text = "\n".join(tail) if isinstance(tail, list) else str(tail)
            await self.addCompleteLog("last-console-lines", text + "\n")

    def metrics(self):
        return {ev["name"]: ev.get("value") for ev in self.observer.monitor.events
                if ev.get("ev") == "metric" and "name" in ev}

    def infos(self):
        merged = {}
        for ev in self.observer.monitor.events:
            if ev.get("ev") == "info":
                merged.update({k: v for k, v in ev.items() if k != "ev"})
        return merged
