"""Incremental monitor for DragonFly ``make`` output (buildworld, buildkernel, installworld, ...).

Feed it bytes as they arrive, in chunks of any size; lines may be split anywhere. It follows the
``Makefile.inc1`` banners (reference/dragonfly.md §12), collects compiler and linker diagnostics,
and reads bmake's failure formats (§13) to say which target failed, where, and why.

Why one module of ~800 lines: the scanners, the table of every line format it knows and the
state that decides what a line means (which target and stage is running, whether an error was
seen, how nested make levels unwind) are one reader; split apart, each half would only make
sense with the other open. What streams the log live is its own module, ``buildlogdigest``.

Only a few lines of a build log matter, so chunks are not split into lines in Python: two
compiled scanners look for markers over the whole chunk (``\\n>>> ``, ``\\n*** ``, ``: warning:``,
...), only the lines holding a hit are decoded and classified, and line numbers come from counting
``\\n`` between hits. Lines are capped at ``max_line_bytes``; what lies beyond the cap is dropped
(and counted) and never classified, so the result does not depend on how the stream was chunked.

Event kinds (``Event.data`` fields in brackets):

``target_start`` / ``target_complete``  [target, stage, title, index, count]
    ``>>> starting buildworld target``, ``>>> quickworld target complete``, ``make world``.
``stage``  [target, stage, title, index, count]
    a world stage banner: ``>>> stage 4b: building libraries``,
    ``>>> Rebuilding the temporary build tree``, installworld's ``>>> Making hierarchy``, ...
``kernel_start`` / ``kernel_complete``  [kernconf, date, target, stage, index, count]
    ``>>> Kernel build for VKERNEL64 started on <date>`` / ``completed on <date>``.
``install_start`` / ``install_complete``  [target, kernconf, date, stage, ...]
    installworld's start/complete banners and ``>>> Kernel install for X started/completed``.
``warning``  [file, source_line, column, message, flag, severity]
    ``path/file.c:12:5: warning: msg [-Wflag]``, or ``tool: warning: msg`` (no file).
``compile_error``  [file, source_line, column, message, flag, severity]
    ``error:``, ``fatal error:`` and linker errors (``undefined reference to``,
    ``multiple definition of``, ``ld: cannot find``, ``ld: error:``); severity is
    ``error``, ``fatal error`` or ``linker``.
``make_error``  [target, code, signal, ignored]
    ``*** Error code N``, ``*** [target] Error code N``, ``*** Signal N``, optional
    `` (ignored)`` (does not fail the build), ``make: don't know how to make T. Stop``.
``make_stopped``  [dir, target]
    ``make: stopped in DIR``, ``make: stopped making "T" in DIR`` (also ``make[2]:``).
``make_error_count``  [count]
    ``1 error`` / ``N errors`` printed by bmake ``-j`` once its jobs drain.
``no_space``  [message]
    a tool could not write: ``...: No space left on device`` (a full disk is the host's
    problem, not the code's: :attr:`BuildReport.no_space`).
``precondition``  [message]
    lines printed just before a deliberate failure: ``You must buildworld before
    buildkernel.``, ``>>> ERROR: Missing kernel configuration file(s).``, ``>>> X not found in
    DIR.``, ``You need to run 'make preupgrade' first.``, ``Explicit target required.``, ...

Nested make failures print one ``Error code`` / ``stopped in`` pair per level; the innermost
(first) pair names the failing target and directory.
"""
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional

from .events import Event

__all__ = ["BuildLogMonitor", "BuildReport", "CompilerMessage", "Warning_",
           "classify_build", "STAGE_LISTS"]

# Documented stage order of each world target (reference §12); "init" and "done" are the
# start/complete banners, so buildworld has the 12 rows of the table.
STAGE_LISTS = {
    "buildworld": ["init", "tmp", "1", "2b", "2c", "3", "4a", "4b", "4c", "4d", "5", "done"],
    "quickworld": ["init", "tmp", "2b", "4a", "4b", "4c", "4d", "5", "done"],
    "installworld": ["init", "hierarchy", "install", "done"],
    "world": ["init", "done"],
}
_WORLD_TARGETS = ("buildworld", "quickworld")
_KERNEL_BUILD = "buildkernel"
_KERNEL_INSTALL = "installkernel"

