"""The file the simulated ``make buildkernel`` links as ``kernel.debug`` for a vkernel.

A shell script that runs the simulated vkernel (``vkernel.py``) — the shell ``exec``s before it
reads past the third line — followed by the flavour's ``.rodata`` strings, NUL-terminated and
verbatim (``flavours.rodata``): the getopt string, the usage text and, for the flavours with
the GSoC handler, its messages. A reader can learn what the binary accepts from these bytes
without running it, as with a real ELF; the simulated vkernel reads them back the same way to
know what it is (``flavours.of_binary``).

Test knob (not DragonFly behaviour; docs/simhost-fidelity.rst): a line
``VKCKPT_SIM_REGRESSION: <fault>`` in a C source or header under ``sys/`` of the tree being
built plants that fault in the kernel built from it (``PLANTABLE``). The binary carries the
names after its ``.rodata`` strings, and the simulated vkernel acts on them, so a regression
comes and goes with the commits that add and remove the line (a bisection can find it).
"""
import os
import re
import shlex
from pathlib import Path

from . import flavours, launch

PLANTABLE = ("restore-panics", "restore-loses-process")
PLANTED = re.compile(rb"VKCKPT_SIM_REGRESSION: (" + "|".join(PLANTABLE).encode() + rb")\b")
PLANTED_TAG = b"vkckpt-sim-regression="


def planted_in_tree(src):
    """The plantable faults named by ``VKCKPT_SIM_REGRESSION:`` lines in ``src``/sys."""
    found = set()
    for path in sorted(Path(src, "sys").rglob("*.[ch]")) if src else ():
        try:
            data = path.read_bytes()
        except OSError:
            continue
        found.update(m.group(1).decode() for m in PLANTED.finditer(data))
    return tuple(sorted(found))


def planted_in_binary(path):
    """The faults a kernel binary was built with (none when it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except (OSError, TypeError):
        return ()
    return tuple(m.group(1).decode() for m in re.finditer(
        re.escape(PLANTED_TAG) + rb"([a-z-]+)\0", data))


def vkernel_bytes(host_root, kernconf, version, flavour, planted=()):
    script = ("#!/bin/sh\n"
              f"VKCKPT_SIMHOST={shlex.quote(str(host_root))}; export VKCKPT_SIMHOST\n"
              f"VKCKPT_KERNCONF={shlex.quote(kernconf)}; export VKCKPT_KERNCONF\n"
              f"VKCKPT_KERNEL_VERSION={shlex.quote(version)}; export VKCKPT_KERNEL_VERSION\n"
              + launch.exec_line("vkernel", '"$0" "$@"')
              + "exit 127\n")
    return script.encode() + b"\0" * 8 + flavours.rodata(flavour) + b"".join(
        PLANTED_TAG + name.encode() + b"\0" for name in planted)


def write_vkernel(path, host_root, kernconf, version, flavour, mode=0o755, planted=()):
    """Write the binary at ``path`` (rm first, as the linker does: a new inode)."""
    data = vkernel_bytes(host_root, kernconf, version, flavour, planted)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    with open(path, "wb") as fh:
        fh.write(data)
    os.chmod(path, mode)
