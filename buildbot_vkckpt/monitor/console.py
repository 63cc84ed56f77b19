"""Incremental monitor of a DragonFly vkernel console (reference/dragonfly.md §2-§8, §15-§19).

Why one module of ~900 lines: the line reader and the table of every console message it knows
(with the DragonFly source behind each) must be read together — which lines count depends on
where the reader is (ddb, a panic block, a prompt's partial line) — and splitting the table from
the state machine would only hide that coupling.

Feed it the console bytes as they arrive; it returns :class:`Event` records at once, including
for prompts that have no trailing newline (they are recognised on the partial last line, in the
same :meth:`ConsoleMonitor.feed` call). :meth:`ConsoleMonitor.verdict` sums the stream up at any
time; :func:`classify` does the same for a whole transcript.

How a line is read. Bytes are split at ``\\n``; ``\\r``, NUL, other control characters and ANSI
escape sequences are dropped; only the first ``max_line_bytes`` of a line are kept, so memory is
bounded whatever the input. A prompt is recognised only at the start of a line; whatever follows
it on the same line (a typed command, or a kernel message that landed right after the prompt)
is read as a line of its own. Kernel messages are recognised at the start of a line only, which is
where the kernel prints them; a ``panic:`` or ``Fatal trap`` in the middle of a line counts only
when the next line is the kernel's ``cpuid = N``. So ``grep panic`` output, syslog lines such as
``host login: ROOT LOGIN (root) ON ttyv0`` and programs that print "warning" are not kernel
events. Everything is decided from the bytes seen so far, so the events do not depend on how
the stream was cut into chunks.

Event kinds (``Event.kind``; ``data`` fields in parentheses):

Prompts (the line has no trailing newline yet)
    ``login_prompt`` getty's ``login: ``; ``shell_prompt`` the configured shell prompt;
    ``ddb_prompt`` ``db> ``; ``mountroot_prompt`` ``mountroot> ``; ``loader_prompt`` the boot
    loader's ``OK `` (only before a kernel started). All carry (prompt).
Boot
    ``milestone`` (name, ...) for: ``memory_file`` (path), ``vmm`` (available), ``kvm_mapped``,
    ``tap_unit`` (unit), ``copyright``, ``real_memory``/``avail_memory`` (bytes), ``mp``, ``cpu``
    (cpu, role), ``disk`` (device), ``network`` (device), ``mounting_root`` (root),
    ``root_mount_failed`` (one root candidate failed), ``loader_error`` (reason),
    ``manual_root``, ``sigterm_shutdown``, ``no_dumps``, ``automatic_reboot``;
    ``version`` (version, kernconf: e.g. ``VKERNEL64`` or None); ``getty_banner`` (arch,
    hostname, tty).
Crashes
    ``panic`` (message: the first line; :attr:`Verdict.panic` has the wrapped remainder too);
    ``fatal_trap`` (trap, message, mode, fault_address, process), emitted at the end of its
    register block; ``double_fault`` (message); ``trace_begin`` (source: ``panic`` or ``ddb``);
    ``trace_frame`` (function, location); ``debugger`` (reason); ``caught_signal`` (signal);
    ``stopping_cpus`` (cpu); ``stopped_at`` (location, function); ``ddb_command`` (command).
Boot failures
    ``boot_failure`` (reason: ``mountroot prompt``, ``root mount failed``, ``can't find rootvp``,
    ``loader: kernel not found``, ``loader: can't load <file>``, ``loader prompt``).
Shutdown
    ``syncing``, ``halted``, ``cpu_halt``, ``rebooting``, ``cpu_reset``.
vkernel (host side)
    ``vkernel_error`` (message).
Checkpoints
    ``ckpt_continue_unsupported``; ``ckpt_save_failed`` (error); ``restoring``; ``restored``;
    ``thaw_failed`` (errno, message); ``restore_netif_failed`` (message). The host kernel's
    ``checkpoint failed with open …`` and ``pid N (…): checkpointing to …`` are host
    kprintf/syslog lines that never reach a vkernel's console (reference §23): not events.
Lines and unknown prompts (only when asked for, see :class:`ConsoleMonitor`)
    ``line`` (line: the whole cleaned line, up to ``max_line_bytes``), before the events the
    line brings; ``unknown_prompt`` (prompt): the unfinished last line ends like a shell prompt
    (``# ``, ``$ ``, ``% ``, at most 128 characters) while no shell prompt is configured —
    once per line.
Other
    ``kernel_warning`` (message); ``process_signal`` (pid, command, signal, core);
    ``stall`` (message, repeats): the same line ``stall_repeats`` times in a row with no other
    output in between (prompts and blank lines excepted).

:func:`is_fatal` says which kinds mean the guest (or the vkernel) cannot go on.
"""
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .events import Event

__all__ = ["ConsoleMonitor", "Verdict", "classify", "is_fatal", "FATAL_KINDS", "STATES"]

STATES = ("booted", "panic", "ddb", "boot_failed", "hung", "halted", "vkernel_error",
          "incomplete")

FATAL_KINDS = frozenset({
    "panic", "fatal_trap", "double_fault", "ddb_prompt", "boot_failure", "mountroot_prompt",
    "vkernel_error", "ckpt_save_failed", "thaw_failed", "stall",
})