MAX_DISTINCT_WARNINGS = 1000    # bounded memory: further distinct warnings are only counted
MAX_ERRORS = 200
_TEXT_CLIP = 1000               # event lines travel as JSON lines well under 4 KB
_MESSAGE_CLIP = 500

# --- scanners: every classifiable line holds one of these markers --------------------------
_LINE_MARKERS = (rb"(?:>>> |\*\*\* |Stop\.|make(?:\[\d+\])?: |You |Explicit target|The |"
                 rb"must specify|\d+ errors?\b)")
_LINE_SCAN = re.compile(rb"\n" + _LINE_MARKERS)   # literal prefix: searched at C speed
_LINE_HEAD = re.compile(_LINE_MARKERS)            # for a line at the very start of a buffer
_DIAG_SCAN = re.compile(rb": (?:warning: |error: |fatal error: |undefined reference to |"
                        rb"multiple definition of |cannot find |No space left on device)")
NO_SPACE = "No space left on device"     # strerror(ENOSPC), whichever tool could not write

# --- line classifiers (on decoded, cleaned text) --------------------------------------------
_CTRL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_BANNER_TARGET = re.compile(r"starting (\w+) target$")
_BANNER_DONE = re.compile(r"(\w+) target complete$")
_BANNER_STAGE = re.compile(r"stage (\w+): (.*)$")
_BANNER_KERNEL = re.compile(r"Kernel (build|install) for (\S+) (started|completed) on ?(.*)$")
_BANNER_WORLD = re.compile(r"(?:elf )?make world (started|completed) on ?(.*)$")
_BANNER_NOT_FOUND = re.compile(r"\S+ not found in \S.*$")
_BANNER_STAGES = {"Rebuilding the temporary build tree": "tmp",
                  "Making hierarchy": "hierarchy", "Installing everything": "install"}

_MAKE_ERROR = re.compile(r"\*\*\* (?:\[(?P<target>.*?)\] )?(?:Error code (?P<code>\d+)|"
                         r"Signal (?P<signal>\d+))(?P<rest>.*)$")
_FAILED_TARGET = re.compile(r"\*\*\* Failed target:\s+(.+)$")
_MAKE_STOPPED = re.compile(r"make(?:\[\d+\])?: stopped (?:making \"(?P<target>.*?)\" )?in "
                           r"(?P<dir>.+)$")
_MAKE_NO_RULE = re.compile(r"make(?:\[\d+\])?: don't know how to make (?P<target>.+?)\.?"
                           r" ?Stop\.?$")
_ERROR_COUNT = re.compile(r"(\d+) errors?$")

_PRECONDITIONS = [
    (re.compile(r"You must buildworld before buildkernel\."),
     "You must buildworld before buildkernel."),
    (re.compile(r"You need to run 'make preupgrade' first\."),
     "You need to run 'make preupgrade' first."),
    (re.compile(r"The kernel was built using buildworld tools which no"),
     "The kernel was built using buildworld tools which no longer appear to exist, "
     "(real)quickkernel failed!"),
    (re.compile(r"(?:You must upgrade your kernel|The system is too old for a normal "
                r"installworld|must specify VKDIR=).*"), None),
    (re.compile(r"Explicit target required\..*"), None),
]

_DIAG_FILE = re.compile(r"(?P<file>[^\s:][^:]*?):(?P<line>\d+):(?:(?P<col>\d+):)? "
                        r"(?P<sev>warning|error|fatal error): (?P<msg>.*?)"
                        r"(?: \[(?P<flag>-W[^\]\s]*)\])?$")
_DIAG_TOOL = re.compile(r"(?P<tool>[^\s:]+): (?:.*?: )?(?P<sev>warning|error|fatal error): "
                        r"(?P<msg>.*?)(?: \[(?P<flag>-W[^\]\s]*)\])?$")
_LINK_WHAT = ("undefined reference to ", "multiple definition of ")
# the part before ": undefined reference to": "file.c:(.text+0x1a)" or "file.c:12"
_LINK_WHERE = re.compile(r"(?P<file>[^\s:][^:]*):(?:(?P<line>\d+)|\([^)]*\))")
_LINK_TOOL = re.compile(r"(?P<tool>\S*ld(?:\.\w+)?): (?P<msg>cannot find .*)$")


