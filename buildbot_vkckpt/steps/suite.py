"""GuestCheckpointSuite: the guest checkpoint suite, built and run inside the booted vkernel.

Three agent commands, each with its own log:

``build``   ``exec``: ``sh build.sh`` in the suite directory of the guest (the world's ``cc``)
``stdio``   ``exec``: ``sh run.sh --results-disk /dev/vkd1 ...`` (TAP streams on the console)
``results`` ``results``: the TAP as the guest left it on the results disk — the only source of
            the verdicts; what the console showed is never parsed for them

The suite lives where ``vkckpt-agent image --suite`` put it, addressed from root's home
(``$HOME/../usr/vkckpt``) so the same line works in a DragonFly guest (``/root``) and in the
simulated one, whose root is a directory of the host. With ``transport=`` the three commands run
on the SSH test host like every AgentStep's. See docs/steps.rst.
"""
from dataclasses import dataclass, field

from buildbot.process.results import (CANCELLED, EXCEPTION, FAILURE, SUCCESS, WARNINGS,
                                      worst_status)

from buildbot_vkckpt import validate
from buildbot_vkckpt.agent.image import GUEST_SUITE_DIR
from buildbot_vkckpt.steps.agent import AgentStep
from buildbot_vkckpt.steps.report import add_result_set, html_table
from buildbot_vkckpt.suite import list_tests, parse_tap_report

RESULTS_DISK = "/dev/vkd1"
# flavours whose kernel carries the 2013 GSoC checkpoint work (docs/flavours.rst): the guest
# suite's pass_with=vkernel_chkpt tests (threads, kqueue) must pass there
GSOC_FLAVOURS = ("gsoc2013", "master-with-port")


def kernel_features(step):
    """``--kernel-has`` words for the kernel BootVkernel booted; only the boot step's own
    ``vkckpt_flavour`` counts (a change may carry a property of that name)."""
    props = step.build.getProperties()
    if not props.hasProperty("vkckpt_flavour") or props.getPropertySource("vkckpt_flavour") \
            != "boot":
        return []
    return ["vkernel_chkpt"] if props.getProperty("vkckpt_flavour") in GSOC_FLAVOURS else []
# a test whose outcome is one of these is as expected: "1" in the pass_fail set
EXPECTED = ("pass", "xfail")


@dataclass
class SuiteVerdict:
    """What one suite run's TAP means for the step."""
    result: int
    summary: str
    rows: list = field(default_factory=list)      # (name, outcome, expect, cycles, ms, message)
    counts: dict = field(default_factory=dict)


