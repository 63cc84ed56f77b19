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


@pytest.fixture(scope="session")
def built_host(tmp_path_factory):
    """World, VKERNEL64 and a root image built once on a simulated host, shared by tests."""
    from .simsupport import BuiltHost
    return BuiltHost(tmp_path_factory.mktemp("dfly"))


@pytest.fixture
def sim(built_host, tmp_path):
    """One session on the shared simulated host; after the test nothing of it may be left."""
    from .simsupport import SimSession
    s = SimSession(built_host, tmp_path)
    try:
        yield s
    finally:
        s.reset_host()
    s.check_no_leak()