DEFAULT_STALL_REPEATS = 10
TEXT_CHARS = 512          # Event.text and tail lines are cut to this many characters
MAX_FRAMES = 100          # longest backtrace kept
MAX_BLOCK_LINES = 64      # longest panic block kept
MAX_PANIC_CONTINUATION = 3  # lines a wrapped panic message may spill onto
_HEAD_BYTES = 4096        # how much of a partial line is examined for a prompt
MAX_PROMPT_CHARS = 128    # a longer unfinished line is output, not a prompt
_GLYPH_PROMPT = re.compile(rb"[#$%] \Z")   # csh's "vkernel# ", sh's "# ", a user's "$ "

# --- cleaning ------------------------------------------------------------------------------
_ANSI = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[()*+].|[ -~])")
_ANSI_INCOMPLETE = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*|[()*+])?\Z")
_CTRL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")   # keeps \t


def _clean(raw: bytes) -> bytes:
    if b"\x1b" in raw:
        raw = _ANSI.sub(b"", raw)
    if _CTRL.search(raw):
        raw = _CTRL.sub(b"", raw)
    return raw


def _text(raw: bytes) -> str:
    return raw[:TEXT_CHARS * 4].decode("utf-8", "replace")[:TEXT_CHARS].rstrip()


# --- what a kernel line looks like --------------------------------------------------------
# One anchored alternation; the name of the matching group picks the handler. Order matters
# only where two alternatives could match the same line (getty banner vs. DragonFly/MP).
KERNEL_PATTERNS = [   # (handler name, verbose regex matched at the start of a line)
    ("panic", rb"panic:(?:\ |$)"),
    ("cpuid", rb"cpuid\ =\ \d+"),
    ("trace", rb"Trace\ beginning\ at\ frame"),
    ("debugger", rb'Debugger\("'),
    ("stopping", rb"CPU\d+\ stopping\ CPUs"),
    ("stopped_at", rb"Stopped\ at\s"),
    ("fatal_trap", rb"Fatal\ trap\ \d+"),
    ("double_fault", rb"(?i:(?:fatal\ )?double\ fault)\b"),
    ("caught", rb"CAUGHT\ SIG\ \d+"),
    ("vmm", rb"VMM\ is\ (?:not\ )?available"),
    ("kvm", rb"KVM\ mapped\ at"),
    ("tap", rb"TAP\ UNIT\ \d+"),
    ("copyright", rb"Copyright\ \(c\)\ \d{4}"),
    ("version", rb"DragonFly\ v\d"),
    ("memory", rb"(?:real|avail)\ memory\s*=\s*\d+"),
    ("mp", rb"DragonFly/MP:"),
    ("getty", rb"DragonFly/\S+\ \("),
    ("cpu", rb"\s*cpu\d+\ \((?:BSP|AP)\)"),
    ("disk", rb"v[kc]d\d+:\ (?:<|\d+MB|COW)"),
    ("network", rb"vke\d+:\ "),
    ("mounting", rb"Mounting\ root\ from\ "),
    ("manual_root", rb"Manual\ root\ filesystem\ specification"),
    ("rootfail", rb"Root\ mount\ failed|can't\ find\ rootvp"),
    ("syncing", rb"syncing\ disks"),
    ("halted", rb"The\ operating\ system\ has\ halted"),
    ("cpu_halt", rb"cpu\ halt,\ exiting\ vkernel"),
    ("rebooting", rb"Rebooting\.\.\."),
    ("cpu_reset", rb"cpu\ reset,\ rebooting\ vkernel"),
    ("sigterm", rb"Caught\ SIGTERM\ from\ host\ system"),
    ("autoreboot", rb"Automatic\ reboot\ in\ "),
    ("nodumps", rb"vkernels\ don't\ support\ dumps"),
    ("ckpt_cont", rb"Checkpointing\ and\ continuing\ is\ not\ supported"),
    ("restoring", rb"Restoring\ vmspaces"),
    ("restored", rb"Restored\ from\ checkpoint"),
    ("thaw_unknown", rb"Unknown\ error\ restoring\ checkpoint"),
    ("procmsg", rb"pid\ \d+\ \(.*\),\ uid\ \d+:\ exited\ on\ signal"),
    ("warning", rb"WARNING:\ |Warning:\ |lock\ order\ reversal"),
    ("netif", rb"Couldn't\ reopen\ device\ file|"
                rb"Couldn't\ reinitialize\ network\ interface|"
                rb"tap-?\d+:\ ioctl\("),
    # every flavour's short usage (GSoC 2013 "[-hsUv]", master "[-hsUvdt]", reference §23)
    ("usage", rb"Usage:\ \S+\ \[-h[A-Za-z]*\]"),
    ("unprefixed", rb"(?=vm\.vkernel_enable|Must\ run|Bad\ maxmem|Bad\ ncpus|"
                    rb"Cannot\ create|Disk\ image|Failed\ to\ lock|"
                    rb"Invalid\ argument|Couldn't\ save|thaw\ failed|"
                    rb"can't\ (?:find|load)|Using\ memory)"),
]
# trap_fatal()'s "Fatal trap %d: ..." where a line does not start with it
_MID_LINE_TRAP = re.compile(rb"Fatal trap (\d+)")
_TRIGGER = re.compile(b"|".join(b"(?P<%s>%s)" % (n.encode(), p)
                               for n, p in KERNEL_PATTERNS), re.X)
# First bytes a _TRIGGER match can start with: other lines skip the regex (tests keep the two
# in step). Leading blanks are for " cpu0 (BSP)".
_TRIGGER_FIRST = frozenset(bytes([c]) for c in b"pcTDCSFdfVKrav MRsAUWlBItu\t ")

