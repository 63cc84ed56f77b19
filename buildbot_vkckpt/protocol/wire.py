"""The wire format: machine events as ``@@vkckpt {json}`` lines among human lines.

One prefix for both ends. A line stays under ``MAX_LINE`` bytes because the Buildbot worker
splits lines over 4096 characters; :func:`encode_event` shrinks the largest fields first so a
long inspection never costs a short field (a file path the next command needs) its tail.
"""
import json

PREFIX = "@@vkckpt "
PREFIX_BYTES = PREFIX.encode()
HUMAN_PREFIX = "vkckpt: "      # the agent's own human notes
MAX_LINE = 3900
MAX_FIELD = 1000


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
        keep = {k: event[k] for k in ("ev", "status", "kind", "summary", "cause", "fix", "name")
                if k in event}
        keep["truncated"] = True
        line = PREFIX + json.dumps(_shorten(keep, 200), separators=(",", ":"),
                                   ensure_ascii=False, default=str)
    return line


def decode_line(raw):
    """The event of one line (bytes or str, without its newline), or None when the line is
    not an event or not a well-formed one. Never raises."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    raw = raw.rstrip(b"\r")
    if not raw.startswith(PREFIX_BYTES):
        return None
    try:
        event = json.loads(raw[len(PREFIX_BYTES):].decode("utf-8", "replace"))
    except ValueError:
        return None
    if not isinstance(event, dict) or not isinstance(event.get("ev"), str):
        return None
    return event


def is_event_line(text):
    return PREFIX in text
