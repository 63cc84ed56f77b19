"""Base of every step that runs an agent subcommand on the DragonFly host.

The agent (``buildbot_vkckpt/agent``, a zipapp) reaches the host through the step's transport
(:mod:`buildbot_vkckpt.transports`): :class:`~buildbot_vkckpt.transports.worker.WorkerTransport`
(the Buildbot worker; the default) or
:class:`~buildbot_vkckpt.transports.ssh.SSHTransport` (a dedicated test host). There is one code
path: the zipapp is copied once per version (``transport.ensure_file``), then run as
``PYTHON vkckpt-agent-<sha>.pyz SUBCOMMAND --session DIR ...`` (``transport.execute``), its
output in the command's log, which reads as a transcript: its ``@@vkckpt`` events go to the
``agent-events`` log (steps/logs.py) and to
:class:`~buildbot_vkckpt.monitor.agentlog.AgentLogMonitor`; the final ``result`` event is a
protocol :class:`~buildbot_vkckpt.protocol.Result` whose fields (kind, cause, fix) make the
summary, and whose exit code the result (0 SUCCESS, 1 FAILURE, 2 WARNINGS, 3 SKIPPED,
4 EXCEPTION). Guest console lines go to a ``console`` log as they arrive.

Timeouts: a step's ``timeouts={phase: seconds}`` (steps/timeouts.py) reach the agent as
``--timeout``; such a command gets Buildbot's silence timeout as a backstop ``MARGIN`` seconds
above the agent's, so the agent's own timeout path, with its console tail and cleanup, always
runs first; the step's ``timeout`` applies to the commands the agent does not bound.

A lost test host (docs/ssh-transport.rst, "What host lost means"): lost or unreachable before
the vkernel starts, it is EXCEPTION ``infrastructure``; from the boot step on (the steps that
run with the vkernel, and shutdown/collect once the boot step set ``vkckpt_vkernel_started``)
it is FAILURE ``host lost``, since the kernel under test may be what crashed the host.

Steps that run several agent commands describe them as :class:`Phase` data and run them with
:meth:`AgentStep.run_phases`, each with a log of its own.
"""
import inspect
from dataclasses import dataclass, field
from typing import Callable, Optional

from buildbot import config as bb_config
from buildbot.process import buildstep
from buildbot.process.results import (CANCELLED, EXCEPTION, FAILURE, SKIPPED, SUCCESS,
                                      WARNINGS)
from buildbot.steps.worker import CompositeStepMixin
from twisted.internet import threads

from buildbot_vkckpt.monitor.agentlog import AgentLogMonitor
from buildbot_vkckpt.protocol import Kind, Result
from buildbot_vkckpt.steps.agentfile import agent_zipapp
from buildbot_vkckpt.steps.logs import (BACKTRACE_LOG, AgentLogsMixin, AgentObserver,
                                        ReportLogs, crash_of)
from buildbot_vkckpt.steps.report import FinalSummaryMixin, html_table
from buildbot_vkckpt.steps.timeouts import TimeoutsMixin
from buildbot_vkckpt.transports.base import Transport
from buildbot_vkckpt.transports.errors import (AuthenticationFailed, HostLost, HostUnreachable,
                                               TransportError, TransportTimeout)
from buildbot_vkckpt.transports.ssh import redact
from buildbot_vkckpt.transports.worker import WorkerTransport

AGENT_RESULTS = {0: SUCCESS, 1: FAILURE, 2: WARNINGS, 3: SKIPPED, 4: EXCEPTION}
SESSIONS_DIR = "vkckpt-sessions"
IMAGE_NAME = "vkckpt-root.img"
# Buildbot's backstop above the agent's own timeout (s); above the agent client's own +60 s
MARGIN = 120
VKERNEL_STARTED = "vkckpt_vkernel_started"

def describe(result):
    """A step summary from a protocol Result: ``kind: cause (fix: ...)``."""
    text = f"{result.kind.value}: {result.cause}" if result.kind is not None else result.cause
    if result.fix:
        text += f" (fix: {result.fix})"
    return text


