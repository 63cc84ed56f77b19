"""Master-side reader of the agent's output: ``@@vkckpt {json}`` events among human lines.

Incremental and chunk-independent: bytes are split at ``\\n`` and only complete lines are
parsed, so any cut of the stream gives the same events. Garbage never raises; lines that are
not events are kept (bounded) as console text. Agent notes start with ``vkckpt: `` and are
not console text; every other non-event line is the guest console (or a build tool's output).

What steps read is kept whole, in its own accessor: the ``result`` (as a protocol
:class:`~buildbot_vkckpt.protocol.Result` too), the last ``phase``, every ``metric`` and
``info``, every ``check``, the ``tap`` lines and the ``test_log`` sections. The plain ``events``
list keeps the last ``keep_events`` events of any kind; ``dropped`` counts the ones it let go,
so a step can say so instead of losing them silently.
"""
import re
from collections import deque
from typing import Any, Dict, List, Optional

from ..protocol import HUMAN_PREFIX, PREFIX_BYTES, Result, decode_line

PREFIX = PREFIX_BYTES
HOST_COMMAND_PREFIX = "$ "   # the agent echoes each host command it runs
MAX_LINE = 1 << 16
MAX_FRESH = 10000  # console lines kept for take_console() when nobody takes them
KEEP_EVENTS = 10000
# TAP as the guest suite's runner prints it on the console while it runs: the plan and one
# result line per test (the results disk holds the same lines, read at the end)
_TAP_PLAN = re.compile(r"1\.\.(\d+)\s*\Z")
_TAP_RESULT = re.compile(r"(not )?ok\b(?: \d+)?(.*)\Z")
_TAP_TODO = re.compile(r"#\s*todo\b", re.IGNORECASE)


class AgentLogMonitor:
    def __init__(self, keep_lines: int = 500, keep_events: int = KEEP_EVENTS):
        self._partial = bytearray()
        self._overflow = False
        self._console: deque = deque(maxlen=keep_lines)
        self._fresh: List[str] = []
        self._keep_events = keep_events
        self.events: List[Dict[str, Any]] = []
        self.dropped = 0              # events that fell off ``events`` (kept in the accessors)
        self.result: Optional[Dict[str, Any]] = None
        self.phase: Optional[str] = None
        self.metrics: Dict[str, Any] = {}
        self.info: Dict[str, Any] = {}
        self.checks: List[Dict[str, Any]] = []
        self.tap_lines: List[str] = []
        # the suite's progress read off the console as it runs: planned, done, failed
        self.tap_live: Dict[str, Optional[int]] = {"planned": None, "done": 0, "failed": 0}
        self.test_logs: Dict[tuple, List[str]] = {}

    def feed(self, data: bytes) -> List[Dict[str, Any]]:
        if not data:
            return []
        if isinstance(data, str):
            data = data.encode("utf-8", "replace")
        out = []
        start = 0
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                self._keep(data[start:])
                break
            self._keep(data[start:nl])
            line, overflow = bytes(self._partial), self._overflow
            self._partial.clear()
            self._overflow = False
            if not overflow:
                ev = self._line(line)
                if ev is not None:
                    out.append(ev)
            start = nl + 1
        self.events.extend(out)
        extra = len(self.events) - self._keep_events
        if extra > 0:
            del self.events[:extra]
            self.dropped += extra
        return out

    @property
    def outcome(self) -> Optional[Result]:
        """The run's result as a protocol Result (None before the result event)."""
        return Result.from_event(self.result)

    def _record(self, ev):
        kind = ev["ev"]
        if kind == "result":
            self.result = ev
        elif kind == "phase" and isinstance(ev.get("name"), str):
            self.phase = ev["name"]
        elif kind == "metric" and isinstance(ev.get("name"), str):
            self.metrics[ev["name"]] = ev.get("value")
        elif kind == "info":
            self.info.update({k: v for k, v in ev.items() if k != "ev"})
        elif kind == "check" and isinstance(ev.get("name"), str):
            self.checks.append(ev)
        elif kind == "tap":
            self.tap_lines.extend(x for x in ev.get("lines") or () if isinstance(x, str))
        elif kind == "test_log" and isinstance(ev.get("lines"), list):
            key = (str(ev.get("test")), str(ev.get("file")))
            self.test_logs.setdefault(key, []).extend(str(x) for x in ev["lines"])

    def close(self) -> List[Dict[str, Any]]:
        """The last line may lack its newline when the process ended."""
        return self.feed(b"\n") if self._partial else []

    def _keep(self, chunk):
        room = MAX_LINE - len(self._partial)
        if len(chunk) > room:
            self._overflow = True
        self._partial += chunk[:max(0, room)]

    def _line(self, raw: bytes) -> Optional[Dict[str, Any]]:
        raw = raw.rstrip(b"\r")
        if raw.startswith(PREFIX):
            ev = decode_line(raw)
            if ev is not None:
                self._record(ev)
            return ev
        text = raw.decode("utf-8", "replace")
        if is_console(text):
            self._console.append(text)
            self._fresh.append(text)
            del self._fresh[:-MAX_FRESH]
            self._tap_progress(text)
        return None

    def _tap_progress(self, text):
        m = _TAP_PLAN.match(text)
        if m:
            self.tap_live["planned"] = int(m.group(1))
            return
        m = _TAP_RESULT.match(text)
        if m:
            self.tap_live["done"] += 1
            if m.group(1) and not _TAP_TODO.search(m.group(2)):
                self.tap_live["failed"] += 1

    def take_console(self) -> List[str]:
        """Console lines completed since the last call (for a live ``console`` log)."""
        fresh, self._fresh = self._fresh, []
        return fresh

    def console_tail(self, n: int = 20) -> List[str]:
        return list(self._console)[-n:] if n > 0 else []


def is_console(text: str) -> bool:
    """Guest console (or build tool) output, as opposed to the agent's own lines."""
    return not (text.startswith(HUMAN_PREFIX) or text.startswith(HOST_COMMAND_PREFIX)
                or PREFIX.decode() in text)