def _plural(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"


def evaluate(report, expected_names, iterations, nocr=False):
    """Turn a parsed TAP report into the step's result, summary and table rows.

    ``expected_names`` are the tests in the order run.sh runs them: they name planned tests
    whose result line never arrived."""
    rows = []
    for r in report.results:
        outcome = r.outcome
        rows.append((r.name or f"#{r.number}", outcome,
                     r.diagnostics.get("expect", "xfail" if r.todo else "pass"),
                     r.diagnostics.get("cycles", ""), r.duration_ms, r.message))
    missing = []
    # after a bail-out the rest never ran: no verdict on them (the step is an EXCEPTION)
    for number in ([] if report.bail_out is not None else report.missing):
        name = expected_names[number - 1] if 0 < number <= len(expected_names) else f"#{number}"
        missing.append(name)
        rows.append((name, "missing", "", "", None, "no result line in the TAP"))
    outcomes = [row[1] for row in rows]
    counts = {k: outcomes.count(k) for k in ("pass", "fail", "xfail", "xpass", "skip")}
    counts["missing"] = len(missing)
    text = f"{counts['pass']} passed, {counts['fail']} failed, {counts['xfail']} xfail"
    if counts["xpass"]:
        text += f", {counts['xpass']} unexpectedly passed"
    if counts["skip"]:
        text += f", {counts['skip']} skipped"
    text += " · " + ("no checkpoint (nocr)" if nocr else _plural(iterations, "iteration"))

    if report.bail_out is not None:
        return SuiteVerdict(EXCEPTION, f"infrastructure: the suite bailed out: "
                            f"{report.bail_out or 'no reason given'}", rows, counts)
    if report.plan is None and not report.results:
        return SuiteVerdict(EXCEPTION, "infrastructure: unreadable TAP on the results disk "
                            "(no plan, no test lines)", rows, counts)
    failed = [row[0] for row in rows if row[1] == "fail"]
    if failed or missing:
        problems = []
        if failed:
            problems.append("failed: " + ", ".join(failed))
        if missing:
            problems.append("no result: " + ", ".join(missing))
        return SuiteVerdict(FAILURE, f"kernel: {text} · {' · '.join(problems)}", rows, counts)
    xpassed = [row[0] for row in rows if row[1] == "xpass"]
    if xpassed:
        return SuiteVerdict(WARNINGS, f"{text} · unexpectedly passed: {', '.join(xpassed)} "
                            f"(update their expect=)", rows, counts)
    if not rows:
        return SuiteVerdict(FAILURE, "kernel: the TAP holds no tests", rows, counts)
    return SuiteVerdict(SUCCESS, text, rows, counts)


class GuestCheckpointSuite(AgentStep):
    """Builds the guest suite in the booted vkernel, runs it, reads its TAP from the results
    disk and records one ``pass_fail`` test result per test."""

    name = "guest-suite"
    subcommand = "exec"
    renderables = ["iterations", "only", "nocr", "build_timeout", "run_timeout"]

    def __init__(self, iterations=1, only=None, nocr=False, build_suite=True, guest_dir=None,
                 results_dir="vkckpt-results", build_timeout=600, run_timeout=None, **kwargs):
        if isinstance(only, str):
            only = [n for n in only.split(",") if n.strip()]
        self.iterations = iterations
        self.only = list(only) if isinstance(only, (list, tuple)) else only
        self.nocr = nocr
        self.build_suite = build_suite
        self.guest_dir = guest_dir
        self.results_dir = results_dir
        self.build_timeout = build_timeout
        self.run_timeout = run_timeout
        super().__init__(**kwargs)
        validate.positive_int("GuestCheckpointSuite", "iterations", iterations,
                              allow_none=False)
        if isinstance(self.only, list):
            known = {t.name for t in list_tests()}
            unknown = [n for n in self.only if n not in known]
            if unknown or not self.only:
                validate.error("GuestCheckpointSuite", "only",
                               f"names unknown tests {', '.join(unknown) or '(none given)'}; "
                               f"known: {', '.join(sorted(known))}")
        self._phase_name = None

    # --- guest command lines ----------------------------------------------------------------
    def suite_path(self):
        """The suite directory as a guest shell word."""
        if self.guest_dir:
            return _sh_quote(self.guest_dir)
        return '"$HOME"/../' + GUEST_SUITE_DIR

    def results_path(self):
        if self.results_dir.startswith("/"):
            return _sh_quote(self.results_dir)
        return '"$HOME"/' + _sh_quote(self.results_dir)

    def selected(self):
        tests = list_tests()
        if self.only:
            by_name = {t.name: t for t in tests}
            return [by_name[n] for n in self.only if n in by_name]
        return tests

    def build_line(self):
        names = " ".join(self.only or [])
        return f"(cd {self.suite_path()} && sh build.sh{' ' + names if names else ''})"

    def run_line(self):
        args = ["--results", self.results_path(), "--results-disk", RESULTS_DISK,
                "--iterations", str(int(self.iterations))]
        if self.only:
            args += ["--only", ",".join(self.only)]
        if self.nocr:
            args.append("--nocr")
        for feature in kernel_features(self):
            args += ["--kernel-has", feature]
        # a blank results disk first: a run that writes nothing must not show older results
        return (f"(cd {self.suite_path()} && "
                f"{{ dd if=/dev/zero of={RESULTS_DISK} bs=512 count=4 2>/dev/null; "
                f"rm -rf {self.results_path()}; sh run.sh {' '.join(args)}; }})")

    def default_run_timeout(self):
        # every wait of run.sh is bounded by the test's timeout: start, N × (exit, resume), end
        waits = 3 + 2 * (0 if self.nocr else int(self.iterations))
        return max(60, sum(t.timeout for t in self.selected()) * waits)

    # --- running agent commands -------------------------------------------------------------
    async def agent_phase(self, logname, subcommand, args):
        """One agent command with its own log (``build``, ``stdio``, ``results``)."""
        self._phase_name = logname
        return await self.run_agent_command(subcommand, args, logname)

    def getCurrentSummary(self):
        label = {"build": "building the suite", "stdio": "running the suite",
                 "results": "reading the results disk"}.get(self._phase_name)
        return {"step": f"{self.name}: {label}"} if label else super().getCurrentSummary()

    def phase_problem(self, phase, what):
        """(result, summary) when an exec phase did not complete as a guest command."""
        if phase.cancelled:
            return CANCELLED, "cancelled"
        if phase.timed_out:
            tail = " | ".join(phase.monitor.console_tail(3))
            return FAILURE, (f"timeout in {what}: no output for {phase.silence} s; last console "
                             f"lines: {tail}")
        outcome = phase.outcome
        details = outcome.get("details") or {}
        if outcome.get("status") == "ok":
            return None
        if outcome.get("kind") == "kernel" and "status" in details:
            return None            # the guest command ran and exited non-zero: not the agent's
        return phase.result, f"{what}: {self.describe_result(outcome, phase.rc)}"

    def rendered_problem(self):
        """Rendered values end up in a guest shell line: only plain test names and counts."""
        if isinstance(self.only, str):
            self.only = [n for n in self.only.split(",") if n.strip()]
        known = {t.name for t in list_tests()}
        bad = [str(n) for n in self.only or [] if n not in known]
        if bad:
            return f"unknown test(s) in only: {', '.join(bad)}"
        if not str(self.iterations).isdigit() or int(self.iterations) < 1:
            return f"iterations must be a positive integer, not {self.iterations!r}"
        return None

    async def run(self):
        problem = self.rendered_problem()
        if problem:
            return self.finish(EXCEPTION, f"configuration: {problem}")

        if self.build_suite:
            phase = await self.agent_phase("build", "exec", ["--timeout", self.build_timeout,
                                                             "--", self.build_line()])
            if phase.failure is not None:
                return await self.transport_failed(phase)
            problem = self.phase_problem(phase, "building the suite")
            if problem is None and phase.rc != 0:
                failed = [ln for ln in phase.monitor.console_tail(50)
                          if ln.startswith("build.sh: failed:")]
                problem = (FAILURE, "kernel: the suite does not build in the guest"
                           + (f" ({failed[-1][len('build.sh: '):]})" if failed else ""))
            if problem:
                await AgentStep.publish(self, phase.outcome, problem[0])
                return self.finish(*problem)

        timeout = self.run_timeout or self.default_run_timeout()
        run = await self.agent_phase("stdio", "exec",
                                     ["--timeout", timeout, "--", self.run_line()])
        if run.failure is not None:
            return await self.transport_failed(run)
        problem = self.phase_problem(run, "running the suite")
        if problem:
            await AgentStep.publish(self, run.outcome, problem[0])
            return self.finish(*problem)

        read = await self.agent_phase("results", "results", [])
        if read.failure is not None:
            return await self.transport_failed(read)
        if read.cancelled:
            return self.finish(CANCELLED, "cancelled")
        tap_lines = [line for ev in read.monitor.events if ev.get("ev") == "tap"
                     for line in ev.get("lines") or [] if isinstance(line, str)]
        if read.rc != 0 or not read.monitor.result:
            tail = " | ".join(run.monitor.console_tail(2))
            summary = self.describe_result(read.outcome, read.rc)
            return self.finish(EXCEPTION, f"{summary}; last console lines: {tail}"
                                     if tail else summary)
        expected_lines = (read.outcome.get("details") or {}).get("tap_lines")
        tap = "\n".join(tap_lines) + "\n"
        await self.addCompleteLog("results.tap", tap)
        await self.publish_test_logs(read.monitor.events)
        verdict = evaluate(parse_tap_report(tap), [t.name for t in self.selected()],
                           int(self.iterations), bool(self.nocr))
        if isinstance(expected_lines, int) and expected_lines != len(tap_lines):
            verdict.result = worst_status(verdict.result, EXCEPTION)
            verdict.summary += (f" · infrastructure: read {len(tap_lines)} of "
                                f"{expected_lines} TAP lines")
        await self.publish_verdict(verdict)
        return self.finish(verdict.result, verdict.summary)

    def finish(self, result, summary):
        self.final_summary = summary
        return result

    # --- reporting -------------------------------------------------------------------------
    async def publish_test_logs(self, events):
        sections = {}
        for ev in events:
            if ev.get("ev") == "test_log" and isinstance(ev.get("lines"), list):
                key = (str(ev.get("test")), str(ev.get("file")))
                sections.setdefault(key, []).extend(str(x) for x in ev["lines"])
        if sections:
            text = "".join(f"== {test}/{name}\n" + "\n".join(lines) + "\n"
                           for (test, name), lines in sections.items())
            await self.addCompleteLog("test-logs", text)

    async def publish_verdict(self, verdict):
        results = [{"value": "1" if row[1] in EXPECTED else "0", "test_name": row[0],
                    "test_code_path": f"suite/tests/{row[0]}.c",
                    "duration_ns": int(row[4] * 1e6) if row[4] is not None else None}
                   for row in verdict.rows]
        if results:
            await add_result_set(self, "guest checkpoint suite", "pass_fail", "boolean",
                                 results)
        await self.addHTMLLog("results.html", html_table(
            "Guest checkpoint suite", ("test", "outcome", "expect", "cycles", "ms", "message"),
            verdict.rows, note=verdict.summary))
        self.setProperty("vkckpt_suite_counts", verdict.counts, self.name)


def _sh_quote(text):
    return "'" + str(text).replace("'", "'\\''") + "'"