@dataclass
class AgentCommand:
    """One finished agent command: exit code, events, Buildbot result and what stopped it."""
    subcommand: str
    rc: int
    monitor: AgentLogMonitor
    result: int = None            # the command's Buildbot result
    cancelled: bool = False
    timed_out: bool = False       # silent for ``silence`` s (Buildbot's or the transport's)
    silence: int = None           # the silence timeout this command ran with
    failure: object = None        # a TransportError when the host could not run it

    @property
    def host_lost(self):
        return isinstance(self.failure, HostLost)

    @property
    def outcome(self) -> Optional[Result]:
        """The agent's result (protocol Result), None when it printed none."""
        return self.monitor.outcome

    @property
    def details(self):
        return self.outcome.details if self.outcome is not None else {}

    @property
    def ok(self):
        return self.rc == 0 and self.outcome is not None and self.outcome.ok

    def metric(self, name):
        value = self.monitor.metrics.get(name)
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) \
            else None

    def checks(self):
        return list(self.monitor.checks)


@dataclass
class Phase:
    """One agent command of a step that runs several: ``log`` is its log, ``label`` what the
    live summary says while it runs, ``agent_timeout`` the agent's own (``--timeout``), and
    ``judge(command)`` None to go on or ``(result, summary)`` to end the step."""
    log: str
    subcommand: str
    args: object = field(default_factory=list)      # a list, or a callable giving one
    label: str = None
    agent_timeout: Optional[float] = None
    judge: Optional[Callable] = None


