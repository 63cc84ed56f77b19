"""Shared fixtures: the suite compiled once with gcc, and a runner invocation helper."""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from buildbot_vkckpt.suite import parse_tap_report, suite_dir

SUITE = suite_dir()


def build(src: Path, out: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, CC="gcc", CFLAGS="-O1 -g")
    return subprocess.run(["sh", str(src / "build.sh"), "-o", str(out)], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def bindir(tmp_path_factory) -> Path:
    """The suite compiled once per test run: under xdist the first worker builds it in the
    run's shared temporary directory while the others wait on a lock, then all use it."""
    if shutil.which("gcc") is None:
        pytest.fail("gcc is required to build the guest suite")
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return built(tmp_path_factory.mktemp("suite-bin"))
    root = tmp_path_factory.getbasetemp().parent
    with open(root / "suite-bin.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        out = root / "suite-bin"
        if not (root / "suite-bin.ok").exists():
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            built(out)
            (root / "suite-bin.ok").touch()
    return out


def built(out: Path) -> Path:
    proc = build(SUITE, out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "warning" not in proc.stderr, proc.stderr
    return out


@dataclass
class Run:
    proc: subprocess.CompletedProcess
    results: Path

    @property
    def tap(self) -> str:
        return (self.results / "results.tap").read_text()

    @property
    def report(self):
        return parse_tap_report(self.tap)


def kill_processes_under(path: Path) -> None:
    """Kill what a run left behind: under the fork emulation an unthawed "image" is a parked
    process (it gives up by itself only after minutes); on DragonFly it would be a file."""
    marker = str(path).encode()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fp:
                if marker in fp.read():
                    os.kill(int(pid), 9)
        except OSError:
            pass


@pytest.fixture
def run_suite(bindir, tmp_path):
    """run_suite(*args, env={...}) -> Run, with dash when present (the strictest sh here)."""
    shell = shutil.which("dash") or "sh"

    def run(*args: str, env: dict | None = None, timeout: float = 60) -> Run:
        results = tmp_path / "results"
        full_env = dict(os.environ)
        for key in ("CKPT_FAULT", "CKPT_EMULATE", "CKPT_EXPECT_RESTORES"):
            full_env.pop(key, None)
        full_env.update(env or {})
        cmd = [shell, str(SUITE / "run.sh"), "--bin", str(bindir), "--results", str(results),
               *args]
        proc = subprocess.run(cmd, env=full_env, capture_output=True, text=True,
                              timeout=timeout)
        return Run(proc, results)

    yield run
    kill_processes_under(tmp_path / "results")


@pytest.fixture
def emulated_checkpt(tmp_path) -> dict:
    """Environment with the fork emulation and the emulated checkpt(1) first on PATH."""
    if not sys.platform.startswith("linux"):
        pytest.fail("the fork emulation needs Linux /proc")
    fake = tmp_path / "fakebin"
    fake.mkdir()
    shutil.copy(SUITE / "lib" / "emulated_checkpt.sh", fake / "checkpt")
    (fake / "checkpt").chmod(0o755)
    return {"CKPT_EMULATE": "fork", "PATH": f"{fake}{os.pathsep}{os.environ['PATH']}"}
