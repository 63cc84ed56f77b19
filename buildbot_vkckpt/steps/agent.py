"""Base of every step that runs an agent subcommand on the DragonFly host.

The agent (``buildbot_vkckpt/agent``, a zipapp) is uploaded to the worker when its hash changed
(its file name carries the hash), then run as ``python3 vkckpt-agent-<sha>.pyz SUBCOMMAND
--session DIR ...`` — always as an argv list. Its ``@@vkckpt`` events are read by
:class:`~buildbot_vkckpt.monitor.agentlog.AgentLogMonitor`; the final ``result`` event becomes the
step's summary, and the exit code its result (0 SUCCESS, 1 FAILURE, 2 WARNINGS, 3 SKIPPED,
4 EXCEPTION). Guest console lines go to a ``console`` log as they arrive.

With ``transport=SSHTransport(...)`` the agent runs on a dedicated test host over SSH instead
(docs/ssh-transport.rst): the zipapp is copied by ``ensure_file``, output streams into the same
log and observer, and the session, image and agent live under the transport's ``workdir`` on
that host. A lost host ends the step FAILURE ``host lost``; a rejected host key or key is an
EXCEPTION of kind ``infrastructure``.

Every agent command, on the worker or over SSH, goes through
:meth:`AgentStep.run_agent_command`; steps that run several (the guest suite, the checkpoint
cycle) call it once per command, each with a log of its own.
"""
import os
import posixpath
import re
import tempfile
from dataclasses import dataclass

from buildbot.process import buildstep, logobserver, remotecommand, remotetransfer
from buildbot.process.results import (CANCELLED, EXCEPTION, FAILURE, SKIPPED, SUCCESS,
                                      WARNINGS)
from twisted.internet import defer

from buildbot_vkckpt.monitor.agentlog import AgentLogMonitor
from buildbot_vkckpt.steps.report import FinalSummaryMixin
from buildbot_vkckpt.transports.errors import (AuthenticationFailed, CommandInterrupted,
                                               HostLost, HostUnreachable, TransportError,
                                               TransportTimeout)
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


