"""VkernelCheckpointCycle: checkpoint the whole vkernel, restore it, prove the guest went on.

The second test layer (DESIGN.md "Two test layers"). One agent command per action, each a
remote command of its own:

``probe``               can this vkernel and host checkpoint a vkernel? (``stdio`` log)
``verify --prepare``    start the guest workload and write the reference file (``stdio``)
per cycle *i* (log ``cycle i``):
``checkpoint``          SIGCKPTEXIT to the vkernel, wait for its exit, validate the file
``restore --file F``    ``checkpt -r F`` on the same console, wait for a responsive shell
``verify``              the workload is alive and went on, uptime continuous, files intact

Every command is a :class:`~buildbot_vkckpt.steps.agent.Phase` run by
``AgentStep.run_phases``. The first failed cycle ends the step: the guest is gone by then. See
docs/steps.rst.
"""
import statistics
from dataclasses import dataclass, field

from buildbot.process.results import EXCEPTION, FAILURE, SUCCESS, WARNINGS
from twisted.internet.defer import succeed

from buildbot_vkckpt import validate
from buildbot_vkckpt.agent.retry import (DEFAULT_RETRIES, FRESH_BOOT, Flake, merge_property,
                                         refusal)
from buildbot_vkckpt.protocol import Kind
from buildbot_vkckpt.steps.agent import AgentStep, Phase
from buildbot_vkckpt.steps.report import NOT_TESTED, add_result_set, html_table
from buildbot_vkckpt.units import format_ms, format_size

SETUP_LOG = "stdio"
PASS_FAIL_SET = "vkernel checkpoint cycle"
# (set description, Cycle attribute = the agent's metric)
PERFORMANCE_SETS = (("checkpoint time", "ckpt_seconds"),
                    ("restore time", "restore_seconds"),
                    ("time to responsive console", "console_seconds"))
SIZE_SET = "checkpoint file size"
MIB = 1 << 20


@dataclass
class Cycle:
    """What one checkpoint → restore → verify cycle measured."""
    number: int
    checkpoint: str = ""          # "ok", "failed" or "" (not reached)
    restore: str = ""
    verify: str = ""
    ckpt_seconds: float = None
    ckpt_bytes: int = None
    threads: int = None
    restore_seconds: float = None
    console_seconds: float = None
    file: str = None
    checks: list = field(default_factory=list)      # (name, ok, text)

    @property
    def ok(self):
        return self.checkpoint == self.restore == self.verify == "ok"

    def row(self):
        failed = ", ".join(f"{name}: {text}" if text else name
                           for name, ok, text in self.checks if not ok)
        return (self.number, self.checkpoint or "-", format_ms(self.ckpt_seconds),
                format_size(self.ckpt_bytes), self.threads, self.restore or "-",
                format_ms(self.restore_seconds), format_ms(self.console_seconds),
                self.verify or "-", failed)


format_bytes = format_size


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


