"""The supervisor's ``boot``: start the vkernel and find root's shell on its console.

Deadlines, the first that is due wins: ``silence`` seconds without console output; a sentinel
probe (``login.PromptFinder``) when a booted console stays quiet before any shell prompt was
recognised; ``timeout`` seconds without boot progress. A timed-out boot is looked at in ddb
first (``LooksInDdb``). A stalled console (the monitor's ``stall``) times it out at once.
"""
from .events import Outcome, result_event
from .guest import BOOTING, LOGIN_SENT, SH_SENT
from .session import CONSOLE_TIMES
from .supervisor_op import LooksInDdb

PRE_SHELL = (BOOTING, LOGIN_SENT, SH_SENT)   # root's own shell is still being looked for


class Boot(LooksInDdb):
    kind = "boot"
    stall_times_out = True

    @classmethod
    def start(cls, sup, sock, req, now):
        if sup.proc is not None:
            sup.send(sock, {"result": Outcome.infrastructure(
                "a vkernel already runs in this session",
                "shut it down first (vkckpt-agent shutdown)").to_event()})
            return
        sup.op = cls(sock, {"timeout": float(req.get("timeout", 600)),
                            "silence": float(req.get("silence", 120))}, now)
        sup.finder.quiet = float(req.get("quiet", 5.0))
        if req.get("console_times"):
            sup.times = open(sup.session.file(CONSOLE_TIMES), "a", buffering=1)
        try:
            sup.spawn()
        except OSError as exc:
            sup.finish(Outcome.infrastructure(
                f"cannot start the vkernel {sup.argv[0]}: {exc.strerror or exc}",
                "check that --kernel names an executable vkernel built for this host",
                argv=sup.argv).to_event())
            sup.exit_status = -1

    # --- time -----------------------------------------------------------------------------
    def deadlines(self, sup):
        if self.stage == "hang-ddb":
            return self.hang_rules()
        if sup.spawned_at is None or self.stage is not None:
            return []
        silence, timeout = self.params["silence"], self.params["timeout"]
        rules = [self.timeout_rule(sup.last_output + silence,
                                   f"no console output for {silence:g} s")]
        if sup.guest.state in PRE_SHELL and not sup.crash:
            rules.append((sup.finder.deadline(sup.last_output), self.probe))
        rules.append(self.timeout_rule(sup.last_progress + timeout,
                                       f"no boot progress for {timeout:g} s"))
        return rules

    def probe(self, sup, now):
        """A quiet console before any recognised prompt: type a sentinel (``login``)."""
        sup.emit({"ev": "info", "prompt_probe": sup.finder.probes + 1,
                  "last_seen": sup.last_line()})
        sup.write_console(sup.finder.probe())

    def explain(self, sup, why):
        if sup.guest.state in PRE_SHELL:
            return f"{why}; {sup.finder.describe()}; last line: {sup.last_line()}"
        return super().explain(sup, why)

    # --- events ---------------------------------------------------------------------------
    def on_shell_ready(self, sup):
        elapsed = sup.clock() - sup.spawned_at
        sup.emit({"ev": "metric", "name": "boot_time", "value": round(elapsed, 3),
                  "unit": "s"})
        version = sup.info.get("version")
        if version and version.startswith("v"):
            version = "DragonFly " + version
        what = " ".join(v for v in (version, sup.info.get("kernconf")) if v)
        summary = f"booted in {elapsed:.1f} s" + (f" · {what}" if what else "")
        if sup.info.get("flavour"):
            summary += f" · {sup.info['flavour']}"
        sup.finish(result_event("ok", summary, details={
            "boot_time": round(elapsed, 3), "prompt": sup.guest.prompt,
            "shells_found_by_sentinel": sup.finder.answered, **sup.info}))

    def on_exit(self, sup, rc):
        if self.stage == "hang-ddb":  # SIGQUIT killed it
            self.hang_done(sup)
        else:
            super().on_exit(sup, rc)
