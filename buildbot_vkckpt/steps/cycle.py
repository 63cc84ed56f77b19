"""VkernelCheckpointCycle: checkpoint the whole vkernel, restore it, prove the guest went on.

The second test layer (DESIGN.md "Two test layers"). One agent command per action, each a
remote command of its own:

``probe``               can this vkernel and host checkpoint a vkernel? (``stdio`` log)
``verify --prepare``    start the guest workload and write the reference file (``stdio``)
per cycle *i* (log ``cycle i``):
``checkpoint``          SIGCKPTEXIT to the vkernel, wait for its exit, validate the file
``restore --file F``    ``checkpt -r F`` on the same console, wait for a responsive shell
``verify``              the workload is alive and went on, uptime continuous, files intact

The first failed cycle ends the step: the guest is gone by then. See docs/steps.rst.
"""
import statistics
from dataclasses import dataclass, field

from buildbot.process.results import CANCELLED, EXCEPTION, FAILURE, SKIPPED, SUCCESS

from buildbot_vkckpt import validate
from buildbot_vkckpt.steps.agent import AgentStep
from buildbot_vkckpt.steps.report import add_result_set, html_table

SETUP_LOG = "stdio"
# a cycle's agent commands; a failure summary naming one of them says what failed
CYCLE_ACTIONS = ("checkpoint", "restore", "verify")
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
        return (self.number, self.checkpoint or "-", self.ckpt_seconds, self.ckpt_bytes,
                self.threads, self.restore or "-", self.restore_seconds, self.console_seconds,
                self.verify or "-", failed)


def format_seconds(value):
    if value >= 10:
        return f"{value:.0f} s"
    return f"{value:.1f} s" if value >= 0.1 else f"{value:.2f} s"


def format_bytes(value):
    mib = value / MIB
    if mib >= 1024:
        return f"{mib / 1024:.1f} GiB"
    if mib >= 10:
        return f"{mib:.0f} MiB"
    return f"{mib:.1f} MiB" if mib >= 0.1 else f"{value / 1024:.0f} KiB"


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


