"""Sizes as DragonFly tools write them: ``256m``, ``2g``, ``512k``, plain bytes."""
import re

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text):
    m = re.fullmatch(r"\s*(\d+)\s*([bkmgt]?)\s*", str(text), re.I)
    if not m:
        raise ValueError(f"bad size {text!r} (use e.g. 256m or 2g)")
    return int(m.group(1)) * _UNITS[m.group(2).lower()]
