"""BuildWorld and BuildKernel: DragonFly's ``make buildworld`` / ``make buildkernel`` as steps.

The command runs on the Buildbot worker in the source tree. Its output streams through
:class:`~buildbot_vkckpt.monitor.buildlog.BuildLogMonitor` as it arrives, which drives the live
summary (``stage 4b: building libraries (8/12) · 17 warnings``); at the end the step writes the
``errors`` and ``build-report.html`` logs, properties and test results from the monitor's report.

Two log modes. ``log_mode="digest"`` (the default): make runs under a small runner on the
worker (:mod:`buildbot_vkckpt.makedigest`, shipped as a zipapp like the agent) that streams
only what :class:`~buildbot_vkckpt.monitor.buildlogdigest.BuildLogDigest` keeps — banners, warnings,
errors, the first error's context and the last lines — and writes the whole output gzipped on
the worker; the step uploads that file to the master with Buildbot's file transfer when make
ends and points at it (log ``full-log``, property, optional URL). The monitor reads the digest
and reports exactly what it reports on the whole output. ``log_mode="full"``: stock streaming,
every byte into the ``stdio`` log, as Buildbot's ``Compile`` does.
"""
import hashlib
import io
import os
import re

from buildbot.process import buildstep, logobserver, remotecommand, remotetransfer
from buildbot.process.results import EXCEPTION, FAILURE, SUCCESS, WARNINGS

from buildbot_vkckpt import validate
from buildbot_vkckpt.fulllogs import url_for
from buildbot_vkckpt.makedigest import PREFIX as RUNNER_PREFIX
from buildbot_vkckpt.makedigest import build_zipapp
from buildbot_vkckpt.monitor.buildlog import BuildLogMonitor
from buildbot_vkckpt.steps.logs import ReadableHeaders
from buildbot_vkckpt.steps.report import FinalSummaryMixin, add_result_set, html_table
from buildbot_vkckpt.steps.timeouts import TimeoutsMixin

# rc 127 from the worker's shell: the command itself is missing — the host is not set up.
RC_NOT_FOUND = 127
LOG_MODES = ("digest", "full")
FULL_LOG_MAX = 4 * 1024 ** 3            # bytes of gzip accepted from the worker
TRANSFER_BLOCK = 256 * 1024

_runner_cache = {}


def runner_zipapp():
    """(bytes, sha256 hex) of the digest runner's zipapp, built once per master process."""
    if "data" not in _runner_cache:
        data = build_zipapp()
        _runner_cache["data"] = data
        _runner_cache["sha"] = hashlib.sha256(data).hexdigest()
    return _runner_cache["data"], _runner_cache["sha"]


class _MonitorObserver(logobserver.LogObserver):
    """Feeds stdout and stderr, in arrival order, to the build-output monitor."""

    def __init__(self, step):
        super().__init__()
        # the master's clock, so stage durations are when output reached the master (and
        # deterministic under a test reactor)
        self.monitor = BuildLogMonitor(clock=lambda: step.master.reactor.seconds())
        self._step = step
        self._last_summary = None
        # digest mode: stdout is make's output (stdout and stderr on one pipe, digested);
        # stderr carries only the runner's own lines
        self.digest = False
        self.runner_started = False

    def _feed(self, text):
        self.monitor.feed(text.encode("utf-8", "surrogateescape"))
        summary = self.monitor.live_summary()
        if summary != self._last_summary:
            self._last_summary = summary
            self._step.updateSummary()

    def outReceived(self, data):
        self._feed(data)

    def errReceived(self, data):
        if not self.digest:
            self._feed(data)
        elif not self.runner_started and RUNNER_PREFIX in data:
            self.runner_started = True

    def finishReceived(self):
        self.monitor.close()


