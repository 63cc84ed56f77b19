"""Processes we did not necessarily start: liveness, waiting for exit, stopping.

Waiting never sleeps: a pidfd (Linux) or a kqueue EVFILT_PROC (DragonFly, the BSDs) wakes us
when the process exits; only where neither exists do we fall back to short select() timeouts.
"""
import errno
import os
import re
import select
import signal
import time

SIGCKPTEXIT = 34   # DragonFly's checkpoint-and-exit signal (reference §15)


def alive(pid):
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as gone
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return not _zombie(pid)


def _zombie(pid):
    """Someone else's exited, not yet reaped process (Linux /proc; elsewhere: unknown)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rpartition(b")")[2].split()[0] == b"Z"
    except (OSError, IndexError):
        return False


# A pid names a process only until it exits: after a reboot (or enough forks) the same number
# names another process. The ledger keeps an identity with each pid -- the boot and the
# process's start time -- and cleanup signals a pid only while that identity still matches.
_LINUX_BOOT_ID = "/proc/sys/kernel/random/boot_id"


def identity(pid):
    """``"BOOT@START"`` for the running process ``pid``, or None when it is gone or cannot be
    told. Linux: boot_id and /proc/PID/stat field 22 (clock ticks after boot); elsewhere
    (DragonFly, the BSDs): kern.boottime and ``ps -o lstart``."""
    if not pid or pid <= 0:
        return None
    try:
        with open(_LINUX_BOOT_ID) as fh:
            boot = fh.read().strip()
    except OSError:
        return _ps_identity(pid)
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            start = fh.read().rpartition(b")")[2].split()[19].decode()
    except (OSError, IndexError):
        return None
    return f"{boot}@{start}"


def _ps_identity(pid):
    import subprocess

    env = dict(os.environ, LC_ALL="C", TZ="UTC")
    try:
        boot = subprocess.run(["sysctl", "-n", "kern.boottime"], env=env, check=True,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, timeout=10).stdout
        start = subprocess.run(["ps", "-o", "lstart=", "-p", str(pid)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    sec = re.search(r"sec\s*=\s*(\d+)", boot)
    start = " ".join(start.split())
    if not sec or not start:
        return None
    return f"{sec.group(1)}@{start}"


def same_process(pid, recorded):
    """True while ``pid`` is alive and still the process whose identity was ``recorded``.
    Without a recorded identity (older ledgers), or when it cannot be told now, liveness
    alone decides, as it always did."""
    if not alive(pid):
        return False
    if not recorded:
        return True
    current = identity(pid)
    return current is None or current == recorded


def same_boot(recorded):
    """False when ``recorded`` (an identity) was taken before the host last booted."""
    if not recorded:
        return True
    current = identity(os.getpid())
    return current is None or current.partition("@")[0] == recorded.partition("@")[0]


def read_pidfile(path):
    try:
        with open(path) as fh:
            return int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def wait_exit(pid, timeout):
    """Wait until ``pid`` is gone or ``timeout`` seconds passed; True when it is gone."""
    deadline = time.monotonic() + max(0.0, timeout)
    if not alive(pid):
        return True
    waiter = _exit_waiter(pid)
    try:
        while alive(pid):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            waiter(min(left, 0.05) if waiter is _select_tick else left)
        return True
    finally:
        close = getattr(waiter, "close", None)
        if close:
            close()


def _select_tick(seconds):
    select.select([], [], [], seconds)


class _PidfdWaiter:
    def __init__(self, fd):
        self.fd = fd

    def __call__(self, seconds):
        select.select([self.fd], [], [], seconds)

    def close(self):
        os.close(self.fd)


class _KqueueWaiter:
    def __init__(self, pid):
        self.kq = select.kqueue()
        ev = select.kevent(pid, filter=select.KQ_FILTER_PROC, flags=select.KQ_EV_ADD,
                           fflags=select.KQ_NOTE_EXIT)
        self.kq.control([ev], 0, 0)

    def __call__(self, seconds):
        self.kq.control(None, 1, seconds)

    def close(self):
        self.kq.close()


def _exit_waiter(pid):
    if hasattr(os, "pidfd_open"):
        try:
            return _PidfdWaiter(os.pidfd_open(pid))
        except OSError:
            pass
    if hasattr(select, "kqueue"):
        try:
            return _KqueueWaiter(pid)
        except OSError:
            pass
    return _select_tick


def signal_pid(pid, sig):
    """Send ``sig``; False when the process is already gone."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False
    except OSError as exc:
        if exc.errno == errno.ESRCH:
            return False
        raise


def stop(pid, grace=2.0):
    """SIGTERM, wait ``grace`` seconds, then SIGKILL; True when the process is gone."""
    if not alive(pid):
        return True
    signal_pid(pid, signal.SIGTERM)
    if wait_exit(pid, grace):
        return True
    signal_pid(pid, signal.SIGKILL)
    return wait_exit(pid, 5.0)


def kill(pid):
    """SIGKILL and wait for it; True when the process is gone."""
    if not alive(pid):
        return True
    signal_pid(pid, signal.SIGKILL)
    return wait_exit(pid, 5.0)
