"""Values as the data API gives them, read without ever raising: what cannot be read is None.

Test-result values are strings in Buildbot 4.3, a collection is a ``ListResult`` (no
``list``), and a property is a ``(value, source)`` pair (a list over REST).
"""
import math
import statistics
from collections import UserList


def number(value):
    """A finite number >= 0 from a data API value (test-result values are strings), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return None
    return value


def integer(value):
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 \
        else None


def text(value):
    return value if isinstance(value, str) and value else None


def as_list(value):
    """The dicts of a data API list (a ``ListResult``, which is no ``list``); else []."""
    if not isinstance(value, (list, tuple, UserList)):
        return []
    return [v for v in value if isinstance(v, dict)]


def median(values):
    values = [v for v in (number(x) for x in values) if v is not None]
    return statistics.median(values) if values else None


def property_value(properties, name):
    """A build property from the data API (``{name: (value, source)}``) or REST (lists)."""
    if not isinstance(properties, dict):
        return None
    entry = properties.get(name)
    if isinstance(entry, (list, tuple)) and entry:
        return entry[0]
    return None


def property_text(properties, name):
    """A property that should be a string; a number is shown as it is, anything else is None."""
    value = property_value(properties, name)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return text(value.strip()) if isinstance(value, str) else None


def plan_value(properties, name, source):
    """A property the plan step set (``source``), else None: a change, scheduler or forced
    build may carry a property of the same name, and it is not the plan's."""
    if not isinstance(properties, dict):
        return None
    entry = properties.get(name)
    if isinstance(entry, (list, tuple)) and len(entry) == 2 and entry[1] == source:
        return entry[0]
    return None
