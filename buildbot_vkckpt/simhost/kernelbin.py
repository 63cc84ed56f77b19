"""The file the simulated ``make buildkernel`` links as ``kernel.debug`` for a vkernel.

A shell script that runs the simulated vkernel (``vkernel.py``) — the shell ``exec``s before it
reads past the third line — followed by the flavour's ``.rodata`` strings, NUL-terminated and
verbatim (``flavours.rodata``): the getopt string, the usage text and, for the flavours with
the GSoC handler, its messages. A reader can learn what the binary accepts from these bytes
without running it, as with a real ELF; the simulated vkernel reads them back the same way to
know what it is (``flavours.of_binary``).
"""
import os
import shlex
import sys

from . import flavours


def vkernel_bytes(host_root, kernconf, version, flavour):
    script = ("#!/bin/sh\n"
              f"VKCKPT_SIMHOST={shlex.quote(str(host_root))}; export VKCKPT_SIMHOST\n"
              f"VKCKPT_KERNCONF={shlex.quote(kernconf)}; export VKCKPT_KERNCONF\n"
              f"VKCKPT_KERNEL_VERSION={shlex.quote(version)}; export VKCKPT_KERNEL_VERSION\n"
              f"exec {shlex.quote(sys.executable)} -m buildbot_vkckpt.simhost.vkernel "
              "\"$0\" \"$@\"\n"
              "exit 127\n")
    return script.encode() + b"\0" * 8 + flavours.rodata(flavour)


def write_vkernel(path, host_root, kernconf, version, flavour, mode=0o755):
    """Write the binary at ``path`` (rm first, as the linker does: a new inode)."""
    data = vkernel_bytes(host_root, kernconf, version, flavour)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    with open(path, "wb") as fh:
        fh.write(data)
    os.chmod(path, mode)
