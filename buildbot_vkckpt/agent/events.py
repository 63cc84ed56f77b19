"""What the agent prints: human lines and ``@@vkckpt {json}`` machine events.

Every agent run ends with exactly one ``result`` event; its status decides the exit code.
Lines stay under 4000 bytes because the Buildbot worker splits longer ones.
"""
import json
import sys

PREFIX = "@@vkckpt "
HUMAN_PREFIX = "vkckpt: "
MAX_LINE = 3900
MAX_FIELD = 1000

EXIT_CODES = {"ok": 0, "failure": 1, "warnings": 2, "unsupported": 3, "infrastructure": 4}


class Outcome(Exception):
    """A run's end, raised from deep inside a subcommand and turned into the result event."""

    def __init__(self, status, summary, kind=None, fix=None, details=None):
        super().__init__(summary)
        self.status = status
        self.kind = kind
        self.summary = summary
        self.fix = fix
        self.details = dict(details or {})

    @classmethod
    def infrastructure(cls, summary, fix, **details):
        return cls("infrastructure", summary, kind="infrastructure", fix=fix, details=details)

    @classmethod
    def kernel(cls, summary, **details):
        return cls("failure", summary, kind="kernel", details=details)

    @classmethod
    def timeout(cls, summary, **details):
        return cls("failure", summary, kind="timeout", details=details)

    def to_event(self):
        return result_event(self.status, self.summary, self.kind, self.fix, self.details)


def result_event(status, summary, kind=None, fix=None, details=None):
    return {"ev": "result", "status": status, "kind": kind, "summary": summary,
            "fix": fix, "details": dict(details or {})}


def exit_code(result):
    return EXIT_CODES.get(result.get("status"), 4)


def _shorten(value, limit):
    """Truncate strings inside ``value`` (recursively) to ``limit`` characters."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit - 1] + "…"
    if isinstance(value, dict):
        return {k: _shorten(v, limit) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_shorten(v, limit) for v in value]
    return value


def _size(value):
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str))


def _shrink_largest(event):
    """Shorten the largest fields of ``details`` first: a 3 KB inspection must not cost a
    short field (a file path the next command needs) its tail."""
    details = event.get("details")
    if not isinstance(details, dict) or _size(event) <= MAX_LINE - len(PREFIX):
        return event
    budget = MAX_LINE - len(PREFIX) - _size({k: v for k, v in event.items() if k != "details"})
    details = dict(details)
    for key in sorted(details, key=lambda k: _size(details[k]), reverse=True):
        if _size(details) <= budget - 16:
            break
        details[key] = _shorten(details[key], 200)
        if _size(details[key]) > max(64, budget // 4):
            details[key] = {"truncated": True}
    return {**event, "details": details}


def encode_event(event):
    """One ``@@vkckpt`` line (without newline) under MAX_LINE bytes, whatever the event holds."""
    limit = MAX_FIELD
    event = _shrink_largest(event)
    # the top-level fields (summary, fix, ...) keep MAX_FIELD; nested values shrink first
    top = {k: (_shorten(v, MAX_FIELD) if not isinstance(v, (dict, list)) else v)
           for k, v in event.items()}
    while True:
        shrunk = {k: (_shorten(v, limit) if isinstance(v, (dict, list)) else v)
                  for k, v in top.items()}
        body = json.dumps(shrunk, separators=(",", ":"), ensure_ascii=False, default=str)
        line = PREFIX + body
        if len(line.encode("utf-8")) <= MAX_LINE or limit <= 16:
            break
        limit //= 2
    if len(line.encode("utf-8")) > MAX_LINE:  # pathological: many fields; keep the essentials
        keep = {k: event[k] for k in ("ev", "status", "kind", "summary", "fix", "name")
                if k in event}
        keep["truncated"] = True
        line = PREFIX + json.dumps(_shorten(keep, 200), separators=(",", ":"),
                                   ensure_ascii=False, default=str)
    return line


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
        if result.get("summary"):
            self.human(f"{result['status']}: {result['summary']}")
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
