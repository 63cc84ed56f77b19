"""Durations and sizes for people, one rule for the build page, the trends page and the demo.

The agent measures times in seconds with millisecond precision: below a second they read in
ms (``97 ms``, ``1.5 ms``), above it in seconds with three decimals (``1.234 s``). Sizes read
in KiB, MiB or GiB (``2.5 MiB``). A missing value is ``""``.
"""
MIB = 1 << 20


def format_ms(seconds):
    if seconds is None:
        return ""
    ms = seconds * 1000
    if ms < 1000:
        return f"{ms:.0f} ms" if abs(ms - round(ms)) < 0.05 else f"{ms:.1f} ms"
    return f"{seconds:.3f} s"


def format_size(value):
    if value is None:
        return ""
    mib = value / MIB
    if mib >= 1024:
        return f"{mib / 1024:.2f} GiB"
    if mib >= 1:
        return f"{mib:.1f} MiB"
    return f"{value / 1024:.0f} KiB"
