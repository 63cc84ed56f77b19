import os
import subprocess
from pathlib import Path

import pytest

from .simsupport import AGENT

HERE = Path(__file__).parent


@pytest.fixture
def private_registry(tmp_path, monkeypatch):
    """A session registry of this test's own: ledgers holding live pids (pytest's own among
    them) must never be found, and stopped, by a later test's ``cleanup --stale``."""
    path = tmp_path / "registry"
    monkeypatch.setenv("VKCKPT_STATE_DIR", str(path))
    return path


@pytest.fixture
def orphan(private_registry):
    """A live ``sleep`` reaped by init, not our child: stands for an unrelated process."""
    from buildbot_vkckpt.agent import procs
    pid = int(subprocess.run(["sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!"],
                             stdout=subprocess.PIPE, check=True).stdout)
    yield pid
    procs.signal_pid(pid, 9)
    procs.wait_exit(pid, 5)


@pytest.fixture
def run_agent(tmp_path):
    def run(*argv, env=None, **kw):
        e = dict(os.environ, **(env or {}))
        e["PYTHONPATH"] = str(HERE.parent.parent)
        return subprocess.run([*AGENT, *map(str, argv)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e,
                              timeout=60, **kw)
    return run


@pytest.fixture(scope="session")
def built_host(tmp_path_factory):
    """World, VKERNEL64 and a root image built once on a simulated host, shared by tests."""
    from .simsupport import BuiltHost
    return BuiltHost(tmp_path_factory.mktemp("dfly"))


_FLAVOURED = {}


@pytest.fixture(scope="session")
def flavoured_host(tmp_path_factory):
    """``flavoured_host(flavour, host_kernel=None)``: a built simulated host of that flavour,
    made once per run and shared."""
    from .simsupport import BuiltHost

    def get(flavour, host_kernel=None):
        key = (flavour, host_kernel)
        if key not in _FLAVOURED:
            root = tmp_path_factory.mktemp(f"dfly-{flavour}-{host_kernel or 'default'}")
            _FLAVOURED[key] = BuiltHost(root, flavour=flavour, host_kernel=host_kernel)
        return _FLAVOURED[key]
    return get


@pytest.fixture
def sim_of(flavoured_host, tmp_path):
    """``sim_of(flavour, host_kernel=None)``: one session on that flavour's shared host, with
    the same leak check as ``sim``."""
    from .simsupport import SimSession
    made = []

    def make(flavour, host_kernel=None):
        s = SimSession(flavoured_host(flavour, host_kernel), tmp_path / f"{len(made)}")
        made.append(s)
        return s
    yield make
    for s in made:
        s.reset_host()
    for s in made:
        s.check_no_leak()


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
