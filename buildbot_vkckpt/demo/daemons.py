"""Start and stop a Buildbot master's or worker's twistd daemon, as ``buildbot start`` /
``buildbot-worker start`` and their ``stop`` do, without a CLI process in between.

The CLI costs about a second of CPU per start (it imports all of Buildbot, then spawns the same
``twistd`` command as here); the tests start dozens of masters. What runs is the same: ``twistd
--no_save --logfile=twistd.log --python=buildbot.tac`` in the base directory, daemonized, and for
a master the same ``twistd.log`` lines ``buildbot start`` follows to tell started from failed.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from buildbot_vkckpt.agent.procs import alive

TWISTD = "from twisted.scripts import twistd; twistd.run()"
# buildbot/scripts/logwatcher.py: the lines `buildbot start` takes for started and for failed
MASTER_STARTED = (b"BuildMaster is running", b"configuration update complete")
MASTER_FAILED = (b"BuildMaster startup failed", b"configuration update aborted",
                 b"configuration update partially applied", b"Server Shut Down")
# buildbot_worker/scripts/logwatcher.py: what `buildbot-worker start` waits for
WORKER_STARTED = (b"message from master: attached",)


class BuildbotError(RuntimeError):
    pass


def start(basedir, env=None, timeout=60, started=(), failed=()):
    """Start the twistd application of ``basedir``. With ``started`` markers, wait until one of
    them (or of ``failed``) appears in the new part of ``twistd.log``."""
    basedir = Path(basedir)
    log = basedir / "twistd.log"
    offset = log.stat().st_size if log.exists() else 0
    argv = [sys.executable, "-c", TWISTD, "--no_save", "--logfile=twistd.log",
            "--python=buildbot.tac"]
    # returns once twistd has daemonized (its first process exits)
    proc = subprocess.run(argv, cwd=basedir, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise BuildbotError(f"twistd in {basedir} failed ({proc.returncode}):\n"
                            f"{proc.stdout}{proc.stderr}")
    if started:
        _follow(basedir, log, offset, timeout, started, failed)


def _follow(basedir, log, offset, timeout, started, failed):
    deadline = time.monotonic() + timeout
    seen = b""
    while True:
        try:
            with open(log, "rb") as fh:
                fh.seek(offset if offset <= os.path.getsize(log) else 0)
                seen = fh.read()
        except OSError:
            pass
        for line in seen.splitlines():
            if any(m in line for m in failed):
                raise BuildbotError(f"{basedir} did not start: {line.decode(errors='replace')}"
                                  f"\n{_tail(seen)}")
            if any(m in line for m in started):
                return
        pid = pid_of(basedir)
        if pid is not None and not alive(pid):
            raise BuildbotError(f"{basedir}: twistd (pid {pid}) exited while starting"
                              f"\n{_tail(seen)}")
        if time.monotonic() > deadline:
            raise BuildbotError(f"{basedir} did not start within {timeout} s; see {log}"
                              f"\n{_tail(seen)}")
        time.sleep(0.05)


def _tail(data, lines=15):
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


def pid_of(basedir):
    try:
        return int((Path(basedir) / "twistd.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def stop(basedir, timeout):
    """SIGTERM the daemon whose pid is in ``basedir``/twistd.pid and wait until it is gone;
    None when it stopped (or was not running), else what went wrong. What ``buildbot stop``
    does, polled every 50 ms instead of every second."""
    pid = pid_of(basedir)
    if pid is None:
        return None                     # never started, or already stopped and cleaned up
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return None
    except OSError as exc:
        return str(exc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return None
        time.sleep(0.05)
    return f"pid {pid} still running {timeout} s after SIGTERM"
