"""A notification as text: the mail subject and body, a few chat lines, the webhook's JSON.

The first lines say what broke (step, kind, cause, panic line and first frames, failing tests
with their re-run verdicts, the culprit when bisection found it); the links to the build and
the trends page follow. Pure functions of a :class:`Notice`.
"""
from dataclasses import dataclass, field
from typing import List, Optional

from buildbot_vkckpt.notify.whatbroke import WhatBroke

SUBJECT_MAX = 180       # mail clients cut long subjects anyway; the body has everything


@dataclass
class Notice:
    """One notification: the event, which build, and what broke in it."""
    event: str                       # events.EVENTS
    builder: str
    number: int
    results: str                     # "failure", "success", ... (Buildbot's words)
    build_url: str
    what: WhatBroke
    trends_url: Optional[str] = None
    title: str = "Buildbot"
    previous_number: Optional[int] = None
    previous_url: Optional[str] = None
    revision: Optional[str] = None
    branch: Optional[str] = None
    blamelist: List[str] = field(default_factory=list)
    # a bisection's own build: the red build it bisected (builder, number, url) and its answer
    bisection: Optional[dict] = None


def _cut(text, limit):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def headline(n):
    """What happened, in one line (the mail subject without the title)."""
    w = n.what
    where = f"{n.builder} #{n.number}"
    if n.event == "culprit" and w.culprit:
        # the bisection's own build names the builder it bisected
        return f"{w.culprit.builder or n.builder}: culprit {w.culprit.line()}"
    if n.event == "no culprit":
        b = n.bisection or {}
        red = f" #{b['number']}" if b.get("number") is not None else ""
        return f"{b.get('builder') or n.builder}{red}: no culprit: " \
               f"{b.get('result') or 'the bisection found none'}"
    if n.event == "green":
        since = f" (red since #{n.previous_number})" if n.previous_number is not None else ""
        return f"{where} is green again{since}"
    label = "could not run" if n.event == "exception" else "red"
    return f"{where} {label}: {broke(w) or n.results}"


def broke(w):
    """``step: kind: cause`` as far as known."""
    if not w.cause and w.summary:       # the step's summary already names its kind
        return ": ".join(p for p in (w.step, w.summary) if p)
    parts = [p for p in (w.step, w.kind) if p]
    cause = w.panic if w.kind == "kernel" and w.panic and not w.cause else w.cause
    if cause:
        parts.append(cause)
    return ": ".join(parts)


def subject(n):
    return _cut(f"[{n.title}] {headline(n)}", SUBJECT_MAX)


def what_lines(w):
    """The 'what broke' block, one fact a line."""
    lines = []
    for label, value in (("step", w.step), ("kind", w.kind), ("cause", w.cause),
                         ("summary", None if w.cause else w.summary), ("fix", w.fix),
                         ("panic", w.panic)):
        if value:
            lines.append(f"{label + ':':<9} {value}")
    if w.frames:
        lines.append("backtrace (first frames):")
        lines.extend(f"    {frame}" for frame in w.frames)
        if w.more_frames:
            lines.append(f"    ... {w.more_frames} more in the build")
    if w.failed_tests:
        lines.append("failing tests and checks:")
        for t in w.failed_tests:
            verdict = f" [{t.verdict}]" if t.verdict else ""
            message = f": {t.message}" if t.message else ""
            lines.append(f"    {t.name}{verdict}{message}")
        if w.more_tests:
            lines.append(f"    ... and {w.more_tests} more")
    if w.flaky:
        lines.append("flaky (passed on a re-run):")
        lines.extend(f"    {t.name} [{t.verdict}]" for t in w.flaky)
    if w.not_tested:
        lines.append(f"not tested: {w.not_tested}")
    if w.cycles:
        lines.append(f"{'cycles:':<9} {w.cycles} ok")
    return lines


def culprit_lines(w, event):
    c = w.culprit
    if c is None:
        return [f"{'culprit:':<9} {w.bisection}"] if w.bisection and event != "green" else []
    lines = [f"{'culprit:':<9} {c.line()}"]
    if c.url:
        lines.append(f"{'':<9} {c.url}")
    return lines


