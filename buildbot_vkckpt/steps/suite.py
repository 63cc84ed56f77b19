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
from buildbot.process.results import EXCEPTION, FAILURE, SUCCESS, WARNINGS

from buildbot_vkckpt import validate
from buildbot_vkckpt.agent.image import GUEST_SUITE_DIR
from buildbot_vkckpt.agent.retry import DEFAULT_RETRIES, merge_property
from buildbot_vkckpt.monitor.suite import EXPECTED, build_failure, evaluate
from buildbot_vkckpt.protocol import Kind, Result
from buildbot_vkckpt.steps.agent import AgentStep, Phase, describe
from buildbot_vkckpt.steps.report import add_result_set, html_table
from buildbot_vkckpt.suite import list_tests

VERDICT_RESULTS = {"ok": SUCCESS, "warnings": WARNINGS, "failure": FAILURE,
                   "infrastructure": EXCEPTION}

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

class GuestCheckpointSuite(AgentStep):
    """Builds the guest suite in the booted vkernel, runs it, reads its TAP from the results
    disk and records one ``pass_fail`` test result per test."""

    name = "guest-suite"
    runs_with_vkernel = True
    report_log = "results.html"
    subcommand = "exec"
    renderables = ["iterations", "only", "nocr", "retries"]
    # building the suite in the guest, running it (default: from the tests' own timeouts)
    timeout_phases = ("suite_build", "suite")

    def __init__(self, iterations=1, only=None, nocr=False, build_suite=True, guest_dir=None,
                 results_dir="vkckpt-results", retries=DEFAULT_RETRIES, **kwargs):
        if isinstance(only, str):
            only = [n for n in only.split(",") if n.strip()]
        self.iterations = iterations
        self.only = list(only) if isinstance(only, (list, tuple)) else only
        self.nocr = nocr
        self.build_suite = build_suite
        self.guest_dir = guest_dir
        self.results_dir = results_dir
        self.retries = retries
        # a flaky test is WARNINGS: the build must not stay green
        kwargs.setdefault("warnOnWarnings", True)
        super().__init__(**kwargs)
        validate.positive_int("GuestCheckpointSuite", "retries", retries, allow_none=False,
                              minimum=0)
        validate.positive_int("GuestCheckpointSuite", "iterations", iterations,
                              allow_none=False)
        if isinstance(self.only, list):
            known = {t.name for t in list_tests()}
            unknown = [n for n in self.only if n not in known]
            if unknown or not self.only:
                validate.error("GuestCheckpointSuite", "only",
                               f"names unknown tests {', '.join(unknown) or '(none given)'}; "
                               f"known: {', '.join(sorted(known))}")

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
        if int(self.retries):       # a failed test alone again: flake or regression
            args += ["--retries", str(int(self.retries))]
        # a blank results disk first: a run that writes nothing must not show older results
        return (f"(cd {self.suite_path()} && "
                f"{{ dd if=/dev/zero of={RESULTS_DISK} bs=512 count=4 2>/dev/null; "
                f"rm -rf {self.results_path()}; sh run.sh {' '.join(args)}; }})")

    def default_suite_timeout(self):
        # every wait of run.sh is bounded by the test's timeout: start, N × (exit, resume), end
        waits = 3 + 2 * (0 if self.nocr else int(self.iterations))
        runs = 1 + int(self.retries)        # every test failing, every retry run
        return max(60, sum(t.timeout for t in self.selected()) * waits * runs)

    # --- judging the agent commands ---------------------------------------------------------
    def judge_exec(self, what):
        """A guest command that ran and exited non-zero is the suite's own verdict (kind
        ``test``), not a problem of the agent: only the rest ends the step here."""
        def judge(command):
            result = command.outcome
            if result is not None and (result.ok or result.kind is Kind.TEST):
                return None
            return self.command_problem(command, what)
        return judge

    def judge_build(self, command):
        problem = self.judge_exec("building the suite")(command)
        if problem is None and command.rc != 0:
            failed = build_failure(command.monitor.console_tail(50))
            problem = (FAILURE, describe(Result(
                "failure", "the suite does not build in the guest"
                + (f" ({failed})" if failed else ""), Kind.TEST)))
        return problem

    def judge_results(self, command):
        if command.rc == 0 and command.outcome is not None:
            return None
        summary = describe(self.result_of(command))
        tail = " | ".join(self._run_tail)
        return EXCEPTION, f"{summary}; last console lines: {tail}" if tail else summary

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
        if not str(self.retries).isdigit():
            return f"retries must be an integer >= 0, not {self.retries!r}"
        return None

    def suite_progress(self, tap):
        planned = f"/{tap['planned']}" if tap.get("planned") else ""
        failed = f", {tap['failed']} failed" if tap.get("failed") else ""
        self.set_live(f"guest-suite: running the suite: {tap['done']}{planned} done{failed}")

    async def run_agent(self):
        problem = self.rendered_problem()
        if problem:
            return self.finish(EXCEPTION, f"configuration: {problem}")
        timeout = self.phase_timeout("suite") or self.default_suite_timeout()
        build_s = self.phase_timeout("suite_build")
        phases = []
        if self.build_suite:
            phases.append(Phase("build", "exec", ["--timeout", build_s, "--",
                                                  self.build_line()],
                                "guest-suite: building the suite", build_s,
                                self.judge_build))
        phases.append(Phase("stdio", "exec", ["--timeout", timeout, "--", self.run_line()],
                            "guest-suite: running the suite", timeout,
                            self.judge_exec("running the suite")))
        phases.append(Phase("results", "results", [],
                            "guest-suite: reading the results disk", None, self.judge_results))
        self._run_tail = []

        def remember_tail(command):
            self._run_tail = command.monitor.console_tail(2)
        commands, problem = await self.run_phases(phases[:-1])
        if commands:
            remember_tail(commands[-1])
        if problem is None:
            more, problem = await self.run_phases(phases[-1:])
            commands += more
        if problem:
            return self.finish(*problem)

        read = commands[-1]
        tap_lines = read.monitor.tap_lines
        expected_lines = read.details.get("tap_lines")
        tap = "\n".join(tap_lines) + "\n"
        await self.addCompleteLog("results.tap", tap)
        await self.publish_test_logs(read.monitor.test_logs)
        verdict = evaluate(tap, [t.name for t in self.selected()], int(self.iterations),
                           bool(self.nocr))
        if isinstance(expected_lines, int) and expected_lines != len(tap_lines):
            verdict.add_problem("infrastructure", Kind.INFRASTRUCTURE,
                                f"read {len(tap_lines)} of {expected_lines} TAP lines")
        await self.publish_verdict(verdict)
        return self.finish(VERDICT_RESULTS[verdict.status], verdict_summary(verdict))

    def finish(self, result, summary):
        self.final_summary = summary
        return result

    # --- reporting -------------------------------------------------------------------------
    async def publish_test_logs(self, sections):
        """``sections``: (test, file) -> lines, as the results command streamed them."""
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
        if self.reports is not None:
            self.reports.html = suite_report(verdict)
        self.setProperty("vkckpt_suite_counts", verdict.counts, self.name)
        self.setProperty("vkckpt_suite_failed_tests", verdict.failed, self.name)
        # every test's outcome (pass, fail, xfail, xpass, skip, flaky, missing): the trends
        # page tells an expected failure from a pass only by this
        self.setProperty("vkckpt_suite_outcomes", {row[0]: row[1] for row in verdict.rows},
                         self.name)
        self.setProperty("vkckpt_suite_failures", [
            {"test": row[0], "message": assertion(row[5])} for row in verdict.rows
            if row[1] in FAILED_OUTCOMES], self.name)
        await self.publish_attempts(verdict.flakes)

    async def publish_attempts(self, flakes):
        """Every attempt of a re-run test as a test result (the dashboard's flake rate), and
        ``vkckpt_flaky`` (shared with the cycle step) with each re-run test's verdict."""
        if not flakes:
            return
        await add_result_set(self, "guest checkpoint suite attempts", "pass_fail", "boolean",
                             [r for f in flakes for r in f.attempt_results()])
        flaky = merge_property(self.getProperty("vkckpt_flaky"), flakes)
        if flaky:
            self.setProperty("vkckpt_flaky", flaky, self.name)


