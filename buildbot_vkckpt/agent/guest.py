"""The console conversation with the guest: log in, own a shell, run commands with sentinels.

Pure protocol, no I/O: the supervisor feeds it console monitor events and complete console
lines, and writes whatever bytes it returns to the console. The guest's prompt is made unique
(``[vkckpt-<token>]# ``) and is typed as ``PS1='[vk''ckpt-<token>]# '``, so the echo of the
assignment never looks like the prompt. Each command is followed by ``echo VKS-<token>-<n>:$?:``
whose echo cannot match the sentinel pattern either (``$?`` is not a number).
"""
import re
import secrets

CR = b"\r"

# states
BOOTING = "booting"          # waiting for login: or a shell prompt
LOGIN_SENT = "login-sent"    # answered login:, waiting for the shell
SH_SENT = "sh-sent"          # typed exec /bin/sh, waiting for its prompt
PS1_SENT = "ps1-sent"        # set the unique prompt, waiting for it
CHECK_SENT = "check-sent"    # sentinel round trip in progress
READY = "ready"
RUNNING = "running"          # a command is running
INTERRUPTED = "interrupted"  # ^C sent to a running command, waiting for the prompt


class GuestShell:
    def __init__(self, token=None, user="root"):
        self.token = token or secrets.token_hex(4)
        self.user = user
        self.prompt = f"[vkckpt-{self.token}]# "
        self.state = BOOTING
        self.serial = 0
        self.logins = 0
        self._sentinel = None
        self.status = None       # exit status of the last command
        self.output = []         # lines of the running command

    # --- what to type -------------------------------------------------------------------
    def ps1_command(self):
        return f"PS1='[vk''ckpt-{self.token}]# '"

    def _sentinel_command(self):
        self.serial += 1
        tag = f"VKS-{self.token}-{self.serial}"
        self._sentinel = re.compile(re.escape(tag) + r":(\d+):")
        return f"echo {tag}:$?:"

    # --- input --------------------------------------------------------------------------
    def on_event(self, kind):
        """A console monitor event kind; returns bytes to send (maybe empty)."""
        if kind in ("rebooting", "cpu_reset"):
            self.state = BOOTING
            return b""
        if kind == "login_prompt" and self.state in (BOOTING, LOGIN_SENT):
            self.logins += 1
            self.state = LOGIN_SENT
            return self.user.encode() + CR
        if kind != "shell_prompt":
            return b""
        if self.state in (BOOTING, LOGIN_SENT):
            self.state = SH_SENT
            return b"exec /bin/sh" + CR
        if self.state == SH_SENT:
            self.state = PS1_SENT
            return self.ps1_command().encode() + CR
        if self.state == PS1_SENT:
            self.state = CHECK_SENT
            return self._sentinel_command().encode() + CR
        if self.state == INTERRUPTED:
            return self.start_check()  # the prompt came back: prove the shell is in step
        if self.state in (CHECK_SENT, RUNNING) and self.status is not None:
            self.state = READY
        return b""

    def on_line(self, text):
        """A complete console line. Returns the part that is command output, or None."""
        if self.state not in (CHECK_SENT, RUNNING) or self._sentinel is None:
            return None
        if self.status is not None:
            return None  # between the sentinel and the prompt
        m = self._sentinel.search(text)
        if m:
            self.status = int(m.group(1))
            before = text[:m.start()]
            if self.state == RUNNING and before.strip():
                self.output.append(before)
                return before
            return None
        if self.state != RUNNING or "VKS-" + self.token in text or text.endswith(self.prompt):
            return None  # the echo of what we typed
        self.output.append(text)
        return text

    # --- commands -----------------------------------------------------------------------
    @property
    def ready(self):
        return self.state == READY

    def command(self, cmd):
        """Bytes that run ``cmd`` (one shell line) and report its status."""
        if self.state != READY:
            raise RuntimeError(f"guest shell not ready ({self.state})")
        if "\n" in cmd or "\r" in cmd:
            raise ValueError("a guest command is one line")
        self.state = RUNNING
        self.status = None
        self.output = []
        return f"{cmd}; {self._sentinel_command()}".encode() + CR

    def interrupt(self):
        """^C for the running command; the shell is ready again after a fresh sentinel."""
        self.state = INTERRUPTED
        self.status = None
        self._sentinel = None
        return b"\x03"

    def start_check(self):
        """Re-check a shell that should be ready (e.g. after a previous client went away)."""
        self.state = CHECK_SENT
        self.status = None
        return self._sentinel_command().encode() + CR
