"""BuildWorld and BuildKernel: DragonFly's ``make buildworld`` / ``make buildkernel`` as steps.

The command runs on the Buildbot worker in the source tree. Its output streams through
:class:`~buildbot_vkckpt.monitor.buildlog.BuildLogMonitor` as it arrives, which drives the live
summary (``stage 4b: building libraries (8/12) · 17 warnings``); at the end the step writes the
``errors`` and ``build-report.html`` logs, properties and test results from the monitor's report.
"""
from buildbot.process import buildstep, logobserver
from buildbot.process.results import EXCEPTION, FAILURE, SUCCESS, WARNINGS

from buildbot_vkckpt import validate
from buildbot_vkckpt.monitor.buildlog import BuildLogMonitor
from buildbot_vkckpt.steps.report import FinalSummaryMixin, add_result_set, html_table

# rc 127 from the worker's shell: the command itself is missing — the host is not set up.
RC_NOT_FOUND = 127


class _MonitorObserver(logobserver.LogObserver):
    """Feeds stdout and stderr, in arrival order, to the build-output monitor."""

    def __init__(self, step):
        super().__init__()
        # the master's clock, so stage durations are when output reached the master (and
        # deterministic under a test reactor)
        self.monitor = BuildLogMonitor(clock=lambda: step.master.reactor.seconds())
        self._step = step
        self._last_summary = None

    def _feed(self, text):
        self.monitor.feed(text.encode("utf-8", "surrogateescape"))
        summary = self.monitor.report().live_summary()
        if summary != self._last_summary:
            self._last_summary = summary
            self._step.updateSummary()

    def outReceived(self, data):
        self._feed(data)

    def errReceived(self, data):
        self._feed(data)

    def finishReceived(self):
        self.monitor.close()


class _MakeTarget(FinalSummaryMixin, buildstep.ShellMixin, buildstep.BuildStep):
    """Common body of the two make steps; subclasses set ``target``, ``quick_target``,
    ``kind`` (the property prefix) and ``name``."""

    target = None
    quick_target = None
    kind = None
    renderables = ["jobs", "make", "make_vars", "objdir", "incremental", "quick", "max_warnings"]

    def __init__(self, jobs=None, make="make", make_vars=None, objdir=None, incremental=False,
                 quick=False, max_warnings=None, **kwargs):
        self.jobs = jobs
        self.make = make
        self.make_vars = make_vars or {}
        self.objdir = objdir
        self.incremental = incremental
        self.quick = quick
        self.max_warnings = max_warnings
        kwargs.setdefault("logEnviron", False)
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
        report = self.observer.monitor.report()
        text = report.live_summary()
        return {"step": text or f"{self.target}: starting"}

    # --- run ---------------------------------------------------------------------------------
    async def run(self):
        cmd = await self.makeRemoteShellCommand(command=self.build_command(),
                                                env=self.build_env())
        await self.runCommand(cmd)
        self.observer.monitor.close()
        report = self.observer.monitor.report()

        if cmd.rc == RC_NOT_FOUND and report.state != "failed":
            self.final_summary = (f"infrastructure: {self.make!r} not found on the worker "
                                   f"(fix: install it or set make=)")
            return EXCEPTION
        if self.timed_out:
            last = report.stage_title or report.stage or "start"
            self.final_summary = (f"timeout in {self.target} ({last}): "
                                   f"no output for {self.timeout} s")

        await self._publish(report)
        result = cmd.results()
        if result == SUCCESS and report.state == "failed":
            result = FAILURE
        if result == SUCCESS and self.max_warnings is not None \
                and report.warning_count > self.max_warnings:
            result = WARNINGS
        if not self.final_summary:
            self.final_summary = report.summary()
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


class BuildKernel(_MakeTarget):
    """``make -j N KERNCONF=VKERNEL64 buildkernel`` (``quickkernel`` with ``quick=True``)."""

    name = "buildkernel"
    target = "buildkernel"
    quick_target = "quickkernel"
    kind = "kernel"
    renderables = ["kernconf"]

    def __init__(self, kernconf="VKERNEL64", **kwargs):
        self.kernconf = kernconf
        super().__init__(**kwargs)
        validate.non_empty_str("BuildKernel", "kernconf", kernconf)

    def make_args(self):
        return [f"KERNCONF={self.kernconf}"]

