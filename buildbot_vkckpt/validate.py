"""Config-time checks of step, factory and transport parameters.

A wrong value fails ``buildbot checkconfig`` with its owner and the parameter named
(``VkernelCheckpointFactory: cpus must be an integer from 1 to 16, not 17``). Renderables are
accepted as they are: their value is only known when a build renders them.
"""
from buildbot import config
from buildbot.interfaces import IRenderable

SIZE_UNITS_MB = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}


def renderable(value):
    return IRenderable.providedBy(value)


def error(owner, name, text):
    config.error(f"{owner}: {name} {text}")


def positive_int(owner, name, value, allow_none=True, minimum=1, maximum=None):
    """True when ``value`` is an int in range (or None when allowed); else a config error."""
    if (value is None and allow_none) or renderable(value):
        return True
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum \
            or (maximum is not None and value > maximum):
        if maximum is not None:
            wanted = f"an integer from {minimum} to {maximum}"
        else:
            wanted = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        error(owner, name, f"must be {wanted}, not {value!r}")
        return False
    return True


def non_empty_str(owner, name, value):
    if renderable(value):
        return True
    if not isinstance(value, str) or not value.strip():
        error(owner, name, f"must be a non-empty string, not {value!r}")
        return False
    return True


def size(owner, name, value, minimum_mb=0):
    """Sizes are DragonFly-style strings: ``256m``, ``2g`` (a bare number is megabytes)."""
    if renderable(value):
        return True
    text = str(value).lower()
    number = text[:-1] if text[-1:] in SIZE_UNITS_MB else text
    if not number.isdigit():
        error(owner, name, f"must be a size such as 256m or 2g, not {value!r}")
        return False
    if int(number) * SIZE_UNITS_MB.get(text[-1], 1) < minimum_mb:
        error(owner, name, f"must be at least {minimum_mb}m, not {value!r}")
        return False
    return True
