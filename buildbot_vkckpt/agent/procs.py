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
    """Someone else's exited, not yet reaped process: Linux /proc where there is one, else
    (DragonFly has no /proc) ``ps -o state=``, whose first letter is Z for a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rpartition(b")")[2].split()[0] == b"Z"
    except FileNotFoundError:
        if os.path.isdir("/proc/self"):
            return False        # a procfs without this pid: it is gone
    except (OSError, IndexError):
        return False
    state = ps_fields(pid, "state")
    return bool(state) and state[0].startswith("Z")


def ps_fields(pid, *keywords):
    """``ps -o KW= -p PID`` values (DragonFly bin/ps), one string per keyword; None when the
    process is gone or ps cannot tell. ``lstart`` spans five words, so each keyword is asked
    with its own -o and the line split by the known widths of the others."""
    import subprocess

    argv = ["ps"]
    for kw in keywords:
        argv += ["-o", f"{kw}="]
    argv += ["-p", str(pid)]
    try:
        out = subprocess.run(argv, env=_ps_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [ln for ln in out.splitlines() if ln.strip()]
    if not lines:
        return None
    words = lines[0].split()
    values, i = [], 0
    for kw in keywords:
        n = 5 if kw == "lstart" else 1
        if kw == keywords[-1]:
            n = len(words) - i
        values.append(" ".join(words[i:i + n]))
        i += n
    return values


def _ps_env():
    return dict(os.environ, LC_ALL="C", TZ="UTC")


# A pid names a process only until it exits: after a reboot (or enough forks) the same number
# names another process. The ledger keeps an identity with each pid -- the boot and the
# process's start time -- and cleanup signals a pid only while that identity still matches.
_LINUX_BOOT_ID = "/proc/sys/kernel/random/boot_id"


def identity(pid):
    """``"BOOT@START"`` for the running process ``pid``, or None when it is gone or cannot be
    told. Linux: boot_id and /proc/PID/stat field 22 (clock ticks after boot); elsewhere
    (DragonFly has no /proc): ``ps -o lstart`` of init (pid 1) and of the process — a start
    time is fixed at fork, while kern.boottime moves on every clock step (reference §23)."""
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

    try:
        out = subprocess.run(["ps", "-o", "pid=", "-o", "lstart=", "-p", f"1,{pid}"],
                             env=_ps_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    starts = {}
    for line in out.splitlines():
        m = _PS_LSTART.match(line)
        if m:
            starts[int(m.group(1))] = " ".join(m.group(2).split())
    if 1 not in starts or pid not in starts:
        return None
    return f"boot {starts[1]}@{starts[pid]}"


_PS_LSTART = re.compile(r"\s*(\d+)\s+(\S+\s+\S+\s+\d+\s+[\d:]+\s+\d+)\s*$")


def _kind(ident):
    return "ps" if ident.startswith("boot ") else "linux"


def same_process(pid, recorded):
    """True while ``pid`` is alive and still the process whose identity was ``recorded``.
    Without a recorded identity (older ledgers), or when it cannot be told now, liveness
    alone decides, as it always did."""
    if not alive(pid):
        return False
    if not recorded:
        return True
    current = identity(pid)
    if current is not None and _kind(current) != _kind(recorded):
        return True   # recorded where /proc could be read, asked where it cannot: unknown
    return current is None or current == recorded


def same_boot(recorded):
    """False when ``recorded`` (an identity) was taken before the host last booted."""
    if not recorded:
        return True
    current = identity(os.getpid())
    if current is not None and _kind(current) != _kind(recorded):
        return True
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
