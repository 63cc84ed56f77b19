"""The dashboard as HTML: per builder the answer for its latest build, the regressions, the
trend sparklines, a table of builds and the guest suite's per-test history. No script, no
external asset. The UI puts the fragment inside its own page, so every style rule is scoped to
``.vkd``. Every text from the data API is escaped; a value that is missing is "—".

Stable hooks for people and browser tests: ``vkd-not-tested`` (the NOT TESTED state),
``vkd-regression`` (a flagged metric, with ``data-build`` and ``data-metric``), ``vkd-panic``,
``vkd-backtrace``, ``vkd-backtrace-link``, ``vkd-commit``, ``vkd-latest`` and ``data-build`` on
every row.
"""
import datetime
from html import escape
from urllib.parse import quote

from buildbot_vkckpt.www import history
from buildbot_vkckpt.www.identity import commit_url
from buildbot_vkckpt.www.regression import LATER_CYCLES
from buildbot_vkckpt.units import MIB, format_ms, format_size
from buildbot_vkckpt.www.spark import DASH, shown, sparkline
from buildbot_vkckpt.www.style import STYLE

MAX_FAILED_NAMES = 8
MAX_ASSERTIONS = 3
MAX_HOST_PATHS = 8
NOT_TESTED = "checkpoint NOT TESTED"

# (column, BuildSummary attribute, formatter) of each metric
METRICS = (("checkpoint", "ckpt_seconds", format_ms), ("restore", "restore_seconds", format_ms),
           ("console", "console_seconds", format_ms), ("file size", "ckpt_bytes", format_size))
# (caption, attribute, formatter, unit the scale's top is rounded in)
TRENDS = (("checkpoint time", "ckpt_seconds", format_ms, 1),
          ("restore time", "restore_seconds", format_ms, 1),
          ("checkpoint file size", "ckpt_bytes", format_size, MIB))
FORMATS = {attr: fmt for _c, attr, fmt in METRICS}


def exact(value):
    if value is None:
        return ""
    if isinstance(value, float):
        value = int(value) if value.is_integer() else round(value, 6)
    return str(value)


