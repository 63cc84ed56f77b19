"""The dashboard as HTML: a table per builder and inline SVG sparklines, no script, no
external asset. The UI puts the fragment inside its own page, so every style rule is scoped to
``.vkd``. Every text from the data API is escaped; a value that is missing is "—"."""
from html import escape

from buildbot_vkckpt.steps.cycle import format_bytes, format_seconds

DASH = "—"
MAX_FAILED_NAMES = 8
STYLE = """<style>
.vkd { font-size: 13px; }
.vkd h2 { font-size: 20px; margin: 8px 0; }
.vkd h3 { font-size: 16px; margin: 18px 0 6px; }
.vkd .vkd-note { color: #666; margin: 2px 0 8px; }
.vkd .vkd-trends { display: flex; flex-wrap: wrap; gap: 24px; margin: 6px 0 10px; }
.vkd figure { margin: 0; }
.vkd figcaption { color: #555; font-size: 12px; }
.vkd .vkd-spark polyline { fill: none; stroke: #30426a; stroke-width: 1.5; }
.vkd .vkd-spark circle { fill: #30426a; }
.vkd .vkd-spark circle.vkd-red { fill: #d9534f; }
.vkd table { border-collapse: collapse; }
.vkd th, .vkd td { border: 1px solid #ddd; padding: 3px 7px; vertical-align: top; }
.vkd th { background: #f4f4f4; text-align: left; }
.vkd td.vkd-num { text-align: right; white-space: nowrap; }
.vkd .vkd-result { padding: 1px 6px; border-radius: 3px; }
.vkd .vkd-r-success { background: #8d4; }
.vkd .vkd-r-warnings { background: #fa3; }
.vkd .vkd-r-failure { background: #e88; }
.vkd .vkd-r-exception { background: #c6f; }
.vkd .vkd-r-skipped { background: #ade; }
.vkd .vkd-r-retry, .vkd .vkd-r-cancelled { background: #ecc; }
.vkd .vkd-r-running { background: #fd3; }
.vkd .vkd-r-unknown { background: #ccc; }
.vkd .vkd-failed { color: #a00; }
.vkd code { font-size: 12px; }
.vkd .vkd-host { margin-left: 4px; padding: 0 4px; border: 1px dashed #a60; color: #a60;
  border-radius: 3px; font-size: 11px; white-space: nowrap; }
</style>"""
MAX_HOST_PATHS = 8

# (caption, BuildSummary attribute, formatter) of each trend
TRENDS = (("checkpoint time", "ckpt_seconds", format_seconds),
          ("restore time", "restore_seconds", format_seconds),
          ("checkpoint file size", "ckpt_bytes", format_bytes))


def shown(value, fmt=str):
    """``fmt(value)``, or "—" for a value that is missing or that ``fmt`` cannot take."""
    if value is None:
        return DASH
    try:
        return fmt(value)
    except (TypeError, ValueError, OverflowError):
        return DASH


def exact(value):
    if value is None:
        return ""
    if isinstance(value, float):
        value = int(value) if value.is_integer() else round(value, 6)
    return f' title="{value}"'


def sparkline(caption, points, fmt, width=180, height=40, pad=5):
    """An SVG polyline of ``points`` (``(label, value or None, red)``, oldest first); a gap
    where a value is missing; one dot per value with its label and value as a tooltip."""
    values = [v for _label, v, _red in points if v is not None]
    if not values:
        return f'<span class="vkd-none" title="no {escape(caption)} recorded">{DASH}</span>'
    lo, hi = min(values), max(values)
    n = len(points)
    step = (width - 2 * pad) / (n - 1) if n > 1 else 0

    def xy(i, v):
        x = pad + i * step if n > 1 else width / 2
        y = height / 2 if hi == lo else pad + (height - 2 * pad) * (hi - v) / (hi - lo)
        return f"{x:.1f},{y:.1f}"

    segments, current, dots = [], [], []
    for i, (label, v, red) in enumerate(points):
        if v is None:
            if current:
                segments.append(current)
            current = []
            continue
        current.append(xy(i, v))
        x, y = xy(i, v).split(",")
        cls = ' class="vkd-red"' if red else ""
        dots.append(f'<circle cx="{x}" cy="{y}" r="2.5"{cls}>'
                    f"<title>{escape(label)}: {escape(shown(v, fmt))}</title></circle>")
    if current:
        segments.append(current)
    lines = "".join(f'<polyline points="{" ".join(seg)}"/>' for seg in segments if len(seg) > 1)
    return (f'<svg class="vkd-spark" xmlns="http://www.w3.org/2000/svg" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{escape(caption)}: {escape(shown(lo, fmt))} to '
            f'{escape(shown(hi, fmt))}">{lines}{"".join(dots)}</svg>')