class VkernelCheckpointCycle(AgentStep):
    """Probes checkpoint support, then checkpoints, restores and verifies the booted vkernel
    ``cycles`` times, recording a ``pass_fail`` result per check per cycle and the
    checkpoint/restore times and file sizes as test-result sets."""

    name = "checkpoint-cycle"
    runs_with_vkernel = True
    subcommand = "probe"
    report_log = "cycle-report.html"
    renderables = ["cycles", "require_support", "retries"]
    timeout_phases = ("checkpoint", "restore")

    def __init__(self, cycles=3, require_support=False, retries=DEFAULT_RETRIES, **kwargs):
        owner = "VkernelCheckpointCycle"
        if "iterations" in kwargs:
            kwargs.pop("iterations")
            validate.error(owner, "iterations", "was renamed: use cycles= (the factory's name "
                                                "for the number of checkpoint cycles)")
        self.cycles = cycles
        self.require_support = require_support
        self.retries = retries
        # NOT TESTED is WARNINGS: the build must not stay green
        kwargs.setdefault("warnOnWarnings", True)
        super().__init__(**kwargs)
        validate.positive_int(owner, "cycles", cycles, allow_none=False)
        validate.positive_int(owner, "retries", retries, allow_none=False, minimum=0)
        if not (validate.renderable(require_support) or isinstance(require_support, bool)):
            validate.error(owner, "require_support", f"must be True or False, not "
                                                     f"{require_support!r}")
        self.done = []                  # the Cycle records of this build
        self.not_tested = None          # (reason, fix) when the host cannot checkpoint
        self.failure = None             # what ended the failed cycle, for its row
        self.flakes = []                # failed cycles that passed when re-run (Flake)

    # --- run ----------------------------------------------------------------------------------
    def rendered_problem(self):
        value = self.cycles
        if isinstance(value, bool) or not str(value).isdigit() or int(value) < 1:
            return f"cycles must be a positive integer, not {value!r}"
        self.cycles = int(value)
        if isinstance(self.retries, bool) or not str(self.retries).isdigit():
            return f"retries must be an integer >= 0, not {self.retries!r}"
        self.retries = int(self.retries)
        return None

    def judge_probe(self, probe):
        """Unsupported is its own outcome: NOT TESTED (WARNINGS), or FAILURE when required."""
        if probe.ok:
            return None
        result = self.result_of(probe)
        if result.kind is Kind.UNSUPPORTED:
            return self.untested(result)
        return self.command_problem(probe, "probe")

    def untested(self, result):
        """``(result, summary)`` of a host or vkernel that cannot checkpoint: the reason in
        plain words, never green; FAILURE when support is required."""
        reason = result.cause or "this host or vkernel cannot checkpoint a running vkernel"
        self.not_tested = (reason, result.fix)
        self.setProperty("vkckpt_not_tested", reason, self.name)
        summary = f"{NOT_TESTED} — {reason}"
        if self.require_support:
            summary += " (checkpoint support is required)"
        self.build_summary = summary
        return (FAILURE if self.require_support else WARNINGS), summary

    async def run_agent(self):
        problem = self.rendered_problem()
        if problem:
            return self.finish(EXCEPTION, f"configuration: {problem}")
        _commands, problem = await self.run_phases([
            Phase(SETUP_LOG, "probe", label="probing checkpoint support",
                  judge=self.judge_probe),
            Phase(SETUP_LOG, "verify", ["--prepare"], label="starting the guest workload",
                  judge=lambda c: None if c.ok else self.command_problem(
                      c, "preparing the guest workload"))])
        if problem:
            self.finish(*problem)
            await self.publish_cycles(problem[0])
            return problem[0]

        total = self.cycles
        for number in range(1, total + 1):
            cycle = Cycle(number)
            self.done.append(cycle)
            commands, problem = await self.run_phases(self.cycle_phases(cycle, total))
            if problem:
                action = commands[-1].subcommand if commands else "checkpoint"
                if not getattr(cycle, action):      # lost or cancelled before its judge ran
                    setattr(cycle, action, "failed")
                problem = await self.retry_cycle(cycle, commands, problem, total)
                if problem is None:                 # flaky: it passed when re-run
                    continue
                self.failure = problem[1]
                self.finish(*problem)
                await self.publish_cycles(problem[0])
                return problem[0]
        result = WARNINGS if self.flakes else SUCCESS
        self.final_summary = " · ".join([self.success_summary()]
                                        + [f.describe() for f in self.flakes])
        await self.publish_cycles(result)
        return result

    async def retry_cycle(self, cycle, commands, problem, total):
        """Flake or regression: a failed cycle is run again, fresh, ``retries`` times when
        that is sound in this session (agent/retry.py decides on the outcome's kind). None
        when it was flaky, else ``(result, summary)`` with the verdict."""
        last = commands[-1] if commands else None
        if not self.retries or problem[0] != FAILURE or last is None:
            return problem
        failed = [n for n, ok, _t in cycle.checks if not ok]
        flake = Flake(f"cycle: {failed[0] if failed else last.subcommand}", [False],
                      self.rerun_refusal(last, cycle))
        if flake.note == FRESH_BOOT:    # a re-run was due, but not in this session
            return problem[0], f"{problem[1]} · {flake.note}"
        if flake.note:                  # a panic, the host, infrastructure: no test verdict
            return problem
        for attempt in range(1, self.retries + 1):
            # the restore left the guest running: a fresh workload, then a fresh cycle
            again = Cycle(cycle.number)
            label = f"cycle {cycle.number}/{total}: retry {attempt}/{self.retries}"
            _c, new = await self.run_phases([Phase(
                f"cycle {cycle.number}", "verify", ["--prepare"], f"{label}: new workload",
                judge=lambda c: None if c.ok else self.command_problem(c, label))])
            if new is None:
                more, new = await self.run_phases(self.cycle_phases(again, total))
                if new is not None and new[0] == FAILURE and more \
                        and self.rerun_refusal(more[-1], again) is None:
                    new = None          # failed the same way: one more failed attempt
            if new is not None:
                return new[0], f"{new[1]} (re-running {flake.name} after it failed)"
            flake.outcomes.append(again.ok)
        await add_result_set(self, "vkernel checkpoint cycle attempts", "pass_fail",
                             "boolean", flake.attempt_results())
        self.setProperty("vkckpt_flaky", merge_property(self.getProperty("vkckpt_flaky"),
                                                        [flake]), self.name)
        if not flake.flaky:
            return problem[0], f"{problem[1]} · {flake.verdict}"
        self.flakes.append(flake)
        return None

    def rerun_refusal(self, command, cycle):
        """Why the cycle that ``command`` ended may not be re-run here, or None."""
        outcome = self.result_of(command)
        # failed checks under an ok result: the verify judge's contract breach, a kernel one
        kind = Kind.KERNEL if outcome.ok and cycle.verify == "failed" else outcome.kind
        return refusal(kind, outcome.details, command.subcommand, command.timed_out)

    def cycle_phases(self, cycle, total):
        """One cycle as data: checkpoint → restore (of the file the checkpoint reported) →
        verify, in log ``cycle N``; each judge records what its command measured."""
        logname = f"cycle {cycle.number}"
        label = f"cycle {cycle.number}/{total}"
        seen = {}                       # the checkpoint's inspection, for a later failure

        def judge_checkpoint(ckpt):
            details = ckpt.details
            cycle.ckpt_seconds = _first_number(ckpt.metric("ckpt_seconds"),
                                               details.get("seconds"))
            cycle.ckpt_bytes = _first_number(ckpt.metric("ckpt_bytes"), details.get("bytes"))
            cycle.threads = _first_number(details.get("threads"))
            cycle.file = details.get("file") if isinstance(details.get("file"), str) else None
            seen["inspect"] = details.get("inspect")
            if ckpt.ok and cycle.file:
                cycle.checkpoint = "ok"
                return None
            cycle.checkpoint = "failed"
            if ckpt.ok:                      # ok without a file: the contract is broken
                return succeed((EXCEPTION, f"infrastructure: {label}: the checkpoint reported "
                                           f"no file (fix: update the agent)"))
            return self.cycle_problem(ckpt, "checkpoint", seen["inspect"], label)

        def judge_restore(restore):
            cycle.restore_seconds = _first_number(restore.metric("restore_seconds"))
            cycle.console_seconds = _first_number(restore.metric("console_seconds"))
            if restore.ok:
                cycle.restore = "ok"
                return None
            cycle.restore = "failed"
            return self.cycle_problem(restore, "restore",
                                      restore.details.get("inspect") or seen["inspect"], label)

        def judge_verify(verify):
            cycle.checks = [(ev["name"], bool(ev.get("ok")), str(ev.get("text") or ""))
                            for ev in verify.checks()]
            if not verify.ok:
                cycle.verify = "failed"
                return self.cycle_problem(verify, "verify", seen["inspect"], label)
            if not all(ok for _name, ok, _text in cycle.checks):
                # a failed check with an ok result contradicts the agent contract: trust it
                cycle.verify = "failed"
                failed = [f"{n}: {t}" if t else n for n, ok, t in cycle.checks if not ok]
                return self.checks_failed(seen["inspect"],
                                          f"kernel: {label} (verify): {'; '.join(failed)}")
            cycle.verify = "ok"
            return None

        checkpoint, restore = self.phase_timeout("checkpoint"), self.phase_timeout("restore")
        return [
            Phase(logname, "checkpoint", ["--timeout", checkpoint],
                  f"{label}: checkpoint", checkpoint, judge_checkpoint),
            Phase(logname, "restore",
                  lambda: ["--file", cycle.file, "--timeout", restore],
                  f"{label}: restore", restore, judge_restore),
            Phase(logname, "verify", [], f"{label}: verify", None, judge_verify)]

    # --- outcomes -----------------------------------------------------------------------------
    def finish(self, result, summary):
        self.final_summary = summary
        return result

    async def cycle_problem(self, command, action, inspect=None, cycle=None):
        """``(result, summary)`` when a cycle's ``command`` did not succeed, with the
        checkpoint's inspection attached. ``cycle`` is the label (``cycle 2/3``), ``action``
        what the command was doing."""
        result, summary = self.command_problem(command, f"{cycle} ({action})")
        outcome = command.outcome
        if not command.timed_out and outcome is not None:
            if outcome.kind is Kind.UNSUPPORTED:  # after the probe said supported
                result, summary = self.untested(outcome)
            elif result not in (FAILURE, EXCEPTION):
                result = EXCEPTION          # a non-ok result with exit 0 or 2
        await self.attach_inspect(inspect)
        return result, summary

    async def checks_failed(self, inspect, summary):
        await self.attach_inspect(inspect)
        return FAILURE, summary

    async def attach_inspect(self, inspect):
        if inspect and "checkpoint-inspect" not in getattr(self, "logs", {}):
            lines = inspect if isinstance(inspect, list) else [inspect]
            await self.addCompleteLog("checkpoint-inspect", "\n".join(map(str, lines)) + "\n")

    def success_summary(self):
        ok = sum(1 for c in self.done if c.ok)
        parts = [f"{ok}/{len(self.done)} cycles ok"]
        ckpt_s = median(c.ckpt_seconds for c in self.done)
        ckpt_b = median(c.ckpt_bytes for c in self.done)
        restore_s = median(c.restore_seconds for c in self.done)
        if ckpt_s is not None:
            parts.append(f"ckpt {format_ms(ckpt_s)}"
                         + (f" / {format_bytes(ckpt_b)}" if ckpt_b is not None else ""))
        if restore_s is not None:
            parts.append(f"restore {format_ms(restore_s)}")
        return " · ".join(parts)

    # --- reporting ----------------------------------------------------------------------------
    async def publish_cycles(self, result):
        """Test-result sets, properties and the HTML report: every cycle asked for, the ones
        that did not run listed as such, so counts agree with the step's ``cycle i/N``."""
        cycles = self.done
        total = self.cycles if isinstance(self.cycles, int) else len(cycles)
        self.setProperty("vkckpt_cycles_ok", sum(1 for c in cycles if c.ok), self.name)
        self.setProperty("vkckpt_cycles_total", total, self.name)
        self.setProperty("vkckpt_cycles_not_run", max(0, total - len(cycles)), self.name)
        if self.reports is not None:
            self.reports.html = self.cycle_report(result, total)
        for prop, attr in (("vkckpt_ckpt_seconds", "ckpt_seconds"),
                           ("vkckpt_ckpt_bytes", "ckpt_bytes"),
                           ("vkckpt_restore_seconds", "restore_seconds")):
            value = median(getattr(c, attr) for c in cycles)
            if value is not None:
                self.setProperty(prop, value, self.name)
        if not cycles:
            return
        results = []
        for c in cycles:
            for what, state in (("checkpoint", c.checkpoint), ("restore", c.restore)):
                if state:
                    results.append({"value": "1" if state == "ok" else "0",
                                    "test_name": f"cycle {c.number}: {what}"})
            for name, ok, _text in c.checks:
                results.append({"value": "1" if ok else "0",
                                "test_name": f"cycle {c.number}: {name}"})
            if c.verify == "failed" and all(ok for _n, ok, _t in c.checks):
                results.append({"value": "0", "test_name": f"cycle {c.number}: verify"})
        await add_result_set(self, PASS_FAIL_SET, "pass_fail", "boolean", results)
        for description, attr in PERFORMANCE_SETS:
            await self._number_set(description, "performance", "seconds", attr, cycles)
        await self._number_set(SIZE_SET, "binary_size", "bytes", "ckpt_bytes", cycles)

    def cycle_report(self, result, total):
        """The HTML report: the answer first, failed cycles first and coloured, then the
        cycles that did not run, then the panic and backtrace."""
        note = self.final_summary if result != SUCCESS else self.success_summary()
        rows, states = [], []
        for c in sorted(self.done, key=lambda c: c.ok):
            row = list(c.row())
            if not c.ok and not row[-1]:
                row[-1] = self.failure or ""
            rows.append(row)
            states.append(None if c.ok else "bad")
        for number in range(len(self.done) + 1, total + 1):
            why = "not tested" if self.not_tested else "not run"
            rows.append([number, why, "", "", "", why, "", "", why, ""])
            states.append("notrun")
        sections = []
        if self.not_tested:
            reason, fix = self.not_tested
            sections.append(("Why not tested", [reason] + ([f"to test it: {fix}"] if fix else [])
                             + ["to make this a failure instead of a warning, set "
                                "require_checkpoint_support=True (VkernelCheckpointFactory) "
                                "or require_support=True (VkernelCheckpointCycle)"]))
        if self.crash:
            panic, frames = self.crash
            sections.append(("Panic", [panic or "(no panic line)"] + (
                ["", "backtrace (first frames; whole in the backtrace log):"] + frames
                if frames else [])))
        return html_table(
            "vkernel checkpoint cycles",
            ("cycle", "checkpoint", "ckpt time", "ckpt file", "threads", "restore",
             "restore time", "console time", "verify", "what failed"),
            rows, note=note, states=states, sections=sections,
            note_state={SUCCESS: None, WARNINGS: "warn"}.get(result, "bad"))

    async def _number_set(self, description, category, unit, attr, cycles):
        values = [(c.number, getattr(c, attr)) for c in cycles if getattr(c, attr) is not None]
        if values:
            await add_result_set(self, description, category, unit,
                                 [{"value": v, "test_name": f"cycle {n}"} for n, v in values])


def _first_number(*values):
    for value in values:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    return None