# Messages the vkernel binary or checkpt print through err(3)/warn(3), so possibly behind a
# "<program>: " prefix (the program may be a path such as /var/vkernel/boot/kernel/kernel).
_PREFIXED = re.compile(rb"""(?:[^\s:]+:\ )?(?:
 (?P<vkerr>vm\.vkernel_enable\ is\ 0|Must\ run\ .*\ with\ full\ path|Bad\ maxmem
   |Bad\ ncpus|Cannot\ create\ new\ memory\ file|Disk\ image\ .*\ is\ already\ in\ use
   |Failed\ to\ lock\ pidfile|Invalid\ argument\ to\ '-I'|\S+\ is\ not\ a\ tap\(4\)\ device
   |illegal\ option\ --\ \S)
|(?P<save_failed>Couldn't\ save\ checkpoint\ file)
|(?P<thaw>thaw\ failed\ error\ -?\d+)
|(?P<loader>can't\ (?:find|load)\ )
|(?P<memfile>Using\ memory\ file)
|(?P<netif>Couldn't\ reopen\ device\ file|Couldn't\ reinitialize\ network\ interface
   |tap-?\d+:\ ioctl\()
)""", re.X)

# A shell prompt nobody told us about (root's "# " before the agent sets its own): kernel
# messages that land right after it are still read, but only the unmistakable ones.
_ANY_PROMPT = re.compile(rb"[\w.@:~/-]{0,64}[#$%] ")
_AFTER_ANY_PROMPT = frozenset({
    "panic", "fatal_trap", "double_fault", "caught", "debugger", "stopped_at", "sigterm",
    "ckpt_cont", "restoring", "restored"})

_FRAME = re.compile(
    rb"\s*(?:#\d+\s+(?:0x[0-9a-fA-F]+\s+)?at\s+(?P<fn2>[\w.$]+)(?P<loc2>\+0x[0-9a-fA-F]+)?"
    rb"|(?P<fn>[\w.$?]+|\(null\))\([^)]*\)\s+at\s+(?P<loc>\S+))")
_TRACE_MARKER = re.compile(rb"\s*--- (?:trap|syscall|interrupt|Xfast|exception)")
_DDB_TRACE = re.compile(rb"(?:trace|where|bt|show\s+trace)(?:/\w+)?(?:\s|$)")
_DDB_LEAVE = re.compile(rb"(?:c|cont|continue|reset|call\s+cpu_reset)(?:/\w+)?\s*$")
_TRAP_FIELD = re.compile(
    rb"\s*(?:fault virtual address|fault code|instruction pointer|stack pointer|frame pointer"
    rb"|code segment|= DPL|processor eflags|current process|current thread|cpuid = "
    rb"|trap number|kernel: type|<- SMP|$)")


@dataclass
class Verdict:
    """What a console transcript says, as far as it goes.

    The first seven fields are the ``vkckpt classify --json`` contract; the rest help summaries.
    """

    state: str = "incomplete"
    reached_login: bool = False
    panic: Optional[Dict[str, Any]] = None      # {"message": str, "trap": int|None}
    in_ddb: bool = False
    backtrace: List[str] = field(default_factory=list)
    boot_failure: Optional[str] = None
    warnings: int = 0
    version: Optional[str] = None
    kernconf: Optional[str] = None
    panic_block: List[str] = field(default_factory=list)
    cpuid: Optional[int] = None
    debugger: Optional[str] = None
    stopped_at: Optional[str] = None
    vkernel_error: Optional[str] = None
    checkpoint: Optional[str] = None   # last of continue_unsupported/save_failed/restored/...
    stall: Optional[str] = None        # the repeating line, while the stall lasts
    lines: int = 0
    bytes: int = 0

    def to_json(self) -> Dict[str, Any]:
        return {
            "kind": "console", "state": self.state, "reached_login": self.reached_login,
            "panic": dict(self.panic) if self.panic else None, "in_ddb": self.in_ddb,
            "backtrace": list(self.backtrace), "boot_failure": self.boot_failure,
            "warnings": self.warnings, "version": self.version, "kernconf": self.kernconf,
            "panic_block": list(self.panic_block), "cpuid": self.cpuid,
            "debugger": self.debugger, "stopped_at": self.stopped_at,
            "vkernel_error": self.vkernel_error, "checkpoint": self.checkpoint,
            "stall": self.stall, "lines": self.lines, "bytes": self.bytes,
        }


def is_fatal(event: Event) -> bool:
    """True when the event means the guest or the vkernel cannot go on by itself."""
    return event.kind in FATAL_KINDS


def classify(data: bytes, shell_prompt: Optional[str] = None) -> Verdict:
    """Verdict on a whole transcript."""
    mon = ConsoleMonitor(shell_prompt=shell_prompt)
    mon.feed(data)
    mon.close()
    return mon.verdict()


