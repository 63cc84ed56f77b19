import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture
def fake_kernel(tmp_path):
    """An executable that behaves like a small vkernel (see fakevkernel.py)."""
    path = tmp_path / "kernel.debug"
    path.write_text(f"#!/bin/sh\nexec {sys.executable} {HERE / 'fakevkernel.py'} \"$@\"\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def run_agent(tmp_path):
    import subprocess

    def run(*argv, env=None, **kw):
        e = dict(os.environ, **(env or {}))
        e["PYTHONPATH"] = str(HERE.parent.parent)
        return subprocess.run([sys.executable, "-m", "buildbot_vkckpt.agent", *map(str, argv)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e,
                              timeout=60, **kw)
    return run