class _MakeTarget(TimeoutsMixin, FinalSummaryMixin, buildstep.ShellMixin,
                  buildstep.CommandMixin, buildstep.BuildStep):
    """Common body of the two make steps; subclasses set ``target``, ``quick_target``,
    ``kind`` (the property prefix, also their phase in ``timeouts``) and ``name``.
    ``timeouts={kind: seconds}`` is Buildbot's silence timeout of make (ShellMixin's
    ``timeout``, which stays accepted on its own)."""

    target = None
    quick_target = None
    kind = None
    renderables = ["jobs", "make", "make_vars", "objdir", "incremental", "quick", "max_warnings",
                   "log_mode", "python", "tail_lines", "live_interval", "full_log_dest",
                   "full_log_url", "timeouts"]

    def __init__(self, jobs=None, make="make", make_vars=None, objdir=None, incremental=False,
                 quick=False, max_warnings=None, log_mode="digest", python="python3",
                 tail_lines=50, live_interval=10, full_log_dest=None, full_log_url=None,
                 timeouts=None, **kwargs):
        self.jobs = jobs
        self.make = make
        self.make_vars = make_vars or {}
        self.objdir = objdir
        self.incremental = incremental
        self.quick = quick
        self.max_warnings = max_warnings
        self.log_mode = log_mode
        self.python = python
        self.tail_lines = tail_lines
        self.live_interval = live_interval
        self.full_log_dest = full_log_dest
        self.full_log_url = full_log_url
        kwargs.setdefault("logEnviron", False)
        kwargs = self.setup_timeouts(timeouts, kwargs)
        kwargs = self.setupShellMixin(kwargs, prohibitArgs=["command"])
        super().__init__(**kwargs)
        self._check_config()
        self.observer = _MonitorObserver(self)
        self.addLogObserver("stdio", self.observer)

    def _check_config(self):
        owner = type(self).__name__
        validate.positive_int(owner, "jobs", self.jobs)
        if not validate.renderable(self.make_vars) and not isinstance(self.make_vars, dict):
            validate.error(owner, "make_vars", "must be a dict of make variables")
        validate.positive_int(owner, "max_warnings", self.max_warnings, minimum=0)
        if not validate.renderable(self.log_mode) and self.log_mode not in LOG_MODES:
            validate.error(owner, "log_mode", f"must be one of {', '.join(LOG_MODES)}, "
                           f"not {self.log_mode!r}")
        validate.positive_int(owner, "tail_lines", self.tail_lines)
        interval = self.live_interval
        if not validate.renderable(interval) and (
                isinstance(interval, bool) or not isinstance(interval, (int, float))
                or interval <= 0):
            validate.error(owner, "live_interval", "must be a positive number of seconds")

    # --- command -----------------------------------------------------------------------------
    def make_args(self):
        """Extra arguments of the subclass (KERNCONF=...)."""
        return []

    def build_command(self):
        """The make command as an argv list: every value is its own item, never a shell string."""
        cmd = [self.make]
        if self.jobs:
            cmd += ["-j", str(self.jobs)]
        if self.incremental:
            cmd.append("-DNO_CLEAN")
        cmd.append(self.quick_target if self.quick else self.target)
        cmd += self.make_args()
        for name in sorted(self.make_vars):
            value = self.make_vars[name]
            cmd.append(f"-D{name}" if value is True else f"{name}={value}")
        return cmd

    def build_env(self):
        env = {}
        if self.objdir:
            env["MAKEOBJDIRPREFIX"] = str(self.objdir)
        return env

    # --- summaries ---------------------------------------------------------------------------
    def getCurrentSummary(self):
        text = self.observer.monitor.live_summary()
        return {"step": text or f"{self.target}: starting"}

    # --- digest mode: paths and the runner ---------------------------------------------------
    def worker_path(self, *parts):
        return self.build.path_module.join(self.getProperty("builddir") or ".", *parts)

    def _file_stem(self):
        return re.sub(r"[^A-Za-z0-9_.-]", "_", self.name)

    def worker_full_log(self):
        """The whole output, gzipped, on the worker (the builder directory; kept until the
        step runs again)."""
        return self.worker_path(f"{self._file_stem()}.log.gz")

    def master_full_log(self):
        if self.full_log_dest:
            return os.path.abspath(str(self.full_log_dest))
        base = getattr(self.master, "basedir", None) or "."
        return os.path.abspath(os.path.join(
            base, "artifacts", self.build.builder.name, str(self.getProperty("buildnumber")),
            f"{self._file_stem()}.log.gz"))

    async def ensure_runner(self):
        """The runner zipapp's path on the worker; downloaded when its hash is not there."""
        data, sha = runner_zipapp()
        dest = self.worker_path(f"vkckpt-makelog-{sha[:12]}.pyz")
        if not await self.pathExists(dest):
            cmd = remotecommand.RemoteCommand("downloadFile", {
                "maxsize": None, "reader": remotetransfer.FileReader(io.BytesIO(data)),
                "blocksize": 64 * 1024, "workdir": self.workdir, "mode": 0o644,
                "workerdest": dest})
            await self.runCommand(cmd)
            if cmd.didFail():
                raise buildstep.BuildStepFailed(f"could not copy the log runner to {dest}")
        return dest

    def digest_command(self, runner, make_argv):
        interval = self.live_interval
        interval = str(int(interval)) if float(interval).is_integer() else str(interval)
        # -S: the runner is standard library only (as the agent, AgentStep.agent_argv)
        return [self.python, "-S", runner, "--full-log", self.worker_full_log(),
                "--tail", str(self.tail_lines), "--interval", interval, "--"] + make_argv

    async def ship_full_log(self, make_argv):
        """Upload the gzipped whole output to the master and point at it; never changes the
        step's result (make's output decides that)."""
        src, target = self.worker_full_log(), self.master_full_log()
        command = " ".join(make_argv)
        if self.stopped:
            await self.addCompleteLog("full-log", (
                f"The step was stopped: the output of {command} so far stays on the worker, "
                f"{src} (gzip, possibly truncated: zcat still reads it).\n"))
            return None
        writer = remotetransfer.FileWriter(target, FULL_LOG_MAX, 0o644)
        cmd = remotecommand.RemoteCommand("uploadFile", {
            "workersrc": src, "writer": writer, "maxsize": FULL_LOG_MAX,
            "blocksize": TRANSFER_BLOCK, "workdir": self.workdir, "keepstamp": False})
        await self.runCommand(cmd)
        if cmd.didFail():
            writer.cancel()                      # no half-written file on the master
            await self.addCompleteLog("full-log", (
                f"The whole output of {command} could not be uploaded from the worker "
                f"({src}); the live log above has its banners, warnings, errors and last "
                f"lines.\n"))
            return None
        size = os.path.getsize(target)
        self.setProperty(f"vkckpt_{self.kind}_full_log", target, self.name)
        lines = [f"The whole output of {command}, gzipped ({size / 1e6:.1f} MB), is on the "
                 f"master:", "", f"    {target}", "",
                 f"Read it there with:  zcat {target} | less", "",
                 f"The worker keeps a copy until this step runs again: {src}"]
        url = str(self.full_log_url) if self.full_log_url else url_for(self.master, target)
        if url:
            await self.addURL(f"full log ({size / 1e6:.1f} MB gzip)", url)
            lines[1:1] = ["", f"    {url}"]
        await self.addCompleteLog("full-log", "\n".join(lines) + "\n")
        return target

    def getLog(self, name):
        log = super().getLog(name)
        return ReadableHeaders(log) if name == "stdio" else log

    # --- run ---------------------------------------------------------------------------------
    async def run(self):
        problem = self.timeouts_problem()
        if problem:
            self.final_summary = f"configuration: {problem}"
            return EXCEPTION
        make_argv = self.build_command()
        digest = self.log_mode == "digest"
        command = make_argv
        if digest:
            self.observer.digest = True
            command = self.digest_command(await self.ensure_runner(), make_argv)
        if "stdio" not in self.logs:           # made here so getLog wraps it (argv header)
            await self.addLog("stdio")
        cmd = await self.makeRemoteShellCommand(command=command, env=self.build_env())
        await self.runCommand(cmd)
        self.observer.monitor.close()
        report = self.observer.monitor.report()

        if digest and not self.observer.runner_started and cmd.rc != 0 \
                and report.state != "failed":
            self.final_summary = (f"infrastructure: the log runner did not start with "
                                   f"{self.python!r} on the worker (exit {cmd.rc}; fix: install "
                                   f"Python 3 there, set python=, or log_mode='full')")
            return EXCEPTION
        if cmd.rc == RC_NOT_FOUND and report.state != "failed":
            self.final_summary = (f"infrastructure: {self.make!r} not found on the worker "
                                   f"(fix: install it or set make=)")
            return EXCEPTION
        if digest:
            await self.ship_full_log(make_argv)
        if self.timed_out:
            last = report.stage_title or report.stage or "start"
            self.final_summary = (f"timeout in {self.target} ({last}): "
                                   f"no output for {self.timeout} s")

        await self._publish(report)
        result = cmd.results()
        if result == SUCCESS and report.state == "failed":
            result = FAILURE
        if result != SUCCESS and report.no_space and not self.timed_out:
            # a full disk is the host's problem, not the code's: infrastructure, with the fix
            where = self.objdir or "the build's object directory"
            self.final_summary = (f"infrastructure: disk full: {report.no_space} (fix: free "
                                  f"space where the build writes ({where}), see df -h)")
            return EXCEPTION
        if result == SUCCESS and self.max_warnings is not None \
                and report.warning_count > self.max_warnings:
            result = WARNINGS
        if not self.final_summary:
            self.final_summary = report.summary()
            if report.state == "succeeded" and 0 < len(report.warnings) < report.warning_count:
                # the warnings' test-result set and table hold one row per distinct warning
                self.final_summary += f" ({len(report.warnings)} distinct)"
            if result != SUCCESS and report.state != "failed" and cmd.rc:
                self.final_summary = f"make exited {cmd.rc} · " + self.final_summary
        return result

    async def _publish(self, report):
        prefix = f"vkckpt_{self.kind}"
        durations = {s["name"]: round(s["duration"], 3) for s in report.stages
                     if s.get("duration") is not None}
        src = self.name
        self.setProperty(f"{prefix}_state", report.state, src)
        self.setProperty(f"{prefix}_stage", report.stage, src)
        self.setProperty(f"{prefix}_warnings", report.warning_count, src)
        self.setProperty(f"{prefix}_stage_durations", durations, src)

        if report.first_error:
            err = report.first_error
            lines = [f"first error: {err.get('message')}"]
            if err.get("file"):
                lines.append(f"at {err['file']}:{err.get('line')}")
            if report.failing_target or report.failing_dir:
                lines.append(f"failing target: {report.failing_target} in {report.failing_dir}")
            if report.precondition:
                lines.append(f"message: {report.precondition}")
            lines.append("")
            lines += list(err.get("context") or [])
            await self.addCompleteLog("errors", "\n".join(lines) + "\n")

        await self.addHTMLLog("build-report.html", self._html(report))
        if report.warnings:
            await add_result_set(self, f"{self.target} compiler warnings", "code_issue", "message", [
                {"value": w.message, "test_name": w.flag or "warning",
                 "test_code_path": w.file, "line": w.line}
                for w in report.warnings])
        if durations:
            await add_result_set(self, f"{self.target} stage durations", "performance", "s", [
                {"value": f"{seconds:.3f}", "test_name": f"stage {name}"}
                for name, seconds in durations.items()])

    def _html(self, report):
        stages = html_table(
            f"{self.target}: {report.state}", ["stage", "title", "seconds"],
            [(s["name"], s.get("title"), s.get("duration")) for s in report.stages],
            note=report.summary())
        warnings = html_table(
            f"compiler warnings ({report.warning_count} total, {len(report.warnings)} distinct)",
            ["file", "line", "flag", "count", "message"],
            [(w.file, w.line, w.flag, w.count, w.message) for w in report.warnings[:500]])
        return stages + "\n" + warnings


class BuildWorld(_MakeTarget):
    """``make -j N buildworld`` (``quickworld`` with ``quick=True``)."""

    name = "buildworld"
    target = "buildworld"
    quick_target = "quickworld"
    kind = "world"
    timeout_phases = ("world",)
    silence_phase = "world"


class BuildKernel(_MakeTarget):
    """``make -j N KERNCONF=VKERNEL64 buildkernel`` (``quickkernel`` with ``quick=True``)."""

    name = "buildkernel"
    target = "buildkernel"
    quick_target = "quickkernel"
    kind = "kernel"
    timeout_phases = ("kernel",)
    silence_phase = "kernel"
    renderables = ["kernconf"]

    def __init__(self, kernconf="VKERNEL64", **kwargs):
        self.kernconf = kernconf
        super().__init__(**kwargs)
        validate.non_empty_str("BuildKernel", "kernconf", kernconf)

    def make_args(self):
        return [f"KERNCONF={self.kernconf}"]