class ConsoleMonitor:
    """Reads a console byte stream incrementally; see the module docstring."""

    def __init__(self, shell_prompt: Optional[str] = None, clock=time.monotonic,
                 max_line_bytes: int = 65536, stall_repeats: int = DEFAULT_STALL_REPEATS,
                 lines: bool = False, guess_prompts: bool = False):
        """``lines``: also emit a ``line`` event per complete line (a reader that needs the
        transcript, such as the agent's supervisor, then splits nothing itself);
        ``guess_prompts``: emit ``unknown_prompt`` for a partial line that ends like a shell
        prompt while none is configured (root's first shell, whatever its prompt)."""
        self._clock = clock
        self._lines = lines
        self._guess = guess_prompts
        self._guessed = False        # this partial line was already reported as a prompt
        self._max = max(256, int(max_line_bytes))
        self._stall_n = max(2, int(stall_repeats))
        self._out: List[Event] = []
        self._closed = False
        # position of the current (partial) line
        self._pos = 0
        self._line_no = 1
        self._line_off = 0
        self._head = bytearray()     # first _max bytes of the partial line
        self._prompt = None          # None undecided, False none, else (kind, length)
        self._last_progress = clock()
        # the stream so far
        self._tail: deque = deque(maxlen=200)
        self._reached_login = False
        self._userland = False       # this boot reached getty/login/shell
        self._crash: Optional[Dict[str, Any]] = None
        self._block: Optional[List[str]] = None
        self._block_open = False
        self._cur = (0, 1)            # (offset, line number) events are stamped with
        self._in_ddb = False
        self._backtrace: List[str] = []
        self._trace_open = False
        self._trace_is_first = False
        self._boot_failure: Optional[str] = None
        self._boot_failed_now = False
        self._warnings = 0
        self._version: Optional[str] = None
        self._kernconf: Optional[str] = None
        self._version_pending: Optional[tuple] = None
        self._trap_pending: Optional[dict] = None
        self._trap_lines = 0
        self._panic_cont = 0         # continuation lines still allowed for the panic message
        self._maybe_crash: Optional[tuple] = None
        self._cpuid: Optional[int] = None
        self._debugger: Optional[str] = None
        self._stopped_at: Optional[str] = None
        self._vkerr: Optional[str] = None
        self._vkerr_now = False
        self._checkpoint: Optional[str] = None
        self._lifecycle: Optional[str] = None
        self._preboot = True
        self._loader_error: Optional[str] = None
        self._stall_key: Optional[bytes] = None
        self._stall_count = 0
        self._stalled: Optional[bytes] = None
        self._prompts: List[tuple] = []
        self.set_shell_prompt(shell_prompt)

    # --- public API ------------------------------------------------------------------------
    def set_shell_prompt(self, prompt: Optional[str]) -> None:
        """Recognise ``prompt`` (at the start of a line) as the shell prompt from now on."""
        self._shell = prompt.encode("utf-8") if prompt else None
        prompts = [(b"login: ", "login_prompt"), (b"db> ", "ddb_prompt"),
                   (b"mountroot> ", "mountroot_prompt"), (b"OK ", "loader_prompt")]
        if self._shell:
            prompts.insert(0, (self._shell, "shell_prompt"))
        self._prompts = prompts
        self._prompt_first = frozenset(p[0] for p, _ in prompts)
        if self._prompt is False:      # the current line may now turn out to be the prompt
            self._prompt = None

    def feed(self, data: bytes) -> List[Event]:
        """Consume ``data``; return the events it completed."""
        if self._closed or not data:
            return []
        if not isinstance(data, (bytes, bytearray)):
            data = bytes(data)
        self._out = out = []
        self._last_progress = self._clock()
        pos, n, cap = 0, len(data), self._max
        find = data.find
        while pos < n:
            nl = find(b"\n", pos)
            if nl < 0:
                self._add_partial(data, pos, n)
                self._pos += n - pos
                self._check_partial()
                break
            if self._head:
                self._add_partial(data, pos, nl)
                raw = bytes(self._head)
            else:
                raw = data[pos:min(nl, pos + cap)]
            self._pos += nl + 1 - pos
            self._complete(raw)
            pos = nl + 1
        if self._guess and not self._guessed and self._shell is None:
            self._guess_prompt()
        return out

    def partial_text(self) -> str:
        """The unfinished last line, cleaned ("" when the stream ends with a newline)."""
        return _text(_clean(bytes(self._head))) if self._pos > self._line_off else ""

    def drop_partial(self) -> None:
        """The stream starts over on a new terminal (a restore's fresh pty): the unfinished
        line of the old one is dropped unread."""
        self._head = bytearray()
        self._prompt = None
        self._guessed = False
        self._line_off = self._pos

    def close(self) -> List[Event]:
        """End of stream: read the last partial line as a line and flush pending blocks."""
        if self._closed:
            return []
        self._out = out = []
        if self._pos > self._line_off:
            self._complete(bytes(self._head))
        self._flush_pending()
        self._closed = True
        return out

    def verdict(self) -> Verdict:
        """A snapshot of what the stream says so far."""
        crash = None
        if self._crash:
            crash = {"message": self._crash["message"], "trap": self._crash["trap"]}
        if self._in_ddb:
            state = "ddb"
        elif crash:
            state = "panic"
        elif self._vkerr_now:
            state = "vkernel_error"
        elif self._boot_failed_now:
            state = "boot_failed"
        elif self._stalled is not None:
            state = "hung"
        elif self._lifecycle == "halted":
            state = "halted"
        elif self._userland:
            state = "booted"
        else:
            state = "incomplete"
        return Verdict(
            state=state, reached_login=self._reached_login, panic=crash, in_ddb=self._in_ddb,
            backtrace=list(self._backtrace), boot_failure=self._boot_failure,
            warnings=self._warnings, version=self._version, kernconf=self._kernconf,
            panic_block=list(self._block or []), cpuid=self._cpuid, debugger=self._debugger,
            stopped_at=self._stopped_at, vkernel_error=self._vkerr, checkpoint=self._checkpoint,
            stall=_text(self._stalled) if self._stalled is not None else None,
            lines=self._line_no - (0 if self._pos > self._line_off else 1), bytes=self._pos)

    def tail(self, n: int = 20) -> List[str]:
        """The last ``n`` complete console lines, cleaned (at most 200 are kept)."""
        if n <= 0:
            return []
        return [_text(raw) for raw in list(self._tail)[-n:]]

    def seconds_since_output(self) -> float:
        """Time since the last :meth:`feed` call brought bytes (by the injected clock)."""
        return self._clock() - self._last_progress

    # --- line assembly ---------------------------------------------------------------------
    def _add_partial(self, data: bytes, start: int, end: int) -> None:
        room = self._max - len(self._head)
        if room > 0:
            self._head += data[start:min(end, start + room)]

    def _check_partial(self) -> None:
        """Recognise a prompt on the unfinished last line."""
        if self._prompt is not None:
            return
        head = bytes(self._head[:_HEAD_BYTES])
        m = _ANSI_INCOMPLETE.search(head)   # an escape cut by the chunk boundary: wait for it
        if m:
            head = head[:m.start()]
        # Past _HEAD_BYTES of raw bytes (escape sequences only, say) the line is decided.
        self._decide_prompt(_clean(head), final=len(self._head) >= _HEAD_BYTES)

    def _guess_prompt(self) -> None:
        if self._pos <= self._line_off:
            return
        head = _clean(bytes(self._head[:MAX_PROMPT_CHARS * 4]))
        if 0 < len(head) <= MAX_PROMPT_CHARS and _GLYPH_PROMPT.search(head):
            self._guessed = True
            self._cur = (self._line_off, self._line_no)
            self._emit("unknown_prompt", head, prompt=_text(head))

    def _decide_prompt(self, head: bytes, final: bool) -> None:
        if not head:
            if final:
                self._prompt = False
            return
        if head[0] not in self._prompt_first:     # the common case: no prompt can start here
            self._prompt = False
            return
        undecided = False
        stripped = head.rstrip() if final else None
        for prompt, kind in self._prompts:
            if kind == "loader_prompt" and not self._preboot:
                continue
            # At the end of a line, a prompt whose trailing blank was lost still counts.
            if head.startswith(prompt) or (final and stripped == prompt.rstrip()):
                self._prompt = (kind, head[:len(prompt)])
                self._on_prompt(kind, prompt, head)
                return
            if not final and prompt.startswith(head):
                undecided = True
        if not undecided:
            self._prompt = False

    def _complete(self, raw: bytes) -> None:
        # The hot path: every line passes here, so the common case is kept short.
        self._cur = (self._line_off, self._line_no)
        line = _clean(raw)
        prompt = self._prompt
        if prompt is None:
            if line and line[0] not in self._prompt_first:
                prompt = False
            else:
                self._decide_prompt(line, final=True)
                prompt = self._prompt
        if self._head:
            self._head = bytearray()
        if self._lines:
            self._out.append(Event("line", self._line_off, self._line_no, _text(line),
                                   {"line": line.decode("utf-8", "replace")}))
        self._prompt = None
        self._guessed = False
        self._line_no += 1
        self._line_off = self._pos
        if prompt:
            rest = line[len(prompt[1]):]
            self._stall_reset()
        else:
            rest = line
            self._stall_track(line)
        if self._block_open and not prompt and len(self._block) < MAX_BLOCK_LINES:
            self._block.append(_text(line))
        self._tail.append(line if len(line) <= TEXT_CHARS * 2 else line[:TEXT_CHARS * 2])
        self._kernel_line(rest, line)
        if prompt and prompt[0] == "ddb_prompt":
            self._ddb_command(rest, line)

    # --- emitting ----------------------------------------------------------------------------
    def _emit(self, kind: str, line: bytes, **data) -> None:
        off, no = self._cur
        self._out.append(Event(kind, off, no, _text(line), data))

    def _on_prompt(self, kind: str, prompt: bytes, line: bytes) -> None:
        self._cur = (self._line_off, self._line_no)
        self._flush_pending()
        self._panic_cont = 0
        self._trace_open = False
        line = line[:len(prompt)]   # what follows the prompt may not have arrived yet
        self._emit(kind, line, prompt=prompt.decode("utf-8", "replace"))
        if kind == "ddb_prompt":
            self._in_ddb = True
            self._block_open = False      # the crash block ends at the first db> prompt
            return
        self._in_ddb = False
        if kind in ("login_prompt", "shell_prompt"):
            self._userland_reached()
            if kind == "login_prompt":
                self._reached_login = True
        elif kind == "mountroot_prompt":
            self._fail_boot("mountroot prompt", line)
        elif kind == "loader_prompt":
            self._fail_boot(self._loader_error or "loader prompt", line)

    def _flush_pending(self) -> None:
        if self._version_pending:
            off_no, line, version = self._version_pending
            self._version_pending = None
            cur, self._cur = self._cur, off_no
            self._emit("version", line, version=version, kernconf=None)
            self._cur = cur
        if self._trap_pending:
            self._finish_trap()

    # --- state helpers -----------------------------------------------------------------------
    def _userland_reached(self) -> None:
        self._userland = True
        self._boot_failed_now = False
        self._vkerr_now = False
        self._lifecycle = None
        self._preboot = False

    def _kernel_started(self) -> None:
        """A kernel is booting (again): earlier shutdown/refusal no longer describes the end."""
        self._preboot = False
        self._vkerr_now = False
        self._lifecycle = None
        self._in_ddb = False

    def _new_boot(self) -> None:
        self._userland = False
        self._boot_failed_now = False
        self._preboot = True
        self._loader_error = None
        self._in_ddb = False

    def _fail_boot(self, reason: str, line: bytes) -> None:
        if self._boot_failed_now:
            return
        self._boot_failed_now = True
        if self._boot_failure is None:
            self._boot_failure = reason
        self._emit("boot_failure", line, reason=reason)

    def _open_crash(self, message: str, trap: Optional[int], line: bytes) -> None:
        if self._crash is None:
            self._crash = {"message": message, "trap": trap}
            self._block = [_text(line)]
            self._block_open = not self._in_ddb

    def _ddb_command(self, rest: bytes, line: bytes) -> None:
        cmd = rest.strip()
        if not cmd:
            return
        self._emit("ddb_command", line, command=_text(cmd))
        if _DDB_TRACE.match(cmd):
            self._emit("trace_begin", line, source="ddb")
            self._start_trace()
        elif _DDB_LEAVE.match(cmd):
            self._in_ddb = False

    def _start_trace(self) -> None:
        self._trace_open = True
        self._trace_is_first = not self._backtrace

    def _stall_reset(self) -> None:
        self._stall_key = None
        self._stall_count = 0
        self._stalled = None

    def _stall_track(self, line: bytes) -> None:
        key = line.strip()
        if not key:
            self._stall_reset()
            return
        if key == self._stall_key:
            self._stall_count += 1
            if self._stall_count == self._stall_n:
                self._stalled = key
                self._emit("stall", line, message=_text(key), repeats=self._stall_count)
        else:
            self._stall_key = key
            self._stall_count = 1
            self._stalled = None

    # --- kernel lines --------------------------------------------------------------------------
    def _kernel_line(self, rest: bytes, line: bytes) -> None:
        maybe, self._maybe_crash = self._maybe_crash, None
        if self._version_pending:
            off_no, vline, version = self._version_pending
            self._version_pending = None
            m = re.match(rb"\s+(?:\S+@\S+:)?(?:\S*/)?([\w.-]+)\s*$", rest)
            cur, self._cur = self._cur, off_no
            self._emit("version", vline, version=version,
                       kernconf=m.group(1).decode("ascii", "replace") if m else None)
            self._cur = cur
            if m:
                self._kernconf = m.group(1).decode("ascii", "replace")
                return
        if self._trap_pending:
            if _TRAP_FIELD.match(rest) and self._trap_lines < 24:
                self._trap_field(rest)
                return
            self._finish_trap()
        if self._trace_open:
            m = _FRAME.match(rest)
            if m:
                fn = (m.group("fn") or m.group("fn2")).decode("utf-8", "replace")
                loc = (m.group("loc") or m.group("loc2") or b"").decode("utf-8", "replace")
                if self._trace_is_first and len(self._backtrace) < MAX_FRAMES:
                    self._backtrace.append(fn)
                self._emit("trace_frame", line, function=fn, location=loc)
                return
            if _TRACE_MARKER.match(rest):
                return
            self._trace_open = False
            self._trace_is_first = False
        m = _TRIGGER.match(rest) if rest[:1] in _TRIGGER_FIRST else None
        if m is None and (b"# " in rest or b"$ " in rest or b"% " in rest):
            p = _ANY_PROMPT.match(rest)
            if p:
                m = _TRIGGER.match(rest, p.end())
                if m is not None and m.lastgroup in _AFTER_ANY_PROMPT:
                    rest = rest[p.end():]
                    m = _TRIGGER.match(rest)
                else:
                    m = None
        if m:
            self._panic_cont = 0
            getattr(self, "_k_" + m.lastgroup)(rest, line, m, maybe)
            return
        if b": " in rest or b" is not a tap(4)" in rest:
            m = _PREFIXED.match(rest)
            if m:
                self._panic_cont = 0
                getattr(self, "_p_" + m.lastgroup)(rest, line, m)
                return
        if self._panic_cont and rest.strip():
            self._panic_cont -= 1
            self._crash_continue(rest)
            return
        self._panic_cont = 0
        if b"panic: " in rest or b"Fatal trap " in rest:
            self._maybe_crash = (self._cur, line, rest)

    def _crash_continue(self, rest: bytes) -> None:
        if self._crash is not None and self._crash.get("_continuable"):
            self._crash["message"] = (self._crash["message"] + " "
                                      + _text(rest.strip())).strip()

    # Handlers for _TRIGGER groups: (rest, line, match, mid-line crash candidate).
    def _k_panic(self, rest, line, m, maybe):
        message = _text(rest[6:].strip())
        fresh = self._crash is None
        self._open_crash(message, None, line)
        if fresh:
            self._crash["_continuable"] = True
        self._panic_cont = MAX_PANIC_CONTINUATION
        self._emit("panic", line, message=message)
        if re.match(r"(?i)double fault\b", message):
            self._emit("double_fault", line, message=message)
        if "rootvp" in message or "Root mount failed" in message:
            self._fail_boot("root mount failed" if "Root" in message else "can't find rootvp",
                            line)

    def _k_cpuid(self, rest, line, m, maybe):
        if self._crash is not None:
            self._crash.pop("_continuable", None)
        self._panic_cont = 0
        if maybe is not None and not self._trap_pending:
            cur, mline, mrest = maybe
            saved, self._cur = self._cur, cur
            i = mrest.find(b"panic: ")
            trap = _MID_LINE_TRAP.search(mrest)    # "Fatal trap " alone is not one
            j = trap.start() if trap else -1
            if i >= 0 and (j < 0 or i < j):
                self._k_panic(mrest[i:], mline, None, None)
                self._panic_cont = 0
            elif j >= 0:
                self._k_fatal_trap(mrest[j:], mline, None, None)
            self._cur = saved
        num = re.match(rb"cpuid = (\d+)", rest)
        if self._cpuid is None or self._trap_pending:
            self._cpuid = int(num.group(1))

    def _k_trace(self, rest, line, m, maybe):
        self._emit("trace_begin", line, source="panic")
        self._start_trace()

    def _k_debugger(self, rest, line, m, maybe):
        r = re.match(rb'Debugger\("(.*)"\)', rest)
        reason = _text(r.group(1)) if r else _text(rest[10:].rstrip(b'")'))
        if self._debugger is None:
            self._debugger = reason
        self._emit("debugger", line, reason=reason)

    def _k_stopping(self, rest, line, m, maybe):
        cpu = re.match(rb"CPU(\d+)", rest)
        self._emit("stopping_cpus", line, cpu=int(cpu.group(1)))

    def _k_stopped_at(self, rest, line, m, maybe):
        loc = re.match(rb"Stopped at\s+([^\s:]+)", rest)
        location = _text(loc.group(1)) if loc else ""
        function = re.split(r"[+]", location, 1)[0]
        if self._stopped_at is None:
            self._stopped_at = location
        self._emit("stopped_at", line, location=location, function=function)

    def _k_fatal_trap(self, rest, line, m, maybe):
        self._flush_pending()
        t = re.match(rb"Fatal trap (\d+):\s*(.*?)(?:\s+while in (\w+) mode)?\s*$", rest)
        trap = int(_MID_LINE_TRAP.match(rest).group(1))
        message = _text(t.group(2)) if t else ""
        if t and t.group(3):
            message += " while in %s mode" % t.group(3).decode("ascii", "replace")
        self._open_crash(message, trap, line)
        self._trap_pending = {"cur": self._cur, "line": line, "trap": trap, "message": message,
                              "mode": _text(t.group(3)) if t and t.group(3) else None,
                              "fault_address": None, "process": None}
        self._trap_lines = 0

    def _trap_field(self, rest):
        self._trap_lines += 1
        t = self._trap_pending
        s = rest.strip()
        if s.startswith(b"fault virtual address"):
            t["fault_address"] = _text(s.split(b"=", 1)[1].strip())
        elif s.startswith(b"cpuid = "):
            self._cpuid = int(re.match(rb"cpuid = (\d+)", s).group(1))
        elif s.startswith(b"current process"):
            t["process"] = _text(s.split(b"=", 1)[1].strip()) if b"=" in s else None
            self._finish_trap()

    def _finish_trap(self):
        t, self._trap_pending = self._trap_pending, None
        cur, self._cur = self._cur, t["cur"]
        self._emit("fatal_trap", t["line"], trap=t["trap"], message=t["message"],
                   mode=t["mode"], fault_address=t["fault_address"], process=t["process"])
        self._cur = cur

    def _k_double_fault(self, rest, line, m, maybe):
        self._open_crash("double fault", None, line)
        self._emit("double_fault", line, message=_text(rest.strip()))

    def _k_caught(self, rest, line, m, maybe):
        sig = re.match(rb"CAUGHT SIG (\d+)", rest)
        self._emit("caught_signal", line, signal=int(sig.group(1)))

    def _milestone(self, line, name, **data):
        self._emit("milestone", line, name=name, **data)

    def _k_vmm(self, rest, line, m, maybe):
        self._kernel_started_host()
        self._milestone(line, "vmm", available=b"not" not in rest[:12])

    def _kernel_started_host(self):
        # Host-side lines start a vkernel (first boot or one the fork wrapper restarted).
        if self._lifecycle in ("rebooting", "halted") or self._preboot:
            self._new_boot()
        self._kernel_started()

    def _k_kvm(self, rest, line, m, maybe):
        self._kernel_started_host()
        self._milestone(line, "kvm_mapped")

    def _k_tap(self, rest, line, m, maybe):
        unit = re.match(rb"TAP UNIT (\d+)", rest)
        self._milestone(line, "tap_unit", unit=int(unit.group(1)))

    def _k_copyright(self, rest, line, m, maybe):
        if b"DragonFly" in rest:      # the first line of the block opens a new kernel boot
            self._kernel_started_host()
        self._kernel_started()
        self._milestone(line, "copyright")

    def _k_version(self, rest, line, m, maybe):
        self._kernel_started()
        v = re.match(rb"DragonFly (v\S+)", rest)
        version = _text(v.group(1))
        if self._version is None:
            self._version = version
        self._version_pending = (self._cur, line, version)

    def _k_memory(self, rest, line, m, maybe):
        v = re.match(rb"(real|avail) memory\s*=\s*(\d+)", rest)
        self._milestone(line, v.group(1).decode() + "_memory", bytes=int(v.group(2)))

    def _k_mp(self, rest, line, m, maybe):
        self._milestone(line, "mp")

    def _k_getty(self, rest, line, m, maybe):
        g = re.match(rb"DragonFly/(\S+) \(([^)]*)\) \(([^)]*)\)", rest)
        if not g:
            return
        self._userland_reached()
        self._emit("getty_banner", line, arch=_text(g.group(1)), hostname=_text(g.group(2)),
                   tty=_text(g.group(3)))

    def _k_cpu(self, rest, line, m, maybe):
        c = re.match(rb"\s*cpu(\d+) \((BSP|AP)\)", rest)
        self._milestone(line, "cpu", cpu=int(c.group(1)), role=c.group(2).decode())

    def _k_disk(self, rest, line, m, maybe):
        self._milestone(line, "disk", device=_text(rest.split(b":", 1)[0]))

    def _k_network(self, rest, line, m, maybe):
        self._milestone(line, "network", device=_text(rest.split(b":", 1)[0]))

    def _k_mounting(self, rest, line, m, maybe):
        root = rest[len(b"Mounting root from "):].split()
        root_s = _text(root[0]) if root else ""
        self._milestone(line, "mounting_root", root=root_s)
        if re.search(rb"\bfailed\b", rest):
            self._milestone(line, "root_mount_failed")

    def _k_manual_root(self, rest, line, m, maybe):
        self._milestone(line, "manual_root")

    def _k_rootfail(self, rest, line, m, maybe):
        # One candidate failing is not yet a failed boot: the vkernel tries vkd0s0a, then
        # vkd0s1a (reference §5). It fails at the mountroot> prompt or the final panic.
        if b"rootvp" in rest:
            self._fail_boot("can't find rootvp", line)
        elif b"startup aborted" in rest:
            self._fail_boot("root mount failed", line)
        else:
            self._milestone(line, "root_mount_failed")

    def _k_syncing(self, rest, line, m, maybe):
        self._emit("syncing", line)

    def _k_halted(self, rest, line, m, maybe):
        self._lifecycle = "halted"
        self._in_ddb = False
        self._emit("halted", line)

    def _k_cpu_halt(self, rest, line, m, maybe):
        self._lifecycle = "halted"
        self._in_ddb = False
        self._emit("cpu_halt", line)

    def _k_rebooting(self, rest, line, m, maybe):
        self._lifecycle = "rebooting"
        self._new_boot()
        self._emit("rebooting", line)

    def _k_cpu_reset(self, rest, line, m, maybe):
        self._lifecycle = "rebooting"
        self._new_boot()
        self._emit("cpu_reset", line)

    def _k_sigterm(self, rest, line, m, maybe):
        self._milestone(line, "sigterm_shutdown")

    def _k_autoreboot(self, rest, line, m, maybe):
        self._milestone(line, "automatic_reboot")

    def _k_nodumps(self, rest, line, m, maybe):
        self._milestone(line, "no_dumps")

    def _k_ckpt_cont(self, rest, line, m, maybe):
        self._checkpoint = "continue_unsupported"
        self._emit("ckpt_continue_unsupported", line)

    def _k_restoring(self, rest, line, m, maybe):
        self._checkpoint = "restoring"
        self._emit("restoring", line)

    def _k_restored(self, rest, line, m, maybe):
        self._checkpoint = "restored"
        self._emit("restored", line)

    def _k_thaw_unknown(self, rest, line, m, maybe):
        self._checkpoint = "thaw_failed"
        self._emit("thaw_failed", line, errno=None, message=_text(rest.strip()))

    def _k_procmsg(self, rest, line, m, maybe):
        p = re.match(rb"pid (\d+) \((.*)\), uid \d+: exited on signal (\d+)"
                     rb"( \(core dumped\))?", rest)
        if not p:
            return
        self._emit("process_signal", line, pid=int(p.group(1)), command=_text(p.group(2)),
                   signal=int(p.group(3)), core=bool(p.group(4)))

    def _k_warning(self, rest, line, m, maybe):
        self._warnings += 1
        self._emit("kernel_warning", line, message=_text(rest.strip()))

    def _k_netif(self, rest, line, m, maybe):
        self._emit("restore_netif_failed", line, message=_text(rest.strip()))

    def _k_usage(self, rest, line, m, maybe):
        self._vkernel_error(line, rest)

    def _k_unprefixed(self, rest, line, m, maybe):
        p = _PREFIXED.match(rest)
        if p:
            getattr(self, "_p_" + p.lastgroup)(rest, line, p)

    # Handlers for _PREFIXED groups: (rest, line, match).
    def _vkernel_error(self, line, rest):
        message = _text(rest.strip())
        if self._vkerr is None:
            self._vkerr = message
        self._vkerr_now = True
        self._emit("vkernel_error", line, message=message)

    def _p_vkerr(self, rest, line, m):
        self._vkernel_error(line, rest)

    def _p_save_failed(self, rest, line, m):
        err = rest.split(b"Couldn't save checkpoint file", 1)[1].lstrip(b": ").strip()
        self._checkpoint = "save_failed"
        self._emit("ckpt_save_failed", line, error=_text(err) or None)

    def _p_netif(self, rest, line, m):
        # the handler's warn(3) output: "<prog>: Couldn't reinitialize network interface"
        self._k_netif(rest[m.start("netif"):], line, m, False)

    def _p_thaw(self, rest, line, m):
        t = re.search(rb"thaw failed error (-?\d+)\s*(.*)", rest)
        self._checkpoint = "thaw_failed"
        self._emit("thaw_failed", line, errno=int(t.group(1)), message=_text(t.group(2)))

    def _p_loader(self, rest, line, m):
        if not self._preboot:
            return
        t = re.search(rb"can't (find|load) '?([^'\s]*)'?", rest)
        what = _text(t.group(2)) or "kernel"
        if t.group(1) == b"find":
            reason = "loader: kernel not found" if "kernel" in what else \
                "loader: %s not found" % what
        else:
            reason = "loader: can't load %s" % what
        if self._loader_error is None:
            self._loader_error = reason
        self._emit("milestone", line, name="loader_error", reason=reason)

    def _p_memfile(self, rest, line, m):
        self._kernel_started_host()
        path = rest.split(b"Using memory file", 1)[1].lstrip(b": ").strip()
        self._milestone(line, "memory_file", path=_text(path))
