"""Run the agent as on DragonFly: without a Linux ``/proc``.

DragonFly has no Linux-style procfs, so the agent's BSD code paths (``ps``, ``sysctl``) are the
ones a real host takes. :func:`write_python_wrapper` writes a ``python3`` that starts the agent
in a private mount namespace where ``/proc`` is an empty tmpfs; the simulated host's own tools
keep the real one, bind-mounted at ``$VKCKPT_SIMHOST/hostproc`` first. Needs root and
``unshare`` (util-linux); :func:`available` says whether this machine has both.
"""
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

# Linux's own tools by absolute path: the simulated host's mount is first on PATH
_SCRIPT = """#!/bin/sh
# python3 without /proc: DragonFly has none, so the agent must not need it
# already hidden (a python started by this one, e.g. over SSH): hiding again would bind the
# empty /proc over hostproc
[ -e /proc/self ] || exec {python} "$@"
exec {unshare} --mount --propagation private /bin/sh -c '
  {mkdir} -p "$VKCKPT_SIMHOST/hostproc" &&
  {mount} --bind /proc "$VKCKPT_SIMHOST/hostproc" &&
  {mount} -t tmpfs -o size=64k,mode=555 noproc /proc &&
  exec "$0" "$@"' {python} "$@"
"""


def _linux_tool(name):
    for d in ("/usr/bin", "/bin", "/usr/sbin", "/sbin"):
        if os.access(os.path.join(d, name), os.X_OK):
            return os.path.join(d, name)
    return name


def available():
    """Root, ``unshare`` and a mount namespace that can hide /proc."""
    if os.geteuid() != 0 or not shutil.which(_linux_tool("unshare")):
        return False
    probe = subprocess.run(
        [_linux_tool("unshare"), "--mount", "--propagation", "private", "/bin/sh", "-c",
         f"{_linux_tool('mount')} -t tmpfs noproc /proc && test ! -e /proc/self"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return probe.returncode == 0


def write_python_wrapper(directory, python=None):
    """Write ``DIRECTORY/python3`` (put DIRECTORY first on the agent's PATH); returns its path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "python3"
    path.write_text(_SCRIPT.format(
        python=shlex.quote(python or sys.executable), unshare=_linux_tool("unshare"),
        mkdir=_linux_tool("mkdir"), mount=_linux_tool("mount")))
    path.chmod(0o755)
    return path