@dataclass
class AgentCommand:
    """One finished agent command: exit code, events, Buildbot result and what stopped it."""
    subcommand: str
    rc: int
    monitor: AgentLogMonitor
    result: int = None            # the exit code (or the failure) as a Buildbot result
    cancelled: bool = False
    timed_out: bool = False       # silent for ``silence`` s (Buildbot's or the transport's)
    silence: int = None           # the silence timeout this command ran with
    failure: object = None        # a TransportError when the SSH host could not run it

    @property
    def host_lost(self):
        return isinstance(self.failure, HostLost)

    @property
    def events(self):
        return self.monitor.events

    @property
    def outcome(self):
        return self.monitor.result or {}

    @property
    def details(self):
        return self.outcome.get("details") or {}

    @property
    def ok(self):
        return self.rc == 0 and self.outcome.get("status") == "ok"

    def metric(self, name):
        value = None
        for ev in self.monitor.events:
            if ev.get("ev") == "metric" and ev.get("name") == name:
                value = ev.get("value")
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) \
            else None

    def checks(self):
        return [ev for ev in self.monitor.events
                if ev.get("ev") == "check" and isinstance(ev.get("name"), str)]


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
    """Runs one agent subcommand; subclasses set ``subcommand`` and implement ``agent_args``.

    Steps that run several agent commands call :meth:`run_agent_command` once per command."""

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
        self._observers = {"stdio": self.observer}
        self._agent_path = None
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
        """The agent's path on the host that runs it; uploaded (or copied over SSH) once per
        step."""
        if self._agent_path is not None:
            return self._agent_path
        local, sha = agent_zipapp()
        if self.transport is not None:
            self._agent_path = await self.transport.ensure_file(self, local, sha)
            return self._agent_path
        dest = self.worker_path(f"vkckpt-agent-{sha[:12]}.pyz")
        if not await self.pathExists(dest):
            with open(local, "rb") as fp:
                args = {"maxsize": None, "reader": remotetransfer.FileReader(fp),
                        "blocksize": 64 * 1024, "workdir": self.workdir, "mode": 0o644,
                        "workerdest": dest}
                cmd = remotecommand.RemoteCommand("downloadFile", args)
                await self.runCommand(cmd)
            if cmd.didFail():
                raise buildstep.BuildStepFailed(f"could not upload the agent to {dest}")
        self._agent_path = dest
        return dest

    def agent_argv(self, agent, subcommand=None, args=None):
        python = self.transport.python if self.transport is not None else self.python
        subcommand = subcommand or self.subcommand
        args = self.agent_args() if args is None else args
        return [python, agent, subcommand, "--session", self.session_dir()] + \
            [str(a) for a in args]

    async def open_console_log(self):
        if self.console_log and self._console_log is None:
            self._console_log = await self.addLog("console")
            for text in self._pending_console:
                self._console_log.addStdout(text)
            self._pending_console = []

    def _observer_for(self, logname):
        if logname not in self._observers:
            self._observers[logname] = _AgentObserver(self)
            self.addLogObserver(logname, self._observers[logname])
        return self._observers[logname]

    async def run_agent_command(self, subcommand, args, logname="stdio", timeout=None):
        """Runs one agent subcommand on the worker or through the transport.

        Its output goes to log ``logname`` and a fresh event monitor; guest console lines to
        the ``console`` log. ``timeout`` is Buildbot's (or the transport's) silence timeout,
        ``self.timeout`` when None. Transport errors do not raise: they come back as
        ``AgentCommand.failure``. ``self.observer`` follows the running command, so live
        summaries and ``metrics()`` read the latest command's events."""
        await self.open_console_log()
        observer = self._observer_for(logname)
        observer.monitor = AgentLogMonitor()
        self.observer = observer
        silence = self.timeout if timeout is None else timeout
        command = AgentCommand(subcommand, None, observer.monitor, silence=silence)
        if self.stopped:
            command.cancelled = True
        elif self.transport is None:
            agent = await self.ensure_agent()
            cmd = await self.makeRemoteShellCommand(
                command=self.agent_argv(agent, subcommand, args), stdioLogName=logname,
                timeout=silence)
            await self.runCommand(cmd)
            command.rc = cmd.rc
            command.cancelled = cmd.results() == CANCELLED
            command.timed_out = cmd.remote_failure_reason in ("timeout",
                                                              "timeout_without_output")
        else:
            await self._run_over_transport(command, subcommand, args, logname, silence)
        observer.monitor.close()
        command.result = self._command_result(command)
        return command

    async def _run_over_transport(self, command, subcommand, args, logname, silence):
        try:
            log = self.getLog(logname)
        except KeyError:
            log = await self.addLog(logname)
        pending = set()

        def write(add, text):
            # called on the reactor thread (the transport's contract), already redacted
            d = add(text)
            pending.add(d)
            d.addBoth(lambda r: (pending.discard(d), r)[1])

        try:
            argv = self.agent_argv(await self.ensure_agent(), subcommand, args)
            write(log.addHeader, self.redact(f"{self.transport.describe()}: "
                                             f"{' '.join(map(str, argv))}\n"))
            command.rc = await self.transport.run(
                self, argv, lambda text: write(log.addStdout, text),
                lambda text: write(log.addStderr, text), timeout=silence,
                max_time=self.maxTime)
        except TransportError as e:
            command.failure = e
        except OSError as e:            # the local zipapp, or SFTP refused a path
            command.failure = TransportError(f"copying the agent to the host failed: {e}")
        if pending:
            await defer.DeferredList(list(pending))
        failure = command.failure
        command.cancelled = failure is not None and (
            isinstance(failure, CommandInterrupted) or bool(self.stopped))
        command.timed_out = isinstance(failure, TransportTimeout)

    def _command_result(self, command):
        if command.cancelled:
            return CANCELLED
        if command.failure is not None:
            return self.transport_outcome(command)[0]
        if command.timed_out:
            return FAILURE
        return AGENT_RESULTS.get(command.rc, EXCEPTION)

    async def run(self):
        command = await self.run_agent_command(self.subcommand, self.agent_args())
        return await self.finish_agent(command)

    async def finish_agent(self, command):
        """The step's result and summary from its one agent command."""
        if command.failure is not None:
            return await self.transport_failed(command)
        if command.cancelled:
            self.final_summary = "cancelled"
            return CANCELLED
        result_event = command.outcome
        if command.timed_out:
            tail = " | ".join(command.monitor.console_tail(3))
            self.final_summary = (f"timeout in {command.subcommand}: no output for "
                                   f"{command.silence} s; last console lines: {tail}")
        else:
            self.final_summary = self.describe_result(command.monitor.result, command.rc)
        await self.publish(result_event, command.result)
        return command.result

    # --- over SSH ---------------------------------------------------------------------------
    def redact(self, text):
        return redact(text, self)

    def transport_outcome(self, command):
        """(result, summary) of a command the SSH host could not run to its end."""
        error = command.failure
        message = self.redact(str(error))
        tail = command.monitor.console_tail(3)
        last = f"; last console lines: {' | '.join(tail)}" if tail else ""
        if command.cancelled:
            return CANCELLED, "cancelled"
        if isinstance(error, TransportTimeout):
            return FAILURE, (f"timeout in {command.subcommand}: {message}; last console "
                             f"lines: {' | '.join(tail)}")
        if isinstance(error, HostUnreachable):
            return FAILURE, f"host unreachable: {message}"
        if isinstance(error, HostLost):
            return FAILURE, f"host lost: {message}{last}"
        if isinstance(error, AuthenticationFailed):
            return EXCEPTION, (f"infrastructure: {message} (fix: the transport's key= secret "
                               f"must be the private key whose public half is in the host "
                               f"user's authorized_keys; passphrase= for an encrypted key)")
        # HostKeyRejected and every other transport error
        return EXCEPTION, f"infrastructure: {message}"

    async def transport_failed(self, command):
        """Ends the step with a transport failure's outcome (and the console tail of a lost
        host as ``last-console-lines``)."""
        result, summary = self.transport_outcome(command)
        tail = command.monitor.console_tail(5)
        if tail and command.host_lost and not isinstance(command.failure, HostUnreachable):
            await self.addCompleteLog("last-console-lines", "\n".join(tail) + "\n")
        if result == FAILURE and isinstance(command.failure, TransportTimeout):
            self.timed_out = True
        self.final_summary = summary
        return result

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
