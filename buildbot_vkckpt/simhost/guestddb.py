"""Panic and ddb of the simulated vkernel (reference/dragonfly.md §8; a mixin of
``guestkernel.Kernel``)."""
from . import ddb


class DdbMixin:
    # --- panic and ddb -----------------------------------------------------------------------
    def panic(self, message, kind, preamble=()):
        for line in preamble:
            self.kprintf(line)
        already = self.state == "ddb"
        self.state = "panicking"
        self.cancel_timers()
        self.enter_ddb(ddb.panic_block(message, kind, self.opts.ncpus), panicked=kind,
                       nested=already)

    def enter_ddb(self, lines, panicked, nested=False):
        if not nested:
            self.resume_state = self.state if panicked is None else None
            self.freeze_timers()
        if self.shell:
            self.shell.freeze(self.sel)
        if panicked:
            self.panicked = panicked
        self.ddb_kind = self.panicked or "console"
        for line in lines:
            self.kprintf(line)
        self.state = "ddb"
        self.console_mode(in_ddb=True)
        self.line.clear()
        self.write(ddb.PROMPT)
        self.read_console(True)

    def ddb_line(self, line):
        verb, args = ddb.command(line)
        if verb == "":
            pass
        elif verb == "continue":
            self.ddb_continue()
            return
        elif verb == "trace":
            for text in ddb.full_trace(self.ddb_kind, bool(self.panicked)):
                self.kprintf(text)
        elif verb == "ps":
            for text in ddb.ps(self.guest.processes()):
                self.write(text + "\n")
        elif verb == "reset":
            self.cleanpid = True
            self.kprintf("cpu reset, rebooting vkernel")
            self.exit(32)   # EX_VKERNEL_REBOOT
        elif verb == "panic":
            self.panic("from debugger", self.ddb_kind)
            return
        else:
            self.write("No such command\n")
        self.write(ddb.PROMPT)

    def ddb_continue(self):
        self.console_mode(in_ddb=False)
        if self.panicked:
            self.state = "countdown"
            self.kprintf("vkernels don't support dumps")
            self.kprintf("Automatic reboot in 15 seconds - press a key on the console "
                         "to abort")
            self.after(1.5, self.reboot_now)
            return
        self.state = self.resume_state or "boot"
        if self.shell:
            self.shell.thaw(self.sel, self.on_shell_output)
        self.thaw_timers()
        self.read_console(self.state in ("mountroot", "login", "password", "single",
                                         "shell"))

    def abort_countdown(self):
        self.cancel_timers()
        self.kprintf("--> Press a key on the console to reboot,")
        self.kprintf("--> or switch off the system now.")
        self.state = "halted-wait"
