"""What the agent prints: human lines and ``@@vkckpt {json}`` machine events.

Every agent run ends with exactly one ``result`` event; its status decides the exit code.
Lines stay under 4000 bytes because the Buildbot worker splits longer ones. The wire format,
the outcome kinds and the exit codes are :mod:`buildbot_vkckpt.protocol`'s; this module keeps
the names the rest of the agent imports.
"""
import json
import sys

from ..protocol import EXIT_CODES, Kind, Result, exit_code  # noqa: F401 - public names
from ..protocol.wire import (HUMAN_PREFIX, MAX_FIELD, MAX_LINE, PREFIX,  # noqa: F401
                             _shorten, _shrink_largest, _size, encode_event)


class Outcome(Exception):
    """A run's end, raised from deep inside a subcommand and turned into the result event.

    A thin wrapper of :class:`buildbot_vkckpt.protocol.Result`: ``kind`` is a
    :class:`~buildbot_vkckpt.protocol.Kind` (or its name), ``summary`` the human line."""

    def __init__(self, status, summary, kind=None, fix=None, details=None):
        super().__init__(summary)
        self.result = Result.make(status, summary, kind, fix, details)

    status = property(lambda self: self.result.status)
    kind = property(lambda self: self.result.kind)
    summary = property(lambda self: self.result.summary)
    cause = property(lambda self: self.result.cause)
    fix = property(lambda self: self.result.fix)
    details = property(lambda self: self.result.details)

    @classmethod
    def infrastructure(cls, summary, fix, **details):
        return cls("infrastructure", summary, kind=Kind.INFRASTRUCTURE, fix=fix, details=details)

    @classmethod
    def kernel(cls, summary, **details):
        return cls("failure", summary, kind=Kind.KERNEL, details=details)

    @classmethod
    def test(cls, summary, **details):
        """A guest test or guest command failed: a verdict on the test, not the kernel."""
        return cls("failure", summary, kind=Kind.TEST, details=details)

    @classmethod
    def timeout(cls, summary, **details):
        return cls("failure", summary, kind=Kind.TIMEOUT, details=details)

    def to_event(self):
        return self.result.to_event()


def result_event(status, summary, kind=None, fix=None, details=None):
    return Result.make(status, summary, kind, fix, details).to_event()


class Emitter:
    """Writes to the step's stdout; optionally mirrors events into a session file."""

    def __init__(self, stream=None, journal=None):
        self.stream = stream or sys.stdout
        self.journal = journal  # path of events.jsonl, or None
        self.result = None

    def _write(self, line):
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # the step went away; the session files still record
            pass

    def human(self, text):
        for line in str(text).splitlines() or [""]:
            self._write(HUMAN_PREFIX + line)

    def console_line(self, text):
        """A line of guest console output, printed as it is (no prefix)."""
        self._write(text[:MAX_LINE])

    def event(self, event, journal=True):
        self._write(encode_event(event))
        if journal and self.journal:
            append_journal(self.journal, event)

    def phase(self, name):
        self.event({"ev": "phase", "name": name})

    def info(self, **fields):
        self.event({"ev": "info", **fields})

    def metric(self, name, value, unit):
        self.event({"ev": "metric", "name": name, "value": value, "unit": unit})

    def finish(self, result):
        """Emit the one result event and return the exit code."""
        self.result = result
        summary, status = result.get("summary"), result.get("status")
        if summary:     # a summary that already starts with its kind is not prefixed twice
            self.human(summary if str(summary).startswith(f"{status}: ")
                       else f"{status}: {summary}")
        if result.get("fix"):
            self.human(f"fix: {result['fix']}")
        self.event(result)
        return exit_code(result)


def append_journal(path, event):
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(event, separators=(",", ":"), default=str) + "\n")
    except OSError:
        pass