# a row's outcome -> how the report shows it; failed rows lead
FAILED_OUTCOMES = ("fail", "missing")
ROW_STATES = {"fail": "bad", "missing": "bad", "flaky": "warn", "xpass": "warn",
              "skip": "notrun"}
STATE_ORDER = {"bad": 0, "warn": 1}


def assertion(message):
    """A guest test's message without the contract's ``FAIL:`` word: the assertion."""
    text = str(message or "")
    return text[len("FAIL:"):].strip() if text.startswith("FAIL:") else text


def verdict_summary(verdict):
    """The step summary: the verdict, and the first failed test's assertion in plain view."""
    summary = describe(Result(verdict.status, verdict.cause, verdict.kind))
    failed = [row for row in verdict.rows if row[1] == "fail" and assertion(row[5])]
    if failed:
        summary += f" ({failed[0][0]}: {assertion(failed[0][5])})"
    return summary


def suite_report(verdict):
    """The HTML report: failed tests first and coloured, their assertion in the row."""
    rows = sorted(verdict.rows, key=lambda row: STATE_ORDER.get(ROW_STATES.get(row[1]), 2))
    states = [ROW_STATES.get(row[1]) for row in rows]
    shown = [(name, outcome, expect, cycles, "" if ms is None else f"{ms:.0f}",
              assertion(message) if outcome in FAILED_OUTCOMES else message)
             for name, outcome, expect, cycles, ms, message in rows]
    return html_table(
        "Guest checkpoint suite", ("test", "outcome", "expect", "cycles", "ms", "message"),
        shown, note=verdict_summary(verdict), states=states,
        note_state={"ok": None, "warnings": "warn"}.get(verdict.status, "bad"))


def _sh_quote(text):
    return "'" + str(text).replace("'", "'\\''") + "'"