class AgentStep(TimeoutsMixin, AgentLogsMixin, FinalSummaryMixin, buildstep.ShellMixin,
                CompositeStepMixin, buildstep.BuildStep):
    """Runs one agent subcommand; subclasses set ``subcommand`` and implement ``agent_args``
    (and ``agent_timeout`` when the agent bounds the command itself).

    ``transport`` is a :class:`~buildbot_vkckpt.transports.base.Transport` (default: a
    WorkerTransport with ``python``). The interpreter is the transport's: give ``python``
    only without a transport. ``timeouts`` is ``{phase: seconds}`` for the phases in the
    class's ``timeout_phases`` (steps/timeouts.py)."""

    subcommand = None
    console_log = True
    # a test step's HTML report: the step's first log, then ``backtrace`` (steps/logs.py)
    report_log = None
    # True for steps that only run with the vkernel running (boot, guest commands, suite,
    # cycle): a lost host is then FAILURE "host lost". Other steps ask whether the boot step
    # started it (shutdown and collect after a boot; never the steps before it).
    runs_with_vkernel = False
    renderables = ["timeouts"]

    def __init__(self, python=None, transport=None, timeouts=None, **kwargs):
        transport = transport or WorkerTransport(python=python or "python3")
        if not isinstance(transport, Transport):
            bb_config.error(f"{type(self).__name__}: transport must be None (the Buildbot "
                            f"worker), a WorkerTransport or an SSHTransport, not {transport!r}")
        elif python is not None and python != transport.python:
            bb_config.error(f"{type(self).__name__}: python is the transport's: give "
                            f"{type(transport).__name__}(python={python!r}) instead")
        self.transport = transport
        kwargs.setdefault("logEnviron", False)
        kwargs.setdefault("decodeRC", dict(AGENT_RESULTS))
        kwargs = self.setup_timeouts(timeouts, kwargs)
        kwargs = self.setupShellMixin(kwargs, prohibitArgs=["command"])
        super().__init__(**kwargs)
        self.observer = AgentObserver(self)
        self._observers = {"stdio": self.observer}
        self.reports = None             # ReportLogs of a step with a ``report_log``
        self.crash = None               # (panic line, backtrace frames) once one was seen
        self._agent_path = None
        self._pending_console = []      # console lines before the console log opened
        self._live = None
        self._outcome = None            # the step's first problem: (Kind or None, cause, fix)

    # --- paths on the host that runs the agent ------------------------------------------------
    def worker_builddir(self):
        return self.getProperty("builddir") or "."

    def worker_path(self, *parts):
        """A path on the Buildbot worker (the source tree and objdir live there)."""
        return self.build.path_module.join(self.worker_builddir(), *parts)

    def builddir(self):
        """The builder's directory on the host that runs the agent."""
        return self.transport.builddir(self)

    def host_path(self, *parts):
        """A path on the host that runs the agent (the worker, or the SSH test host)."""
        return self.transport.join(self, self.builddir(), *parts)

    def session_dir(self):
        return self.host_path(SESSIONS_DIR, f"build-{self.getProperty('buildnumber')}")

    def agent_args(self):
        return []

    def agent_timeout(self):
        """The agent's own limit on this step's command (``--timeout``), or None."""
        return None

    def backstop(self, agent_timeout):
        """Buildbot's silence timeout for a command the agent bounds at ``agent_timeout`` s:
        always ``MARGIN`` above it; the step's ``timeout`` for a command it does not bound."""
        if agent_timeout is None:
            return self.timeout
        return int(float(agent_timeout)) + MARGIN

    # --- summaries ----------------------------------------------------------------------------
    def set_live(self, text):
        self._live = text
        self.updateSummary()

    def suite_progress(self, tap):
        """The guest suite's TAP results so far ({planned, done, failed}), as the console
        shows them; only the suite step says anything of them."""

    def getCurrentSummary(self):
        if self._live:
            return {"step": self._live}
        phase = self.observer.monitor.phase
        if phase:
            return {"step": f"{self.name}: {phase}"}
        return super().getCurrentSummary()

    def no_result(self, command):
        """The protocol Result of a command that printed none: an infrastructure problem."""
        fix = None if command.rc in AGENT_RESULTS else \
            f"is {self.transport.python} installed on the host?"
        return Result("infrastructure", f"agent exited {command.rc} without a result",
                      Kind.INFRASTRUCTURE, fix)

    def result_of(self, command):
        """The agent's Result, or the one :meth:`no_result` gives."""
        return command.outcome if command.outcome is not None else self.no_result(command)

    # --- run ----------------------------------------------------------------------------------
    async def ensure_agent(self):
        """The agent's path on the host that runs it; copied there once per version."""
        if self._agent_path is None:
            reactor = self.master.reactor
            local, sha, data = await threads.deferToThreadPool(
                reactor, reactor.getThreadPool(), agent_zipapp, self.master.basedir)
            self._agent_path = await self.transport.ensure_file(self, local, sha, data=data)
        return self._agent_path

    def agent_argv(self, agent, subcommand=None, args=None):
        subcommand = subcommand or self.subcommand
        args = self.agent_args() if args is None else args
        # -S: the agent is standard library only, so site-packages (and every .pth the host's
        # Python carries) is start-up time paid by each of the several commands of a cycle
        return [self.transport.python, "-S", agent, subcommand, "--session",
                self.session_dir()] + [str(a) for a in args]

    def _observer_for(self, logname):
        if logname not in self._observers:
            self._observers[logname] = AgentObserver(self)
        return self._observers[logname]

    async def run_agent_command(self, subcommand, args, logname="stdio", agent_timeout=None):
        """Runs one agent subcommand through the transport.

        Its output goes to log ``logname`` and a fresh event monitor; guest console lines to
        the ``console`` log. Buildbot's silence timeout is :meth:`backstop` of
        ``agent_timeout``. Transport errors do not raise: they come back as
        ``AgentCommand.failure``. ``self.observer`` follows the running command, so live
        summaries and ``metrics()`` read the latest command's events."""
        observer = self._observer_for(logname)
        observer.monitor = AgentLogMonitor()
        self.observer = observer
        silence = self.backstop(agent_timeout)
        command = AgentCommand(subcommand, None, observer.monitor, silence=silence)
        transcript = await self.open_transcript(logname, observer, f"{logname}: {subcommand}")
        if self.stopped:
            command.cancelled = True
        else:
            try:
                argv = self.agent_argv(await self.ensure_agent(), subcommand, args)
                done = await self.transport.execute(self, argv, logname, timeout=silence,
                                                    max_time=self.maxTime)
                command.rc, command.cancelled = done.rc, done.cancelled
                command.timed_out, command.failure = done.timed_out, done.failure
            except TransportError as e:
                command.failure = e
            except OSError as e:            # the local zipapp, or SFTP refused a path
                command.failure = TransportError(f"copying the agent to the host failed: {e}")
            command.cancelled = command.cancelled or (command.failure is not None
                                                      and bool(self.stopped))
        await transcript.flush()
        await self.console_closed(observer)
        if observer.monitor.dropped:
            await self.addCompleteLog(f"{logname}-dropped-events", (
                f"{observer.monitor.dropped} early events fell off the kept list; results, "
                f"metrics, checks, TAP and test logs are kept whole\n"))
        command.result = self._command_result(command)
        return command

    def _command_result(self, command):
        if command.cancelled:
            return CANCELLED
        if command.failure is not None:
            return self.transport_outcome(command)[0]
        if command.timed_out:
            return FAILURE
        if command.outcome is None:
            return EXCEPTION
        return AGENT_RESULTS.get(command.rc, EXCEPTION)

    async def run(self):
        if self.report_log is None:
            result = await self.run_checked()
            self.publish_outcome(result)
            return result
        self.reports = ReportLogs(self, self.report_log)
        await self.reports.open()
        try:
            result = await self.run_checked()
            self.publish_outcome(result)
            return result
        finally:
            await self.reports.close(html_table(self.name, (), (), note=self.final_summary
                                                or "the step ended before its report"))

    async def run_checked(self):
        """:meth:`run_agent`, unless the rendered ``timeouts`` are wrong."""
        problem = self.timeouts_problem()
        if problem:
            self.final_summary = f"configuration: {problem}"
            return EXCEPTION
        return await self.run_agent()

    async def run_agent(self):
        """The step's work; a step with several commands overrides it."""
        command = await self.run_agent_command(self.subcommand, self.agent_args(),
                                               agent_timeout=self.agent_timeout())
        return await self.finish_agent(command)

    def command_problem(self, command, what=None):
        """``(result, summary)`` of a command that did not end ok; the summary is built from
        the Result's fields. ``what`` names the command for steps that run several."""
        if command.failure is not None:
            return self.transport_outcome(command)
        if command.cancelled:
            return CANCELLED, "cancelled"
        if command.timed_out:
            tail = " | ".join(command.monitor.console_tail(3))
            where = f"timeout: {what}:" if what else f"timeout in {command.subcommand}:"
            cause = f"{where} no output for {command.silence} s; last console lines: {tail}"
            self.record_outcome(Kind.TIMEOUT, cause.split(": ", 1)[1])
            return FAILURE, cause
        result = self.result_of(command)
        self.record_outcome(result.kind, f"{what}: {result.cause}" if what else result.cause,
                            result.fix)
        summary = describe(result)
        if what and result.kind is not None:
            summary = describe(Result(result.status, f"{what}: {result.cause}", result.kind,
                                      result.fix))
        elif what:
            summary = f"{what}: {summary}"
        return command.result, summary

    async def finish_agent(self, command):
        """The step's result and summary from its one agent command."""
        if command.failure is not None:
            return await self.transport_failed(command)
        if command.cancelled:
            self.final_summary = "cancelled"
            return CANCELLED
        if command.timed_out or not command.ok:
            result, self.final_summary = self.command_problem(command)
        else:
            self.final_summary = describe(self.result_of(command))
        await self.publish(command.details, command.result)
        return command.result

    async def run_phases(self, phases):
        """Runs ``phases`` in order; stops at the first one whose command failed or whose
        ``judge`` says so. Returns ``(commands, problem)``: every command run, and
        ``(result, summary)`` of the one that ended the step, or None. A phase's ``args`` may
        be a callable (arguments known only after an earlier phase), its ``judge`` a
        coroutine function."""
        commands = []
        for phase in phases:
            if phase.label:
                self.set_live(phase.label)
            args = phase.args() if callable(phase.args) else phase.args
            command = await self.run_agent_command(phase.subcommand, args, phase.log,
                                                   phase.agent_timeout)
            commands.append(command)
            if command.failure is not None:
                result = await self.transport_failed(command)
                return commands, (result, self.final_summary)
            if command.cancelled:
                return commands, (CANCELLED, "cancelled")
            if phase.judge is not None:
                problem = phase.judge(command)
                if inspect.isawaitable(problem):
                    problem = await problem
            else:
                problem = None if command.ok else self.command_problem(command, phase.label)
            if problem is not None:
                await AgentStep.publish(self, command.details, problem[0])
                return commands, problem
        return commands, None

    # --- a lost or refusing host -----------------------------------------------------------
    def redact(self, text):
        return redact(text, self)

    def vkernel_started(self):
        """Did the vkernel start on the host (the boot step ran)? Only the boot step's own
        property counts."""
        props = self.build.getProperties()
        return bool(props.hasProperty(VKERNEL_STARTED) and props.getProperty(VKERNEL_STARTED)
                    and props.getPropertySource(VKERNEL_STARTED) == "boot")

    def transport_outcome(self, command):
        """(result, summary) of a command the host could not run to its end."""
        error = command.failure
        message = self.redact(str(error))
        tail = command.monitor.console_tail(3)
        last = f"; last console lines: {' | '.join(tail)}" if tail else ""
        if command.cancelled:
            return CANCELLED, "cancelled"
        if isinstance(error, TransportTimeout):
            cause = f"{message}; last console lines: {' | '.join(tail)}"
            self.record_outcome(Kind.TIMEOUT, f"in {command.subcommand}: {cause}")
            return FAILURE, f"timeout in {command.subcommand}: {cause}"
        if isinstance(error, HostLost):
            what = "host unreachable" if isinstance(error, HostUnreachable) else "host lost"
            if self.runs_with_vkernel or self.vkernel_started():
                self.record_outcome(Kind.HOST_LOST, f"{message}{last}")
                return FAILURE, f"{Kind.HOST_LOST.value}: {message}{last}"
            fix = "bring the test host up and make it reachable over SSH"
            self.record_outcome(Kind.INFRASTRUCTURE,
                                f"{what} before the vkernel started: {message}", fix)
            return EXCEPTION, (f"{Kind.INFRASTRUCTURE.value}: {what} before the vkernel "
                               f"started: {message} (fix: {fix})")
        if isinstance(error, AuthenticationFailed):
            fix = ("the transport's key= secret must be the private key whose public half is "
                   "in the host user's authorized_keys; passphrase= for an encrypted key")
            self.record_outcome(Kind.INFRASTRUCTURE, message, fix)
            return EXCEPTION, f"infrastructure: {message} (fix: {fix})"
        # HostKeyRejected and every other transport error
        self.record_outcome(Kind.INFRASTRUCTURE, message)
        return EXCEPTION, f"infrastructure: {message}"

    def record_outcome(self, kind, cause, fix=None):
        """The step's first problem, for ``vkckpt_outcome`` (notifications read it)."""
        if self._outcome is None:
            self._outcome = (kind, cause, fix)

    def publish_outcome(self, result):
        """``vkckpt_outcome`` = {step, kind, cause, fix} of the build's first red step: what
        broke, as fields (a kind is None when the step's own check, not an agent result,
        failed)."""
        if result not in (FAILURE, EXCEPTION):
            return
        if self.build.getProperties().hasProperty("vkckpt_outcome"):
            return
        kind, cause, fix = self._outcome or (None, self.final_summary or "", None)
        self.setProperty("vkckpt_outcome", {
            "step": self.name, "kind": kind.value if isinstance(kind, Kind) else kind,
            "cause": cause, "fix": fix}, self.name)

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
        # the worker's remote command is interrupted by Buildbot; SSH closes the channel and
        # the remote wrapper stops the agent's process group
        self.transport.interrupt(self)
        return d

    async def publish(self, details, result):
        """Subclasses add properties, logs and test results from the agent's result details
        and events (``self.observer.monitor``)."""
        crash = crash_of(details)
        if crash is not None:
            self.crash = crash
            panic, frames = crash
            if panic:
                self.setProperty("vkckpt_panic", panic, self.name)
            if frames:
                self.setProperty("vkckpt_backtrace", "\n".join(frames[:8]), self.name)
                self.setProperty("vkckpt_backtrace_log", BACKTRACE_LOG, self.name)
        backtrace = details.get("backtrace")
        if backtrace:
            text = "\n".join(map(str, backtrace)) + "\n"
            if self.reports is not None and self.reports.backtrace_text is None:
                self.reports.backtrace_text = text
            elif BACKTRACE_LOG not in self.logs:
                await self.addCompleteLog(BACKTRACE_LOG, text)
        block = details.get("panic_block") or details.get("block")
        if block:
            text = "\n".join(block) if isinstance(block, list) else str(block)
            await self.addCompleteLog("panic", text + "\n")
        tail = details.get("tail")
        if result not in (SUCCESS, SKIPPED) and tail:
            text = "\n".join(tail) if isinstance(tail, list) else str(tail)
            await self.addCompleteLog("last-console-lines", text + "\n")

    def metrics(self):
        return dict(self.observer.monitor.metrics)

    def infos(self):
        return dict(self.observer.monitor.info)
