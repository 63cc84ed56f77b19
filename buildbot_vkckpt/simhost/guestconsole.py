"""The simulated vkernel's console: tty mode, reading fd 0, the guest tty's line discipline
(reference/dragonfly.md §4; a mixin of ``guestkernel.Kernel``)."""
import os
import selectors
import termios

ERASE = (0x7f, 0x08)


class ConsoleMixin:
    # --- console -----------------------------------------------------------------------------
    def console_init(self):
        """Raw mode with OPOST|ONLCR and ISIG, VINTR/VSUSP off, so ^C reaches the guest."""
        try:
            self.saved_tc = termios.tcgetattr(self.fd_in)
        except termios.error:
            return  # not a tty: no mode setting, no message (§4)
        termios.tcsetattr(self.fd_in, termios.TCSANOW, console_mode(self.saved_tc, ddb=False))

    def console_mode(self, in_ddb):
        if self.saved_tc:
            try:
                termios.tcsetattr(self.fd_in, termios.TCSANOW,
                                  console_mode(self.saved_tc, ddb=in_ddb))
            except termios.error:
                pass

    def read_console(self, on):
        if on and not self.reading_console and not self.console_eof:
            self.sel.register(self.fd_in, selectors.EVENT_READ, self.on_console)
            self.reading_console = True
        elif not on and self.reading_console:
            self.sel.unregister(self.fd_in)
            self.reading_console = False

    def on_console(self):
        try:
            data = os.read(self.fd_in, 4096)
        except OSError:
            data = b""
        if not data:
            self.console_eof = True
            self.read_console(False)
            if self.state in ("mountroot", "ddb"):
                self.panic("vconsgetc: EOF on console", "mountroot")
            return
        for b in data:
            self.console_byte(b)

    def console_byte(self, b):
        """The guest tty's line discipline: echo, erase, line kill, signals, line delivery."""
        if self.state == "countdown":
            self.abort_countdown()
            return
        if self.state == "halted-wait":
            self.reboot_now()
            return
        if self.state == "shell" and b in (0x03, 0x1a, 0x1c, 0x04):
            if b == 0x04:
                self.shell.send(bytes(self.line) + b"\x04")
            else:
                self.write("^" + chr(b + 0x40) + "\n")
                self.shell.send(bytes([b]))
            self.line.clear()
            return
        if b in (0x0d, 0x0a):
            self.write("\n")
            line = self.line.decode(errors="replace")
            self.line.clear()
            self.console_line(line)
        elif b in ERASE:
            if self.line:
                self.line.pop()
                if self.state != "password":
                    self.write("\b \b")
        elif b == 0x15:
            if self.state != "password":
                self.write("\b \b" * len(self.line))
            self.line.clear()
        else:
            self.line.append(b)
            if self.state != "password":
                self.write(bytes([b]))

    def console_line(self, line):
        handler = {"mountroot": self.mountroot_line, "login": self.login_line,
                   "password": self.password_line, "single": self.single_line,
                   "shell": self.shell_line, "ddb": self.ddb_line}.get(self.state)
        if handler:
            handler(line)


def console_mode(saved, ddb):
    """init.c's console mode: cfmakeraw + OPOST|ONLCR + ISIG, VINTR/VSUSP disabled."""
    iflag, oflag, cflag, lflag, ispeed, ospeed, cc = saved
    cc = list(cc)
    iflag &= ~(termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP
               | termios.INLCR | termios.IGNCR | termios.ICRNL | termios.IXON)
    oflag = (oflag & ~termios.OPOST) | termios.OPOST | termios.ONLCR
    lflag &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
    if not ddb:
        lflag |= termios.ISIG  # ^\ still raises SIGQUIT; ddb lets ^C and ^Z through
    cflag = (cflag & ~(termios.CSIZE | termios.PARENB)) | termios.CS8
    cc[termios.VMIN], cc[termios.VTIME] = 1, 0
    cc[termios.VINTR] = cc[termios.VSUSP] = b"\0"
    return [iflag, oflag, cflag, lflag, ispeed, ospeed, cc]