def when(value):
    """A build's start (datetime from the data API, epoch seconds over REST) in UTC."""
    try:
        if isinstance(value, datetime.datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            moment = datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
        else:
            return None
        return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    except (ValueError, OverflowError, OSError):
        return None


# --- cells ----------------------------------------------------------------------------------
def build_link(base_url, row):
    if row.builderid is None or row.number is None:
        return escape(f"#{shown(row.number)}")
    return (f'<a href="{escape(base_url)}#/builders/{row.builderid}/builds/{row.number}">'
            f"#{row.number}</a>")


def build_cell(base_url, row):
    date = when(row.started_at)
    return build_link(base_url, row) + (f'<div class="vkd-date">{escape(date)}</div>'
                                        if date else "")


def tested_cell(row, url_template):
    """Branch, commit (linked, with subject and author), host and vkernel."""
    ident = row.identity
    parts = []
    revision = row.revision or ""
    short = escape(revision[:12]) or DASH
    url = commit_url(url_template, revision, ident)
    commit = (f'<a class="vkd-commit" href="{escape(url)}" title="{escape(revision)}">'
              f"<code>{short}</code></a>" if url and revision else
              f'<code class="vkd-commit" title="{escape(revision)}">{short}</code>')
    branch = f'<span class="vkd-branch">{escape(ident.branch)}</span> ' \
        if ident and ident.branch else ""
    parts.append(branch + commit)
    if ident and (ident.subject or ident.author):
        subject = escape(ident.subject or "")
        author = f' <span class="vkd-author">— {escape(ident.author)}</span>' \
            if ident.author else ""
        parts.append(f'<div class="vkd-subject">{subject}{author}</div>')
    machine = []
    if ident and ident.host_kernel:
        machine.append(f"host {ident.host_kernel}")
    if ident and ident.flavour:
        machine.append(f"vkernel {ident.flavour}")
    if ident and ident.memory:
        machine.append(f"{ident.memory} memory")
    if ident and ident.cpus:
        machine.append(f"{ident.cpus} CPUs")
    if machine:
        title = f' title="{escape(ident.guest_version)}"' if ident.guest_version else ""
        parts.append(f'<div class="vkd-machine"{title}>{escape(" · ".join(machine))}</div>')
    return "".join(parts)


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


def result_cell(row):
    if row.state == "not-tested":
        state = (f'<span class="vkd-result vkd-not-tested">{NOT_TESTED}</span>'
                 f'<div class="vkd-reason">{escape(row.not_tested)}</div>')
    else:
        state = f'<span class="vkd-result vkd-r-{row.result_name}">{row.result_name}</span>'
        if row.not_tested is not None:     # red for another reason, and not tested either
            state += (f'<div class="vkd-reason vkd-not-tested-note">{NOT_TESTED} — '
                      f"{escape(row.not_tested)}</div>")
    if row.regressions:
        state += ' <span class="vkd-slower">slower than usual</span>'
    return state + host_marker(row)


def suite_cell(row):
    if row.passed is None and row.failed is None and row.xfail is None:
        return DASH
    return " / ".join(shown(v) for v in (row.passed, row.failed, row.xfail))


def cycles_cell(row):
    if row.state == "not-tested":
        return '<span class="vkd-not-tested-cell">not tested</span>'
    if row.cycles_ok is None:
        return DASH
    planned = max(row.cycles_planned or 0, row.cycles or 0)
    notes = []
    if row.failed_cycle is not None:
        notes.append(f"cycle {row.failed_cycle} failed")
    if row.cycles is not None and planned > row.cycles:
        notes.append(f"{planned - row.cycles} not run")
    elif row.cycles_planned is None and row.cycles_ok < (row.cycles or 0):
        notes.append(f"{row.cycles} ran")
    note = f'<div class="vkd-note">{escape(" · ".join(notes))}</div>' if notes else ""
    return f"{row.cycles_ok}/{planned or DASH} ok{note}"


def regression_of(row, attr):
    return next((r for r in row.regressions if r.attr == attr), None)


def regression_text(reg, fmt):
    return (f"{reg.metric} {LATER_CYCLES} {shown(reg.value, fmt)}: "
            f"+{(reg.ratio - 1) * 100:.0f} % over {shown(reg.baseline, fmt)}, the median of "
            f"the previous {reg.builds} green builds")


def span(lo, hi, fmt):
    """``60–68 ms``: one unit for both ends when they share it."""
    a, b = shown(lo, fmt), shown(hi, fmt)
    if a == b:
        return a
    unit_a, unit_b = a.rpartition(" ")[2], b.rpartition(" ")[2]
    return f"{a.rpartition(' ')[0]}–{b}" if unit_a == unit_b else f"{a} – {b}"


def metric_cell(row, attr, fmt):
    """The median over the cycles, the first cycle apart and the others' range; every
    cycle's exact value in the tooltip."""
    value = getattr(row, attr)
    per_cycle = row.cycles_of.get(attr) or []
    if value is None:
        return f'<td class="vkd-num">{DASH}</td>'
    title = "; ".join(f"cycle {n}: {exact(v)}" for n, v in per_cycle) or exact(value)
    lines = [f'<span class="vkd-median">{escape(shown(value, fmt))}</span>']
    values = [v for _n, v in per_cycle]
    if len(values) > 1 and min(values) != max(values):
        rest = values[1:]
        lines.append(f'<div class="vkd-cycles">1st {escape(shown(values[0], fmt))}</div>'
                     f'<div class="vkd-cycles">later '
                     f"{escape(span(min(rest), max(rest), fmt))}</div>")
    reg = regression_of(row, attr)
    cls = "vkd-num vkd-metric"
    if reg is not None:
        cls += " vkd-regressed"
        lines.append(f'<div class="vkd-regression" data-build="{shown(row.number)}" '
                     f'data-metric="{attr}" title="{escape(regression_text(reg, fmt))}">'
                     f"▲ +{(reg.ratio - 1) * 100:.0f} %</div>")
    return (f'<td class="{cls}" data-metric="{attr}" title="{escape(title)}">'
            f"{''.join(lines)}</td>")


def failures_cell(row, base_url):
    parts = []
    names = row.failed_tests
    if names:
        listed = ", ".join(escape(n) for n in names[:MAX_FAILED_NAMES])
        more = len(names) - MAX_FAILED_NAMES
        parts.append(f'<span class="vkd-failed">failed: {listed}'
                     f'{f" and {more} more" if more > 0 else ""}</span>')
    for test, message in row.assertions[:MAX_ASSERTIONS]:
        parts.append(f'<div class="vkd-assertion"><code>{escape(test)}</code>: '
                     f"{escape(message)}</div>")
    if row.failed_step or row.failed_summary:
        step = f'<b class="vkd-failed-step">{escape(row.failed_step)}</b>: ' \
            if row.failed_step else ""
        parts.append(f"{step}{escape(row.failed_summary or DASH)}")
    if row.panic:
        parts.append(f'<div class="vkd-panic">{escape(row.panic)}</div>')
    if row.backtrace:
        parts.append(f'<pre class="vkd-backtrace">{escape(chr(10).join(row.backtrace))}</pre>')
    if row.backtrace_log and row.builderid is not None and row.number is not None:
        stepnumber, slug = row.backtrace_log
        href = (f"{base_url}#/builders/{row.builderid}/builds/{row.number}/steps/"
                f"{stepnumber}/logs/{quote(slug, safe='')}")
        parts.append(f'<a class="vkd-backtrace-link" href="{escape(href)}">backtrace log</a>')
    parts.extend(f"<i>{escape(p)}</i>" for p in row.problems)
    return "<br>".join(parts)


# --- blocks ---------------------------------------------------------------------------------
# the answer first: result and what broke, then the numbers, then what was tested
HEADERS = ("build", "result", "what broke", "guest suite pass / fail / xfail", "cycles ok",
           "checkpoint", "restore", "console", "file size", "tested")


def table(rows, base_url, url_template=None):
    out = ['<table class="vkd-builds"><tr>'
           + "".join(f"<th>{escape(h)}</th>" for h in HEADERS) + "</tr>"]
    for row in rows:
        cells = [f"<td>{build_cell(base_url, row)}</td>",
                 f'<td class="vkd-state">{result_cell(row)}</td>',
                 f'<td class="vkd-broke">{failures_cell(row, base_url)}</td>',
                 f'<td class="vkd-num">{suite_cell(row)}</td>',
                 f'<td class="vkd-num">{cycles_cell(row)}</td>']
        cells.extend(metric_cell(row, attr, fmt) for _c, attr, fmt in METRICS)
        cells.append(f'<td class="vkd-tested">{tested_cell(row, url_template)}</td>')
        out.append(f'<tr class="vkd-row vkd-state-{row.state}" data-build="{shown(row.number)}">'
                   + "".join(cells) + "</tr>")
    out.append("</table>")
    return "".join(out)


def trends(rows):
    oldest_first = list(reversed(rows))
    out = ['<div class="vkd-trends">']
    for caption, attr, fmt, unit in TRENDS:
        points = [(f"#{shown(r.number)}", getattr(r, attr),
                   (["vkd-red"] if r.red else [])
                   + (["vkd-regression"] if regression_of(r, attr) else []))
                  for r in oldest_first]
        latest = next((v for _l, v, _c in reversed(points) if v is not None), None)
        out.append(f"<figure>{sparkline(caption, points, fmt, unit)}<figcaption>{escape(caption)}"
                   f" · latest {escape(shown(latest, fmt))}</figcaption></figure>")
    out.append("</div>")
    return "".join(out)


def latest_answer(rows):
    """The answer for the builder's newest finished build, first thing in its section."""
    row = next((r for r in rows if r.result_name != "running"), None)
    if row is None:
        return ""
    head = f"latest #{shown(row.number)}: "
    if row.state == "not-tested":
        body = (f'<span class="vkd-not-tested">{NOT_TESTED}</span> — '
                f"{escape(row.not_tested)}")
    elif row.red:
        cause = row.panic or (f"{row.failed_step}: {row.failed_summary}"
                              if row.failed_step else row.failed_summary) or row.result_name
        body = (f'<span class="vkd-result vkd-r-{row.result_name}">{row.result_name}</span> '
                f"{escape(cause)}")
    else:
        body = f'<span class="vkd-result vkd-r-{row.result_name}">{row.result_name}</span>'
        if row.cycles_ok is not None:
            body += f" · {row.cycles_ok}/{shown(row.cycles)} checkpoint cycles ok"
    if row.regressions:
        body += ' · <span class="vkd-slower">slower than usual</span>'
    return f'<p class="vkd-latest vkd-state-{row.state}">{escape(head)}{body}</p>'


def regressions_list(flagged):
    if not flagged:
        return ""
    items = []
    for row in flagged:
        for reg in row.regressions:
            items.append(f'<li class="vkd-regression" data-build="{shown(row.number)}" '
                         f'data-metric="{reg.attr}">#{shown(row.number)} slower than usual: '
                         f"{escape(regression_text(reg, FORMATS[reg.attr]))}</li>")
    return f'<ul class="vkd-regressions">{"".join(items)}</ul>'


def xpass_list(rows):
    warnings = history.xpass_warnings(rows)
    if not warnings:
        return ""
    items = "".join(f'<li class="vkd-xpass">#{shown(number)}: xfail now passes: '
                    f"<code>{escape(test)}</code> (expected to fail, passed: update its "
                    "expectation)</li>" for test, number in warnings)
    return f'<ul class="vkd-xpass-list">{items}</ul>'


def builder_section(builder_name, rows, base_url, flagged=(), url_template=None):
    head = f"<h3>{escape(builder_name)}</h3>"
    if not rows:
        return (f'<section class="vkd-builder" data-builder="{escape(builder_name)}">{head}'
                '<p class="vkd-note">no builds yet</p></section>')
    return (f'<section class="vkd-builder" data-builder="{escape(builder_name)}">{head}'
            f"{latest_answer(rows)}{regressions_list(flagged)}{xpass_list(rows)}"
            f"{trends(rows)}{table(rows, base_url, url_template)}"
            f"{history.strip_html(rows)}</section>")


def page(title, sections, limit, base_url="", message=None, threshold=0.25, baseline=5,
         url_template=None):
    """The whole fragment; ``sections`` are ``(builder name, rows, flagged rows)``, rows
    newest first; ``base_url`` is the UI's URL the build links start from."""
    out = ['<div class="vkd">', STYLE, f"<h2>{escape(title)}</h2>",
           f'<p class="vkd-note">last {limit} builds of each builder, newest first; the '
           "trends run from the oldest to the newest on a scale from zero (red dot: a red "
           "build; ringed: slower than usual). Times and sizes are the medians over the "
           "build's checkpoint cycles, the first cycle and the range of the later ones below. "
           f"<b>Slower than usual</b>: more than {threshold * 100:g} % above the median of "
           f"the previous {baseline} green builds, comparing the cycles after the first. "
           f"<b>{NOT_TESTED}</b>: the build could not test checkpointing (it is never "
           "counted as a pass).</p>"]
    if message:
        out.append(f'<p class="vkd-note">{escape(message)}</p>')
    if not sections:
        out.append('<p class="vkd-note">no builders to show</p>')
    for name, rows, flagged in sections:
        out.append(builder_section(name, rows, base_url, flagged, url_template))
    out.append("</div>")
    return "\n".join(out)
