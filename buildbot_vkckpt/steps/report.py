"""Shared reporting helpers: HTML tables, test-result sets, properties.

Buildbot 4.3's web UI does not show test results, so every step that records them also writes
an HTML log with the same table (see reference/buildbot.md §13).
"""
import html

from buildbot.process.results import SKIPPED, SUCCESS, WARNINGS


class FinalSummaryMixin:
    """A step that sets ``final_summary`` gets it as its result summary; when the step did
    not succeed, it also becomes the build's summary (``buildworld: failed in stage 4b: ...``),
    so a red build says what broke without opening the step."""

    final_summary = None
    # the build's summary whatever the step's result: a build that did not test checkpoints
    # says so on the builder list even when it is not red
    build_summary = None

    def getResultSummary(self):
        if not self.final_summary:
            return super().getResultSummary()
        summary = {"step": self.final_summary}
        if self.build_summary:
            summary["build"] = self.build_summary
        elif self.results not in (SUCCESS, WARNINGS, SKIPPED, None):
            summary["build"] = f"{self.name}: {self.final_summary}"
        return summary


NOT_TESTED = "checkpoint NOT TESTED"
# row states a report colours: what failed, what did not run, what was not tested
ROW_STYLES = {"bad": "background:#f8d0d0", "notrun": "background:#eeeeee;color:#555555",
              "warn": "background:#fbe7c0"}
NOTE_STYLES = {"bad": "color:#a00000;font-weight:bold", "warn": "color:#8a5a00;font-weight:bold"}


def html_table(title, headers, rows, note=None, states=None, sections=(), note_state=None):
    """A small self-contained HTML page with one table; every cell is escaped.

    ``states`` gives each row's state (a ROW_STYLES key or None) to colour it; ``sections``
    are ``(heading, lines)`` shown as preformatted text under the table (a panic and its
    backtrace); ``note_state`` colours the note (the answer, above the table)."""
    out = [f"<h3>{html.escape(title)}</h3>"]
    if note:
        style = NOTE_STYLES.get(note_state)
        attr = f' style="{style}"' if style else ""
        out.append(f"<p{attr}>{html.escape(note)}</p>")
    if headers:
        out.append('<table border="1" cellspacing="0" cellpadding="3">')
        out.append("<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
                   + "</tr>")
        states = list(states or [])
        for i, row in enumerate(rows):
            style = ROW_STYLES.get(states[i]) if i < len(states) else None
            attr = f' style="{style}"' if style else ""
            out.append(f"<tr{attr}>" + "".join(f"<td>{html.escape(_cell(c))}</td>"
                                               for c in row) + "</tr>")
        out.append("</table>")
    for heading, lines in sections:
        out.append(f"<h4>{html.escape(heading)}</h4>")
        out.append("<pre>" + html.escape("\n".join(map(str, lines))) + "</pre>")
    return "\n".join(out)


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


async def add_result_set(step, description, category, value_unit, results):
    """Record one test-result set. ``results`` are dicts with ``value`` and the optional
    ``test_name``, ``test_code_path``, ``line``, ``duration_ns``. Values must be strings in
    Buildbot 4.3, so they are converted here, once, for every caller."""
    setid = await step.addTestResultSet(description, category, value_unit)
    for r in results:
        step.addTestResult(
            setid, str(r["value"]),
            test_name=r.get("test_name"), test_code_path=r.get("test_code_path"),
            line=r.get("line"), duration_ns=r.get("duration_ns"))
    return setid
