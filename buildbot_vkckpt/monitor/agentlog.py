"""Master-side reader of the agent's output: ``@@vkckpt {json}`` events among human lines.

Incremental and chunk-independent: bytes are split at ``\\n`` and only complete lines are
parsed, so any cut of the stream gives the same events. Garbage never raises; lines that are
not events are kept (bounded) as console text. Agent notes start with ``vkckpt: `` and are
not console text; every other non-event line is the guest console (or a build tool's output).
"""
import json
from collections import deque
from typing import Any, Dict, List, Optional

PREFIX = b"@@vkckpt "
HUMAN_PREFIX = "vkckpt: "
HOST_COMMAND_PREFIX = "$ "   # the agent echoes each host command it runs
MAX_LINE = 1 << 16
MAX_FRESH = 10000  # console lines kept for take_console() when nobody takes them


class AgentLogMonitor:
    def __init__(self, keep_lines: int = 500):
        self._partial = bytearray()
        self._overflow = False
        self._console: deque = deque(maxlen=keep_lines)
        self._fresh: List[str] = []
        self.events: List[Dict[str, Any]] = []
        self.result: Optional[Dict[str, Any]] = None

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
        del self.events[:-1000]
        return out

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
            try:
                ev = json.loads(raw[len(PREFIX):].decode("utf-8", "replace"))
            except ValueError:
                return None
            if not isinstance(ev, dict) or not isinstance(ev.get("ev"), str):
                return None
            if ev["ev"] == "result":
                self.result = ev
            return ev
        text = raw.decode("utf-8", "replace")
        if is_console(text):
            self._console.append(text)
            self._fresh.append(text)
            del self._fresh[:-MAX_FRESH]
        return None

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
