"""Finding root's first shell on the console, whatever its prompt looks like.

After the getty autologin root's shell is csh with the prompt ``vkernel# `` (``/root/.cshrc``:
``set prompt = "`hostname -s`# "``, no blank before ``#``); an image that made root's shell
``/bin/sh`` shows sh's ``# ``; a site may have set anything else (reference/dragonfly.md §23).
Nothing here depends on one glyph:

* a partial console line (no newline yet) that ends in ``# ``, ``$ `` or ``% `` is taken as a
  prompt, with or without a blank before the glyph (the console monitor's ``unknown_prompt``);
* a prompt that is none of these: once the boot reached its milestones (the root file system
  is mounted, or getty spoke) and the console stayed quiet for ``quiet`` seconds, a sentinel is
  typed — ``echo VKP''-<token>-<n>``, valid in csh and sh alike, whose echo cannot match what
  it prints — and its output line proves a shell reads the console. At most ``MAX_PROBES``
  sentinels are typed per shell; after that the boot's own timeout ends it, naming what the
  console last showed.

Pure protocol, no I/O: the supervisor feeds events and lines and writes what comes back.
"""
MAX_PROBES = 3
# a milestone after which a quiet console is a shell waiting, not a kernel probing devices
USERLAND_MILESTONES = ("mounting_root",)
USERLAND_KINDS = ("getty_banner", "login_prompt")


class PromptFinder:
    def __init__(self, token, quiet=5.0):
        self.token = token
        self.quiet = quiet
        self.userland = False       # the boot reached the root mount or getty
        self.probes = 0             # sentinels typed for the current shell
        self.serial = 0
        self.pending = set()        # sentinel outputs awaited (a slow shell answers late)
        self.answered = 0           # sentinels answered (shells found by a round trip)

    def reset(self):
        """A guest reboot: everything starts again."""
        self.userland = False
        self.probes = 0
        self.pending = set()

    def next_shell(self):
        """A shell was found (or replaced with ``exec``): the next one gets its own probes."""
        self.probes = 0
        self.pending = set()

    def on_event(self, kind, data=None):
        if kind in ("rebooting", "cpu_reset"):
            self.reset()
        elif kind in USERLAND_KINDS or (
                kind == "milestone" and (data or {}).get("name") in USERLAND_MILESTONES):
            self.userland = True

    def deadline(self, last_output):
        """When the next sentinel is due (None: not now)."""
        if not self.userland or self.quiet is None or self.quiet <= 0 \
                or self.probes >= MAX_PROBES or last_output is None:
            return None
        return last_output + self.quiet

    def probe(self):
        """Bytes to type: one sentinel round trip."""
        self.probes += 1
        self.serial += 1
        tag = f"{self.token}-{self.serial}"
        self.pending.add("VKP-" + tag)
        return f"echo VKP''-{tag}\r".encode()

    def on_line(self, text):
        """True when ``text`` is an awaited sentinel's output — alone on its line, or after a
        prompt the shell printed first — and not the echo of the command (which has '')."""
        text = text.strip()
        if not self.pending or "''" in text:
            return False
        tag = text.rsplit(None, 1)[-1] if text else ""
        if tag not in self.pending or not (text == tag or text.endswith(" " + tag)
                                           or text.endswith(">" + tag)):
            return False
        self.pending.clear()
        self.answered += 1
        return True

    def describe(self):
        if not self.userland:
            return "the boot did not reach the root mount or getty"
        if self.probes:
            return (f"no shell prompt recognised; {self.probes} sentinel(s) typed on a quiet "
                    "console were not answered")
        return "no shell prompt recognised"