@dataclass
class CompilerMessage:
    """A compiler/linker diagnostic; warnings are deduplicated by (file, line, message)."""

    file: Optional[str]
    line: Optional[int]
    column: Optional[int]
    message: str
    flag: Optional[str] = None
    count: int = 1
    severity: str = "warning"

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)


Warning_ = CompilerMessage


@dataclass
class BuildReport:
    """Snapshot of what the monitor knows; ``report()`` builds one at any time."""

    state: str = "incomplete"           # "succeeded" | "failed" | "incomplete"
    target: Optional[str] = None
    stage: Optional[str] = None
    stage_title: Optional[str] = None
    stage_index: int = 0
    stage_count: int = 0
    stages: List[Dict[str, Any]] = field(default_factory=list)
    warnings: List[CompilerMessage] = field(default_factory=list)
    warning_count: int = 0
    errors: List[Dict[str, Any]] = field(default_factory=list)
    first_error: Optional[Dict[str, Any]] = None
    failing_target: Optional[str] = None
    failing_dir: Optional[str] = None
    error_code: Optional[int] = None
    precondition: Optional[str] = None
    no_space: Optional[str] = None      # the first "No space left on device" line: a full disk
    failure: Optional[str] = None       # the make line that failed the build, as printed
    signal: Optional[int] = None
    lines: int = 0
    bytes: int = 0
    dropped_bytes: int = 0              # bytes beyond max_line_bytes, never classified
    long_lines: int = 0

    def _stage_label(self) -> Optional[str]:
        if not self.stage:
            return None
        if self.stage[0].isdigit():
            return f"stage {self.stage}"
        if self.stage.startswith(("kernel ", "installkernel ")):
            return self.stage
        if self.stage in ("init", "done") and self.target:
            return self.target
        return self.stage_title or self.stage

    def _warnings_text(self) -> str:
        return f"{self.warning_count} warning" + ("" if self.warning_count == 1 else "s")

    def live_summary(self) -> str:
        if self.state == "failed":
            return self.summary()
        label = self._stage_label()
        if label is None:
            head = f"{self.target}: starting" if self.target else f"{self.lines} lines"
        else:
            head = label
            if self.stage and self.stage[0].isdigit() and self.stage_title:
                head += f": {self.stage_title}"
            if self.stage_count:
                head += f" ({self.stage_index}/{self.stage_count})"
        return f"{head} · {self._warnings_text()}"

    def summary(self) -> str:
        if self.state == "succeeded":
            what = self.target or "build"
            if self.stage_count and self.target in STAGE_LISTS:
                what += f" done ({self.stage_index}/{self.stage_count} stages)"
            elif self.stage and self.stage.startswith(("kernel ", "installkernel ")):
                what += f" done ({self.stage.split(' ', 1)[1]})"
            else:
                what += " done"
            return f"{what} · {self._warnings_text()}"
        if self.state == "incomplete":
            return "incomplete: " + self.live_summary()
        label = self._stage_label()
        head = f"failed in {label}" if label else "failed"
        make_part = None
        if self.failure:
            make_part = self.failure + (f" in {self.failing_dir}" if self.failing_dir else "")
        elif self.failing_dir:
            make_part = f"make stopped in {self.failing_dir}"
        if self.precondition:
            body = self.precondition + (f" ({make_part})" if make_part else "")
        else:
            body = make_part or (self.first_error or {}).get("message") or "build failed"
            first = self.errors[0] if self.errors else None
            if first and make_part:
                where = ":".join(str(x) for x in (first["file"], first["line"]) if x is not None)
                body += f" · {where + ': ' if where else ''}{_clip(first['message'], 120)}"
        return f"{head}: {body}"

    def to_json(self) -> Dict[str, Any]:
        out = asdict(self)
        out["summary"] = self.summary()
        return out


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _clean(raw: bytes) -> str:
    """Bytes of one line (no newline) to display text: lossy decode, no control characters."""
    text = raw.decode("utf-8", "replace")
    if "\r" in text:
        text = text.rstrip("\r").replace("\r", " ")
    return _CTRL.sub("", text).rstrip()


