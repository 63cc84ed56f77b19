"""The event record every monitor emits."""
from dataclasses import dataclass, field
from typing import Any, Dict


@dataclass(frozen=True)
class Event:
    """Something a monitor recognised in a byte stream.

    ``offset`` is the byte offset (from the start of the stream) of the first byte of the line
    the event was found on; ``line`` is that line's 1-based number. ``text`` is the line as
    decoded text (cleaned of control characters, possibly truncated); ``data`` holds the
    kind-specific fields. Events are plain data so they can travel as JSON (``to_json``).
    """

    kind: str
    offset: int
    line: int
    text: str = ""
    data: Dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> Dict[str, Any]:
        return {"kind": self.kind, "offset": self.offset, "line": self.line,
                "text": self.text, **self.data}
