"""Units for people and the trend sparklines.

Times come from the agent in seconds with millisecond precision, so they are shown in ms
below a second and with three decimals above. A sparkline's scale starts at zero and its top
is labelled, so a 50 ms wobble on a 100 ms restore looks like one, not like a cliff.
"""
import math
from html import escape

DASH = "—"


def shown(value, fmt=str):
    """``fmt(value)``, or "—" for a value that is missing or that ``fmt`` cannot take."""
    if value is None:
        return DASH
    try:
        return fmt(value)
    except (TypeError, ValueError, OverflowError):
        return DASH


def nice_top(value):
    """The smallest of 1, 2, 2.5, 5 × 10^k at or above ``value`` (the scale's top)."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value * (1 - 1e-9):
            return step * power
    return 10 * power


def sparkline(caption, points, fmt, unit=1, width=260, height=64, left=46, pad=6):
    """An SVG line of ``points`` (``(label, value or None, classes)``, oldest first) on a
    scale from 0 to a round top, both labelled; a gap where a value is missing; one dot per
    value with its label and value as a tooltip, classed (``vkd-red``, ``vkd-regression``).
    ``unit`` is what the top is rounded in (MiB for sizes)."""
    values = [v for _label, v, _cls in points if v is not None]
    if not values:
        return f'<span class="vkd-none" title="no {escape(caption)} recorded">{DASH}</span>'
    top = nice_top(max(values) / unit) * unit
    n = len(points)
    inner = width - left - pad
    step = inner / (n - 1) if n > 1 else 0

    def xy(i, v):
        x = left + i * step if n > 1 else left + inner / 2
        y = pad + (height - 2 * pad) * (1 - v / top)
        return x, y

    segments, current, dots = [], [], []
    for i, (label, v, classes) in enumerate(points):
        if v is None:
            if current:
                segments.append(current)
            current = []
            continue
        x, y = xy(i, v)
        current.append(f"{x:.1f},{y:.1f}")
        cls = f' class="{escape(" ".join(classes))}"' if classes else ""
        dots.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5"{cls}>'
                    f"<title>{escape(label)}: {escape(shown(v, fmt))}</title></circle>")
    if current:
        segments.append(current)
    lines = "".join(f'<polyline points="{" ".join(seg)}"/>' for seg in segments if len(seg) > 1)
    y0, ytop = height - pad, pad
    axis = (f'<line class="vkd-axis" x1="{left - 2}" y1="{y0}" x2="{width - pad}" y2="{y0}"/>'
            f'<line class="vkd-axis" x1="{left - 2}" y1="{ytop}" x2="{left - 2}" y2="{y0}"/>'
            f'<text class="vkd-scale" x="{left - 5}" y="{ytop + 4}" text-anchor="end">'
            f"{escape(shown(top, fmt))}</text>"
            f'<text class="vkd-scale" x="{left - 5}" y="{y0}" text-anchor="end">0</text>')
    return (f'<svg class="vkd-spark" xmlns="http://www.w3.org/2000/svg" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'data-scale-top="{top:g}" '
            f'aria-label="{escape(caption)}: scale 0 to {escape(shown(top, fmt))}, values '
            f'{escape(shown(min(values), fmt))} to {escape(shown(max(values), fmt))}">'
            f"{axis}{lines}{''.join(dots)}</svg>")
