"""Which vkernel is this? Read from the binary's bytes, never by running it.

There is no single "the vkernel" (reference/dragonfly.md §23): the GSoC 2013 branch, master
(2020) and master with the GSoC work ported accept different options and stop differently. Like
any C program, the binary carries its ``getopt`` option string and its usage text verbatim,
NUL-terminated, in ``.rodata``; the GSoC checkpoint handler's messages mark a binary that can be
checkpointed. From those the agent learns which options it may pass (``-d`` exists only on
master) and names the flavour: ``gsoc2013``, ``master2020``, ``master-with-port``, or
``unknown`` (then the accepted options are all it knows).
"""
import os
import re

GSOC_GETOPT = "c:hsvl:m:n:r:e:i:p:I:Ub:B:"
MASTER_GETOPT = "c:hsvztTl:m:n:r:R:e:i:p:I:Ud"
# printed by the 2013 handler for SIGCKPT / on a failed save (reference §19)
HANDLER_MESSAGES = (b"Use SIGCKPTEXIT instead", b"Couldn't save checkpoint file")
# options every vkernel since 2.x has; a getopt string of the vkernel names most of them
_CORE = set("mnrpI")
_STRING = re.compile(rb"[\x21-\x7e]{6,200}\x00")
_USAGE = re.compile(rb"Usage: %s \[-([A-Za-z]+)\]([^\x00]{0,600})\x00")
_USAGE_OPT = re.compile(r"\[-([A-Za-z])[ \]]")
CHUNK = 1 << 20


def scan(path):
    """{"getopt", "usage", "handler", "size"} from the binary at ``path``; OSError if unreadable.

    Strings are looked for in overlapping chunks, so a large kernel.debug is read once and
    never held whole in memory."""
    found = {"getopt": None, "usage": None, "handler": False}
    overlap = 1024
    tail = b""
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(CHUNK)
            if not chunk:
                break
            data = tail + chunk
            _scan_block(data, found)
            tail = data[-overlap:]
    return found


def _scan_block(data, found):
    if not found["handler"] and any(m in data for m in HANDLER_MESSAGES):
        found["handler"] = True
    if found["usage"] is None:
        m = _USAGE.search(data)
        if m:
            found["usage"] = m.group(0)[:-1].decode("ascii", "replace")
    if found["getopt"] is None and b"m:n:" in data:
        for m in _STRING.finditer(data):
            text = m.group(0)[:-1].decode("ascii")
            # a string may follow printable bytes of whatever precedes it in .rodata
            text = next((k for k in (GSOC_GETOPT, MASTER_GETOPT) if text.endswith(k)), text)
            if is_vkernel_getopt(text):
                found["getopt"] = text
                break


def is_vkernel_getopt(text):
    """A getopt(3) option string that names the vkernel's core options."""
    if not re.fullmatch(r"[A-Za-z:]+", text) or text.startswith("::"):
        return False
    return _CORE <= set(text.replace(":", "")) and "m:" in text and "r:" in text


def options_of_getopt(text):
    """{letter: takes_argument} from a getopt string."""
    opts = {}
    for i, c in enumerate(text):
        if c != ":":
            opts[c] = i + 1 < len(text) and text[i + 1] == ":"
    return opts


def options_of_usage(text):
    """Letters the usage text names: the flag cluster ``[-hsUv]`` and each ``[-x arg]``."""
    m = re.match(r"Usage: %s \[-([A-Za-z]+)\]", text)
    letters = set(m.group(1)) if m else set()
    letters |= set(_USAGE_OPT.findall(text))
    return letters


class Flavour:
    def __init__(self, name, options, handler, source, getopt=None, usage=None):
        self.name = name
        self.options = options          # set of accepted option letters
        self.handler = handler          # True: the GSoC checkpoint handler is in the binary
        self.source = source            # how the options were learnt
        self.getopt = getopt
        self.usage = usage

    def accepts(self, letter):
        return letter in self.options

    @property
    def forwards_term(self):
        """The fork-wrapper parent forwards SIGTERM (master since 2014); the GSoC one does not.
        Unknown binaries are treated as not forwarding: the child is signalled either way."""
        return self.name in ("master2020", "master-with-port")

    def describe(self):
        if self.name != "unknown":
            return self.name
        return "unknown (options -" + "".join(sorted(self.options)) + ")"

    def to_json(self):
        return {"flavour": self.name, "options": "".join(sorted(self.options)),
                "handler": self.handler, "options_from": self.source}


def classify(found):
    getopt, usage, handler = found["getopt"], found["usage"], found["handler"]
    if getopt:
        options, source = set(options_of_getopt(getopt)), "getopt string"
    elif usage:
        options, source = options_of_usage(usage), "usage text"
    else:  # the options every flavour has (GSoC's set is master's minus d, t, z, R)
        options, source = set(options_of_getopt(GSOC_GETOPT)) - set("bB"), \
            "assumed: no getopt string or usage text found"
    if getopt == GSOC_GETOPT and handler:
        name = "gsoc2013"
    elif getopt == MASTER_GETOPT:
        name = "master-with-port" if handler else "master2020"
    else:
        name = "unknown"
    return Flavour(name, options, handler, source, getopt, usage)


def detect(path):
    """The Flavour of the vkernel binary at ``path``; OSError when it cannot be read."""
    return classify(scan(os.fspath(path)))
