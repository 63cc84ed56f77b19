"""The line a simulated program's wrapper script ``exec``s to start it.

``python -S -m buildbot_vkckpt.simhost.MODULE ARGS`` with this package's parent directory as
``PYTHONPATH``. The simulator is standard library only, so site-packages (and every ``.pth``
file a venv or the machine's Python carries) would only be start-up time, paid by each of the
hundreds of simulated commands a build runs. ``hostps`` shows such a process by what follows
the module name, as DragonFly shows the program's own argv.
"""
import os
import shlex
import sys

PACKAGE = "buildbot_vkckpt.simhost"
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def exec_line(module, args, python=None):
    """``PYTHONPATH=... exec PYTHON -S -m PACKAGE.MODULE ARGS`` (``args`` is already shell)."""
    python = shlex.quote(str(python or sys.executable))
    return (f"PYTHONPATH={shlex.quote(PACKAGE_PARENT)} exec {python} -S -m {PACKAGE}.{module} "
            f"{args}\n")