def trends(rows):
    oldest_first = list(reversed(rows))
    out = ['<div class="vkd-trends">']
    for caption, attr, fmt in TRENDS:
        points = [(f"#{shown(r.number)}", getattr(r, attr), r.red) for r in oldest_first]
        latest = next((v for _l, v, _r in reversed(points) if v is not None), None)
        out.append(f"<figure>{sparkline(caption, points, fmt)}<figcaption>{escape(caption)}"
                   f" · latest {escape(shown(latest, fmt))}</figcaption></figure>")
    out.append("</div>")
    return "".join(out)


def suite_cell(row):
    if row.passed is None and row.failed is None and row.xfail is None:
        return DASH
    return " / ".join(shown(v) for v in (row.passed, row.failed, row.xfail))


def cycles_cell(row):
    if row.cycles_ok is None:
        return DASH
    return f"{row.cycles_ok}/{shown(row.cycles)}"


def failures_cell(row):
    parts = []
    names = row.failed_tests
    if names:
        listed = ", ".join(escape(n) for n in names[:MAX_FAILED_NAMES])
        more = len(names) - MAX_FAILED_NAMES
        parts.append(f'<span class="vkd-failed">failed: {listed}'
                     f'{f" and {more} more" if more > 0 else ""}</span>')
    if row.failed_step or row.failed_summary:
        step = f"<b>{escape(row.failed_step)}</b>: " if row.failed_step else ""
        parts.append(f"{step}{escape(row.failed_summary or DASH)}")
    parts.extend(f"<i>{escape(p)}</i>" for p in row.problems)
    return "<br>".join(parts)


def host_marker(row):
    """A marker on a build whose push changed host-side vkernel code: green here does not mean
    the host kernel was tested (the host keeps running its own kernel)."""
    paths = row.untested_host_paths
    if not paths:
        return ""
    listed = ", ".join(paths[:MAX_HOST_PATHS])
    more = len(paths) - MAX_HOST_PATHS
    title = (f"host-side vkernel code changed ({listed}{f' and {more} more' if more > 0 else ''}"
             "): tested only inside the guest; the host keeps running its own kernel")
    return f' <span class="vkd-host" title="{escape(title)}">host untested</span>'


def build_link(base_url, row):
    if row.builderid is None or row.number is None:
        return escape(f"#{shown(row.number)}")
    return (f'<a href="{escape(base_url)}#/builders/{row.builderid}/builds/{row.number}">'
            f"#{row.number}</a>")


HEADERS = ("build", "revision", "result", "guest suite pass / fail / xfail", "cycles ok",
           "checkpoint", "restore", "console", "file size", "failures")


def table(rows, base_url):
    out = ["<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in HEADERS) + "</tr>"]
    for row in rows:
        revision = row.revision or ""
        cells = [
            f"<td>{build_link(base_url, row)}</td>",
            f'<td><code title="{escape(revision)}">{escape(revision[:12]) or DASH}</code></td>',
            f'<td><span class="vkd-result vkd-r-{row.result_name}">{row.result_name}'
            f"</span>{host_marker(row)}</td>",
            f'<td class="vkd-num">{suite_cell(row)}</td>',
            f'<td class="vkd-num">{cycles_cell(row)}</td>',
        ]
        for attr, fmt in (("ckpt_seconds", format_seconds), ("restore_seconds", format_seconds),
                          ("console_seconds", format_seconds), ("ckpt_bytes", format_bytes)):
            value = getattr(row, attr)
            cells.append(f'<td class="vkd-num"{exact(value)}>{escape(shown(value, fmt))}</td>')
        cells.append(f"<td>{failures_cell(row)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "".join(out)


def builder_section(builder_name, rows, base_url):
    head = f"<h3>{escape(builder_name)}</h3>"
    if not rows:
        return f'<section>{head}<p class="vkd-note">no builds yet</p></section>'
    return f"<section>{head}{trends(rows)}{table(rows, base_url)}</section>"


def page(title, sections, limit, base_url="", message=None):
    """The whole fragment; ``sections`` are ``(builder name, rows)``, rows newest first;
    ``base_url`` is the UI's URL the build links start from."""
    out = ['<div class="vkd">', STYLE, f"<h2>{escape(title)}</h2>",
           f'<p class="vkd-note">last {limit} builds of each builder, newest first; the '
           "trends run from the oldest to the newest (red dot: a red build). Times and sizes "
           "are the medians over the build's checkpoint cycles.</p>"]
    if message:
        out.append(f'<p class="vkd-note">{escape(message)}</p>')
    if not sections:
        out.append('<p class="vkd-note">no builders to show</p>')
    for name, rows in sections:
        out.append(builder_section(name, rows, base_url))
    out.append("</div>")
    return "\n".join(out)