class VkernelCheckpointCycle(AgentStep):
    """Probes checkpoint support, then checkpoints, restores and verifies the booted vkernel
    ``iterations`` times, recording a ``pass_fail`` result per check per cycle and the
    checkpoint/restore times and file sizes as test-result sets."""

    name = "checkpoint-cycle"
    subcommand = "probe"
    renderables = ["iterations", "require_support", "checkpoint_timeout", "restore_timeout"]

    def __init__(self, iterations=3, require_support=False, checkpoint_timeout=600,
                 restore_timeout=300, **kwargs):
        self.iterations = iterations
        self.require_support = require_support
        self.checkpoint_timeout = checkpoint_timeout
        self.restore_timeout = restore_timeout
        super().__init__(**kwargs)
        owner = "VkernelCheckpointCycle"
        validate.positive_int(owner, "iterations", iterations, allow_none=False)
        validate.positive_int(owner, "checkpoint_timeout", checkpoint_timeout, allow_none=False)
        validate.positive_int(owner, "restore_timeout", restore_timeout, allow_none=False)
        if not (validate.renderable(require_support) or isinstance(require_support, bool)):
            validate.error(owner, "require_support", f"must be True or False, not "
                                                     f"{require_support!r}")
        self._live = None
        self.cycles = []

    # --- live summary -----------------------------------------------------------------------
    def set_live(self, text):
        self._live = text
        self.updateSummary()

    def getCurrentSummary(self):
        if self._live:
            return {"step": self._live}
        return super().getCurrentSummary()

    # --- one agent command --------------------------------------------------------------------
    def command_timeout(self, agent_timeout):
        """Buildbot's silence timeout stays a backstop above the agent's own."""
        if agent_timeout is None or self.timeout is None:
            return self.timeout
        return max(self.timeout, int(agent_timeout) + 60)

    # --- run ----------------------------------------------------------------------------------
    def rendered_problem(self):
        for name in ("iterations", "checkpoint_timeout", "restore_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not str(value).isdigit() or int(value) < 1:
                return f"{name} must be a positive integer, not {value!r}"
            setattr(self, name, int(value))
        return None

    async def run(self):
        problem = self.rendered_problem()
        if problem:
            return self.finish(EXCEPTION, f"configuration: {problem}")

        self.set_live("probing checkpoint support")
        probe = await self.run_agent_command("probe", [], SETUP_LOG)
        if not probe.ok:
            if probe.rc == 3 or probe.outcome.get("status") == "unsupported":
                return await self.unsupported(probe)
            return await self.command_failed(probe, "probe")

        self.set_live("starting the guest workload")
        prepare = await self.run_agent_command("verify", ["--prepare"], SETUP_LOG)
        if not prepare.ok:
            return await self.command_failed(prepare, "preparing the guest workload")

        total = self.iterations
        for number in range(1, total + 1):
            cycle = Cycle(number)
            self.cycles.append(cycle)
            result = await self.run_cycle(cycle, total)
            if result is not None:
                await self.publish_cycles(result)
                return result
        summary = self.success_summary()
        self.final_summary = summary
        await self.publish_cycles(SUCCESS)
        return SUCCESS

    async def run_cycle(self, cycle, total):
        """None when the cycle passed; else the step's result (final_summary set)."""
        logname = f"cycle {cycle.number}"
        label = f"cycle {cycle.number}/{total}"

        self.set_live(f"{label}: checkpoint")
        ckpt = await self.run_agent_command(
            "checkpoint", ["--timeout", self.checkpoint_timeout], logname,
            self.command_timeout(self.checkpoint_timeout))
        details = ckpt.details
        cycle.ckpt_seconds = _first_number(ckpt.metric("ckpt_seconds"), details.get("seconds"))
        cycle.ckpt_bytes = _first_number(ckpt.metric("ckpt_bytes"), details.get("bytes"))
        cycle.threads = _first_number(details.get("threads"))
        cycle.file = details.get("file") if isinstance(details.get("file"), str) else None
        inspect = details.get("inspect")
        if not ckpt.ok or not cycle.file:
            cycle.checkpoint = "failed"
            if ckpt.ok:                      # ok without a file: the contract is broken
                return self.finish(EXCEPTION, f"infrastructure: {label}: the checkpoint "
                                              f"reported no file (fix: update the agent)")
            return await self.command_failed(ckpt, "checkpoint", inspect, label)
        cycle.checkpoint = "ok"

        self.set_live(f"{label}: restore")
        restore = await self.run_agent_command(
            "restore", ["--file", cycle.file, "--timeout", self.restore_timeout], logname,
            self.command_timeout(self.restore_timeout))
        cycle.restore_seconds = _first_number(restore.metric("restore_seconds"))
        cycle.console_seconds = _first_number(restore.metric("console_seconds"))
        if not restore.ok:
            cycle.restore = "failed"
            return await self.command_failed(restore, "restore",
                                             restore.details.get("inspect") or inspect, label)
        cycle.restore = "ok"

        self.set_live(f"{label}: verify")
        verify = await self.run_agent_command("verify", [], logname)
        cycle.checks = [(ev["name"], bool(ev.get("ok")), str(ev.get("text") or ""))
                        for ev in verify.checks()]
        if not verify.ok:
            cycle.verify = "failed"
            return await self.command_failed(verify, "verify", inspect, label)
        if not all(ok for _name, ok, _text in cycle.checks):
            # a failed check with an ok result contradicts the agent contract: trust the check
            cycle.verify = "failed"
            failed = [f"{n}: {t}" if t else n for n, ok, t in cycle.checks if not ok]
            await self.attach_inspect(inspect)
            return self.finish(FAILURE, f"kernel: {label}: verify failed: {'; '.join(failed)}")
        cycle.verify = "ok"
        return None

    # --- outcomes -----------------------------------------------------------------------------
    def finish(self, result, summary):
        self.final_summary = summary
        return result

    async def unsupported(self, probe):
        reason = probe.outcome.get("summary") or "the agent gave no reason"
        if reason.startswith("unsupported: "):
            reason = reason[len("unsupported: "):]
        if self.require_support:
            return self.finish(FAILURE, f"unsupported: {reason} (require_support=True)")
        return self.finish(SKIPPED, f"unsupported: {reason}")

    async def command_failed(self, command, action, inspect=None, cycle=None):
        """The step's result when ``command`` did not succeed, with the logs that explain it.

        ``cycle`` is the label (``cycle 2/3``) of a cycle's command; ``action`` names what
        ``command`` was doing."""
        if command.failure is not None:
            return await self.transport_failed(command)
        if command.cancelled:
            return self.finish(CANCELLED, "cancelled")
        what = f"{cycle}: {action}" if cycle else action
        outcome = command.outcome
        if command.timed_out:
            tail = " | ".join(command.monitor.console_tail(3))
            result = FAILURE
            summary = (f"timeout: {what}: no output for {command.silence} s; last console "
                       f"lines: {tail}")
        elif not outcome:
            result = EXCEPTION
            summary = f"{what}: {self.describe_result(outcome, command.rc)}"
            if not summary.startswith("infrastructure"):
                summary = "infrastructure: " + summary
        else:
            result = command.result
            kind = outcome.get("kind") or {FAILURE: "kernel", EXCEPTION: "infrastructure"}.get(
                result, outcome.get("status") or "failure")
            cause = outcome.get("summary") or f"agent exited {command.rc}"
            if cause.startswith(f"{kind}: "):
                cause = cause[len(kind) + 2:]
            if result == FAILURE:
                summary = f"{kind}: {failure_text(what, cause, cycle, command.subcommand)}"
            else:
                summary = f"{kind}: {what}: {cause}"
            if outcome.get("fix"):
                summary += f" (fix: {outcome['fix']})"
            if result == SKIPPED:           # unsupported after the probe said supported
                result = FAILURE if self.require_support else SKIPPED
            elif result not in (FAILURE, EXCEPTION):
                result = EXCEPTION          # a non-ok result with exit 0 or 2
        await AgentStep.publish(self, outcome, result)
        await self.attach_inspect(inspect)
        return self.finish(result, summary)

    async def attach_inspect(self, inspect):
        if inspect and "checkpoint-inspect" not in getattr(self, "logs", {}):
            lines = inspect if isinstance(inspect, list) else [inspect]
            await self.addCompleteLog("checkpoint-inspect", "\n".join(map(str, lines)) + "\n")

    def success_summary(self):
        ok = sum(1 for c in self.cycles if c.ok)
        parts = [f"{ok}/{len(self.cycles)} cycles ok"]
        ckpt_s = median(c.ckpt_seconds for c in self.cycles)
        ckpt_b = median(c.ckpt_bytes for c in self.cycles)
        restore_s = median(c.restore_seconds for c in self.cycles)
        if ckpt_s is not None:
            parts.append(f"ckpt {format_seconds(ckpt_s)}"
                         + (f" / {format_bytes(ckpt_b)}" if ckpt_b is not None else ""))
        if restore_s is not None:
            parts.append(f"restore {format_seconds(restore_s)}")
        return " · ".join(parts)

    # --- reporting ----------------------------------------------------------------------------
    async def publish_cycles(self, result):
        """Test-result sets, properties and the HTML table of the cycles that ran."""
        cycles = self.cycles
        self.setProperty("vkckpt_cycles_ok", sum(1 for c in cycles if c.ok), self.name)
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
        note = self.final_summary if result != SUCCESS else self.success_summary()
        await self.addHTMLLog("cycle-report.html", html_table(
            "vkernel checkpoint cycles",
            ("cycle", "checkpoint", "ckpt s", "ckpt bytes", "threads", "restore", "restore s",
             "console s", "verify", "failed checks"),
            [c.row() for c in cycles], note=note))

    async def _number_set(self, description, category, unit, attr, cycles):
        values = [(c.number, getattr(c, attr)) for c in cycles if getattr(c, attr) is not None]
        if values:
            await add_result_set(self, description, category, unit,
                                 [{"value": v, "test_name": f"cycle {n}"} for n, v in values])


def failure_text(what, cause, cycle=None, subcommand=None):
    """``WHAT failed: CAUSE``, unless the agent's cause of a cycle's command already says what
    failed (``restore failed: ...``, ``checkpoint file invalid: ...``, ``restore broke the
    guest: ...``, ``timeout in restore: ...``): then ``cycle N/M: CAUSE`` without repeating it.
    """
    if cycle:
        prefix = f"timeout in {subcommand}: "
        if subcommand and cause.startswith(prefix):
            return f"{cycle}: {cause[len(prefix):]}"
        lead = cause.split(": ", 1)[0]
        if any(action in lead for action in CYCLE_ACTIONS):
            return f"{cycle}: {cause}"
    return f"{what} failed: {cause}"


def _first_number(*values):
    for value in values:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    return None