def body(n):
    """The mail body: the headline, what broke, the culprit, then links and the source."""
    w = n.what
    lines = [headline(n), ""]
    if n.event == "green":
        lines.append(f"Checkpointing on {n.builder} works again.")
    elif n.event == "no culprit":
        b = n.bisection or {}
        lines.append(f"The bisection ended without a culprit: {b.get('result') or '?'}")
        if b.get("url"):
            lines.append(f"{'red:':<9} {b['url']}")
        facts = what_lines(w)
        if facts:
            lines.extend(["", "What broke:"] + facts)
    elif n.event == "culprit":
        lines.append(f"Bisection found the first bad commit for {w.culprit.builder or n.builder}:")
        lines.extend(culprit_lines(w, n.event))
        facts = what_lines(w)
        if facts:                       # the culprit landed on the red build itself
            lines.extend(["", "What broke:"] + facts)
    else:
        lines.extend(what_lines(w) or [f"result:   {n.results}"])
        lines.extend(culprit_lines(w, n.event))
    lines.append("")
    lines.append(f"build:    {n.build_url}")
    if n.trends_url:
        lines.append(f"trends:   {n.trends_url}")
    if n.previous_url and n.event in ("red", "green"):
        lines.append(f"previous: {n.previous_url} (#{n.previous_number})")
    if n.revision or n.branch:
        lines.append(f"revision: {n.revision or '?'}" + (f" on {n.branch}" if n.branch else ""))
    if n.blamelist:
        lines.append(f"changes by: {', '.join(n.blamelist)}")
    return "\n".join(lines) + "\n"


def chat_lines(n, limit=3):
    """A few short lines for IRC-like channels: headline, panic or first test, links."""
    w = n.what
    lines = [_cut(headline(n), 300)]
    if n.event not in ("green", "culprit", "no culprit"):
        if w.panic and w.panic not in lines[0]:
            lines.append(_cut(w.panic + (f" at {w.frames[0]}" if w.frames else ""), 300))
        elif w.panic and w.frames:
            lines.append(_cut(f"at {w.frames[0]}", 300))
        elif w.failed_tests:
            names = ", ".join(t.name + (f" [{t.verdict}]" if t.verdict else "")
                              for t in w.failed_tests)
            lines.append(_cut(f"failing: {names}", 300))
        if w.culprit:
            lines.append(_cut(f"culprit: {w.culprit.line()}", 300))
    lines = lines[:limit - 1]
    lines.append(n.build_url + (f" · trends {n.trends_url}" if n.trends_url else ""))
    return lines


def payload(n):
    """The webhook's JSON body: everything typed, plus ``text`` ready for a chat channel."""
    w = n.what
    c = w.culprit
    return {
        "event": n.event,
        "builder": n.builder,
        "number": n.number,
        "results": n.results,
        "url": n.build_url,
        "trends_url": n.trends_url,
        "previous": {"number": n.previous_number, "url": n.previous_url}
        if n.previous_number is not None else None,
        "revision": n.revision,
        "branch": n.branch,
        "blamelist": list(n.blamelist),
        "subject": subject(n),
        "bisection": n.bisection,
        "text": "\n".join(chat_lines(n)),
        "what_broke": {
            "step": w.step, "kind": w.kind, "cause": w.cause, "fix": w.fix,
            "panic": w.panic, "backtrace": list(w.frames),
            "failed_tests": [{"test": t.name, "message": t.message, "verdict": t.verdict}
                             for t in w.failed_tests],
            "flaky": [{"test": t.name, "verdict": t.verdict} for t in w.flaky],
            "not_tested": w.not_tested,
            "cycles_ok": w.cycles_ok, "cycles_total": w.cycles_total,
        },
        "culprit": None if c is None else {
            "revision": c.revision, "author": c.author, "subject": c.subject,
            "check": c.check, "builder": c.builder, "url": c.url},
    }