def _marked_line_starts(data: bytes, s: int, e: int) -> List[int]:
    """Sorted offsets of the lines of data[s:e] (whole lines: s starts one, data[e - 1] is a
    newline) that hold a marker, i.e. every line the monitor may classify; the scan runs at C
    speed over the region, never line by line."""
    starts = set()
    if s == 0:
        if _LINE_HEAD.match(data, 0, e):
            starts.add(0)
        scan_from = 0
    else:
        scan_from = s - 1                # data[s - 1] is the newline ending the last line
    for m in _LINE_SCAN.finditer(data, scan_from, e):
        starts.add(m.start() + 1)
    line_end = s
    for m in _DIAG_SCAN.finditer(data, s, e):
        if m.start() < line_end:
            continue                     # another marker on a line already taken
        starts.add(data.rfind(b"\n", s, m.start()) + 1 or s)
        line_end = data.find(b"\n", m.start(), e)
    return sorted(starts)


class BuildLogMonitor:
    """Feed build output bytes, get :class:`Event` s; ask :meth:`report` at any time."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, context_lines: int = 5,
                 max_line_bytes: int = 16384):
        self._clock = clock
        self._ctx = max(0, int(context_lines))
        self._cap = max(1, int(max_line_bytes))
        self._t0: Optional[float] = None
        self._now = 0.0
        self._offset = 0                 # stream offset of the first byte of the current line
        self._line_no = 1                # number of the current (not yet complete) line
        self._partial = bytearray()      # kept prefix (<= cap) of the unterminated line
        self._partial_len = 0            # its true length
        self._tail: List[bytes] = []     # last context lines before the current position
        self._after_left = 0             # lines still wanted after the first error
        self._dropped = 0
        self._long_lines = 0
        # build state
        self._target: Optional[str] = None
        self._stages: List[Dict[str, Any]] = []
        self._target_stage_names: List[str] = []
        self._kernels_started: List[str] = []
        self._kernels_done = 0
        self._complete = False
        self._failed = False
        self._failure: Optional[str] = None
        self._failing_target: Optional[str] = None
        self._failing_dir: Optional[str] = None
        self._error_code: Optional[int] = None
        self._signal: Optional[int] = None
        self._pending_failed_target: Optional[str] = None
        self._precondition: Optional[str] = None
        self._no_space: Optional[str] = None
        self._warnings: Dict[tuple, CompilerMessage] = {}
        self._warning_count = 0
        self._errors: List[Dict[str, Any]] = []
        self._first_error: Optional[Dict[str, Any]] = None

    # --- byte handling ------------------------------------------------------------------------

    def feed(self, data: bytes) -> List[Event]:
        events: List[Event] = []
        if not data:
            return events
        data = bytes(data)
        if self._t0 is None:
            self._t0 = self._clock()
        self._now = round(self._clock() - self._t0, 3)
        start = 0
        if self._partial_len:
            nl = data.find(b"\n")
            if nl < 0:
                self._extend_partial(data)
                return events
            self._extend_partial(data[:nl])
            self._finish_partial(events)
            start = nl + 1
        end = data.rfind(b"\n", start)
        if end >= 0:
            self._region(data, start, end + 1, events)
            start = end + 1
        if start < len(data):
            self._extend_partial(data[start:])
        return events

    def close(self) -> List[Event]:
        """Flush an unterminated last line (the stream ended)."""
        events: List[Event] = []
        if self._partial_len:
            self._finish_partial(events, terminated=False)
        return events

    def _extend_partial(self, piece: bytes) -> None:
        room = self._cap - len(self._partial)
        if room > 0:
            self._partial += piece[:room]
        self._partial_len += len(piece)

    def _finish_partial(self, events: List[Event], terminated: bool = True) -> None:
        line, length = bytes(self._partial), self._partial_len
        self._partial.clear()
        self._partial_len = 0
        if length > self._cap:
            self._dropped += length - self._cap
            self._long_lines += 1
        probe = b"\n" + line
        wanted_after = self._after_left > 0
        if _LINE_SCAN.search(probe) or _DIAG_SCAN.search(probe):
            self._classify(line, self._offset, self._line_no, events,
                           lambda: list(self._tail))
        if wanted_after:
            self._take_after([line])
        self._push_tail([line])
        self._offset += length + (1 if terminated else 0)
        self._line_no += 1

    def _region(self, data: bytes, s: int, e: int, events: List[Event]) -> None:
        """Handle the complete lines data[s:e] (e - 1 is a newline) without a per-line loop."""
        cap = self._cap
        if e - s > cap:
            self._count_long_lines(data, s, e)
        line_no, last = self._line_no, s
        after_from = s
        for ls in _marked_line_starts(data, s, e):
            le = data.find(b"\n", ls, e)
            line_no += data.count(b"\n", last, ls)
            last = ls
            if le - ls > cap:
                line = data[ls:ls + cap]
                probe = b"\n" + line
                if not (_LINE_SCAN.search(probe) or _DIAG_SCAN.search(probe)):
                    continue                 # the marker lay beyond the cap
            else:
                line = data[ls:le]
            had_first = self._first_error is not None
            self._classify(line, self._offset + (ls - s), line_no, events,
                           lambda ls=ls: self._lines_before(data, s, ls))
            if not had_first and self._first_error is not None:
                after_from = le + 1
        if self._after_left and after_from < e:
            self._take_after(self._first_lines(data, after_from, e, self._after_left))
        self._push_tail(self._last_lines(data, s, e, self._ctx))
        self._line_no = line_no + data.count(b"\n", last, e)
        self._offset += e - s

    def _count_long_lines(self, data: bytes, s: int, e: int) -> None:
        # Hop a cap-sized window at a time: a window without a newline starts a long line.
        cap, pos = self._cap, s
        while pos < e:
            r = data.rfind(b"\n", pos, min(pos + cap + 1, e))
            if r >= 0 and (r - pos <= cap):
                if pos + cap + 1 >= e:
                    break
                pos = r + 1
                continue
            le = data.find(b"\n", pos, e)
            self._dropped += le - pos - cap
            self._long_lines += 1
            pos = le + 1

    def _last_lines(self, data: bytes, s: int, e: int, n: int) -> List[bytes]:
        """The last n lines of data[s:e] (which ends with a newline), capped."""
        if n <= 0:
            return []
        end, out = e - 1, []
        while len(out) < n and end >= s:
            b = data.rfind(b"\n", s, end) + 1 or s
            out.append(data[b:min(end, b + self._cap)])
            if b == s:
                break
            end = b - 1
        out.reverse()
        return out

    def _first_lines(self, data: bytes, s: int, e: int, n: int) -> List[bytes]:
        out, pos = [], s
        while len(out) < n and pos < e:
            le = data.find(b"\n", pos, e)
            out.append(data[pos:min(le, pos + self._cap)])
            pos = le + 1
        return out

    def _lines_before(self, data: bytes, s: int, ls: int) -> List[bytes]:
        own = self._last_lines(data, s, ls, self._ctx) if ls > s else []
        need = self._ctx - len(own)
        return (self._tail[-need:] if need > 0 else []) + own

    def _push_tail(self, lines: List[bytes]) -> None:
        if self._ctx:
            self._tail = (self._tail + lines)[-self._ctx:]

    def _take_after(self, lines: List[bytes]) -> None:
        taken = lines[:self._after_left]
        self._first_error["context_after"].extend(_clip(_clean(x), _MESSAGE_CLIP) for x in taken)
        self._after_left -= len(taken)

    # --- classification -----------------------------------------------------------------------

    def _classify(self, raw: bytes, offset: int, line_no: int, events: List[Event],
                  before: Callable[[], List[bytes]]) -> None:
        text = _clean(raw)
        if not text:
            return
        try:
            result = self._interpret(text)
        except (ValueError, OverflowError):      # absurd numbers in garbage: not a build line
            result = None
        if result is None:
            return
        kind, data = result
        ev = Event(kind, offset, line_no, _clip(text, _TEXT_CLIP), data)
        events.append(ev)
        if self._first_error is None and self._is_error(kind, data):
            self._first_error = {
                "message": data.get("message") or text,
                "file": data.get("file"), "line": data.get("source_line"),
                "log_line": line_no, "offset": offset,
                "context_before": [_clip(_clean(x), _MESSAGE_CLIP) for x in before()],
                "text": _clip(text, _MESSAGE_CLIP),
                "context_after": [],
            }
            self._after_left = self._ctx

    @staticmethod
    def _is_error(kind: str, data: Dict[str, Any]) -> bool:
        if kind in ("compile_error", "precondition", "no_space"):
            return True
        return kind == "make_error" and not data.get("ignored")

    def _interpret(self, text: str):
        if text.startswith(">>> "):
            return self._banner(text[4:].strip())
        if text.startswith("*** "):
            return self._make_error(text)
        if text == "Stop.":
            self._fail()
            return None
        if text.startswith("make"):
            m = _MAKE_STOPPED.match(text)
            if m:
                return self._make_stopped(m.group("dir").strip(), m.group("target"))
            m = _MAKE_NO_RULE.match(text)
            if m:
                return self._record_make_failure(text, m.group("target"), None, None, False)
        m = _ERROR_COUNT.match(text)
        if m:
            return "make_error_count", {"count": int(m.group(1))}
        for pattern, message in _PRECONDITIONS:
            m = pattern.match(text)
            if m:
                event = self._precondition_event(message or m.group(0))
                if text.startswith("Explicit target"):
                    self._fail()             # nothing will be built
                return event
        return self._diagnostic(text)

    # banners -----------------------------------------------------------------------------------

    def _banner(self, body: str):
        m = _BANNER_STAGE.match(body)
        if m:
            if self._target not in _WORLD_TARGETS:
                self._start_target("buildworld")   # stream joined mid-build: the common case
            return self._stage_event("stage", m.group(1), m.group(2))
        if body in _BANNER_STAGES:
            name = _BANNER_STAGES[body]
            if name == "tmp" and self._target not in _WORLD_TARGETS:
                self._start_target("buildworld")
            elif name != "tmp" and self._target != "installworld":
                self._start_target("installworld")
            return self._stage_event("stage", name, body)
        m = _BANNER_TARGET.match(body)
        if m:
            target = m.group(1)
            self._start_target(target)
            kind = "install_start" if target.startswith("install") else "target_start"
            return self._stage_event(kind, "init", body)
        m = _BANNER_DONE.match(body)
        if m:
            target = m.group(1)
            if self._target != target:
                self._start_target(target)
            kind = "install_complete" if target.startswith("install") else "target_complete"
            ev = self._stage_event(kind, "done", body)
            self._complete = True
            return ev
        m = _BANNER_KERNEL.match(body)
        if m:
            return self._kernel_banner(m.group(1), m.group(2), m.group(3), m.group(4).strip())
        m = _BANNER_WORLD.match(body)
        if m:
            if m.group(1) == "started":
                self._start_target("world")
                return self._stage_event("target_start", "init", body)
            if self._target != "world":
                self._start_target("world")
            ev = self._stage_event("target_complete", "done", body)
            self._complete = True
            return ev
        if body.startswith("ERROR: ") or (self._precondition is not None and not self._failed
                                          and _BANNER_NOT_FOUND.match(body)):
            return self._precondition_event(body)
        return None                                # e.g. lld's ">>> referenced by foo.c:12"

    def _start_target(self, target: str) -> None:
        self._target = target
        self._target_stage_names = []
        self._kernels_started = []
        self._kernels_done = 0
        self._complete = False

    def _open_stage(self, name: str, title: str) -> Dict[str, Any]:
        if self._stages and self._stages[-1]["duration"] is None:
            prev = self._stages[-1]
            prev["duration"] = round(max(0.0, self._now - prev["started"]), 3)
        stage = {"name": name, "title": title, "target": self._target,
                 "started": self._now, "duration": None}
        self._stages.append(stage)
        self._target_stage_names.append(name)
        return stage

    def _position(self, name: str):
        order = STAGE_LISTS.get(self._target or "")
        if order and name in order:
            return order.index(name) + 1, len(order)
        if self._target in (_KERNEL_BUILD, _KERNEL_INSTALL):
            n = len(self._kernels_started)
            return n, n
        return len(self._target_stage_names), len(order or ())

    def _stage_event(self, kind: str, name: str, title: str):
        stage = self._open_stage(name, title)
        if name == "done":
            stage["duration"] = 0.0
        index, count = self._position(name)
        return kind, {"target": self._target, "stage": name, "title": title,
                      "index": index, "count": count}

    def _kernel_banner(self, what: str, kernconf: str, when: str, date: str):
        target = _KERNEL_BUILD if what == "build" else _KERNEL_INSTALL
        name = ("kernel " if what == "build" else "installkernel ") + kernconf
        if when == "started":
            if self._target != target or self._complete:
                self._start_target(target)
            self._kernels_started.append(kernconf)
            self._complete = False
            _, data = self._stage_event("stage", name, f"Kernel {what} for {kernconf}")
            kind = "kernel_start" if what == "build" else "install_start"
        else:
            if self._target != target:
                self._start_target(target)
                self._kernels_started.append(kernconf)
            if self._stages and self._stages[-1]["name"] == name \
                    and self._stages[-1]["duration"] is None:
                last = self._stages[-1]
                last["duration"] = round(max(0.0, self._now - last["started"]), 3)
            self._kernels_done += 1
            self._complete = self._kernels_done >= len(self._kernels_started)
            index, count = self._position(name)
            data = {"target": target, "stage": name, "title": f"Kernel {what} for {kernconf}",
                    "index": index, "count": count}
            kind = "kernel_complete" if what == "build" else "install_complete"
        data.update(kernconf=kernconf, date=date)
        return kind, data

    # make failures ------------------------------------------------------------------------------

    def _make_error(self, text: str):
        m = _FAILED_TARGET.match(text)
        if m:
            self._pending_failed_target = m.group(1).strip()
            return None
        m = _MAKE_ERROR.match(text)
        if not m:
            return None
        rest = m.group("rest")
        ignored = "(ignored)" in rest
        code = int(m.group("code")) if m.group("code") else None
        sig = int(m.group("signal")) if m.group("signal") else None
        target = m.group("target") or self._pending_failed_target
        self._pending_failed_target = None
        return self._record_make_failure(text, target, code, sig, ignored)

    def _record_make_failure(self, text, target, code, sig, ignored):
        if not ignored and self._failure is None:
            self._failure = text.strip()
            self._failing_target = target
            self._error_code = code
            self._signal = sig
            self._fail()
        return "make_error", {"target": target, "code": code, "signal": sig,
                              "ignored": ignored, "message": text.strip()}

    def _make_stopped(self, directory: str, target: Optional[str]):
        if self._failing_dir is None:
            self._failing_dir = directory
            if self._failing_target is None and target:
                self._failing_target = target
        self._fail()
        return "make_stopped", {"dir": directory, "target": target}

    def _fail(self) -> None:
        if not self._failed:
            self._failed = True
            if self._stages and self._stages[-1]["duration"] is None:
                last = self._stages[-1]
                last["duration"] = round(max(0.0, self._now - last["started"]), 3)

    def _precondition_event(self, message: str):
        message = _clip(message.strip(), _MESSAGE_CLIP)
        if not self._failed:
            if self._precondition is None:
                self._precondition = message
            elif len(self._precondition) < _MESSAGE_CLIP:
                self._precondition = _clip(self._precondition + " " + message, _MESSAGE_CLIP)
        return "precondition", {"message": message}

    # diagnostics -------------------------------------------------------------------------------

    def _diagnostic(self, text: str):
        if NO_SPACE in text:
            # a full disk, not the code: whatever the tool, the build could not write
            if self._no_space is None:
                self._no_space = _clip(text, _MESSAGE_CLIP)
            if len(self._errors) < MAX_ERRORS:
                self._errors.append({"file": None, "line": None, "message": self._no_space})
            return "no_space", {"message": _clip(text, _MESSAGE_CLIP)}
        file = line = col = flag = None
        m = _DIAG_FILE.match(text)
        if m:
            file, sev, msg, flag = m.group("file"), m.group("sev"), m.group("msg"), m.group("flag")
            line = int(m.group("line"))
            col = int(m.group("col")) if m.group("col") else None
        else:
            m = _DIAG_TOOL.match(text)
            if m:
                sev, msg, flag = m.group("sev"), m.group("msg"), m.group("flag")
            else:
                found = self._linker(text)
                if found is None:
                    return None
                sev = "linker"
                file, line, msg = found
        msg = _clip(msg.strip(), _MESSAGE_CLIP)
        # "source_line": Event.to_json puts data next to the event's own "line" (the log line)
        data = {"file": file, "source_line": line, "column": col, "message": msg, "flag": flag,
                "severity": sev}
        if sev == "warning":
            self._warning_count += 1
            key = (file, line, msg)
            known = self._warnings.get(key)
            if known is not None:
                known.count += 1
            elif len(self._warnings) < MAX_DISTINCT_WARNINGS:
                self._warnings[key] = CompilerMessage(file, line, col, msg, flag)
            return "warning", data
        if len(self._errors) < MAX_ERRORS:
            self._errors.append({"file": file, "line": line, "message": msg})
        return "compile_error", data

    @staticmethod
    def _linker(text: str):
        """(file, line, message) of a linker error line, or None."""
        for what in _LINK_WHAT:
            at = text.find(": " + what)
            if at < 0 and text.startswith(what):
                return None, None, text
            if at >= 0:
                where = _LINK_WHERE.fullmatch(text, 0, at)
                if where is None:
                    return None, None, text[at + 2:]
                line = where.group("line")
                return where.group("file"), int(line) if line else None, text[at + 2:]
        m = _LINK_TOOL.match(text)
        return (None, None, m.group("msg")) if m else None

    # --- report ---------------------------------------------------------------------------------

    def report(self) -> BuildReport:
        return self._report(light=False)

    def live_summary(self) -> str:
        """``report().live_summary()`` without copying the warnings and errors: cheap enough
        to ask after every chunk."""
        return self._report(light=True).live_summary()

    def _report(self, light: bool) -> BuildReport:
        if self._failed:
            state = "failed"
        elif self._complete:
            state = "succeeded"
        else:
            state = "incomplete"
        stage = self._stages[-1] if self._stages else None
        index = count = 0
        if stage is not None:
            if stage.get("target") == self._target:
                index, count = self._position(stage["name"])
        first = None
        if light:
            first = self._first_error          # the summaries read its message only
        elif self._first_error is not None:
            first = dict(self._first_error)
            first["context"] = (first["context_before"] + [first.pop("text")]
                                + first["context_after"])
            first["context_before"] = list(first["context_before"])
            first["context_after"] = list(first["context_after"])
        return BuildReport(
            state=state, target=self._target,
            stage=stage["name"] if stage else None,
            stage_title=stage["title"] if stage else None,
            stage_index=index, stage_count=count,
            stages=[{k: s[k] for k in ("name", "title", "started", "duration")}
                    for s in self._stages],
            warnings=[] if light else [CompilerMessage(**asdict(w))
                                       for w in self._warnings.values()],
            warning_count=self._warning_count,
            errors=[dict(e) for e in self._errors[:1 if light else None]],
            first_error=first,
            failing_target=self._failing_target, failing_dir=self._failing_dir,
            error_code=self._error_code, precondition=self._precondition,
            no_space=self._no_space,
            failure=self._failure, signal=self._signal,
            lines=self._line_no - 1 + (1 if self._partial_len else 0),  # counts a partial line
            bytes=self._offset + self._partial_len,
            dropped_bytes=self._dropped + max(0, self._partial_len - self._cap),
            long_lines=self._long_lines,
        )


# --- the digest: the lines worth streaming live -----------------------------------------------

def classify_build(data: bytes) -> Dict[str, Any]:
    """One-shot classification of a whole build log (for ``vkckpt classify``)."""
    monitor = BuildLogMonitor(clock=lambda: 0.0)
    monitor.feed(data)
    monitor.close()
    rep = monitor.report()
    return {
        "kind": "build",
        "state": rep.state,
        "stage": rep.stage,
        "target": rep.target,
        "errors": [dict(e) for e in rep.errors],
        "first_error": rep.first_error["message"] if rep.first_error else None,
        "warnings": rep.warning_count,
        "summary": rep.summary(),
    }
