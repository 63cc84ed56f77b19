"""Receiving DragonFly's SIGCKPT (33) in a simulated process on Linux.

glibc reserves signal 33 for itself (SIGSETXID) and refuses ``sigaction`` for it, so Python's
``signal.signal(33, ...)`` cannot catch it. The simulator blocks 33 (and 34 when asked) with the
raw ``rt_sigprocmask`` system call and reads them from a ``signalfd``, which an event loop can
poll like any other fd. Linux x86_64 only; elsewhere :func:`open_signalfd` returns None.
"""
import ctypes
import os
import struct

SIGCKPT, SIGCKPTEXIT = 33, 34
_SYS_RT_SIGPROCMASK, _SYS_SIGNALFD4 = 14, 289
_SIG_BLOCK, _SIG_UNBLOCK = 0, 1
_SFD_NONBLOCK, _SFD_CLOEXEC = 0o4000, 0o2000000


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _mask(signals):
    m = 0
    for s in signals:
        m |= 1 << (s - 1)
    return ctypes.c_uint64(m)


def open_signalfd(signals=(SIGCKPT,)):
    """Block ``signals`` and return a non-blocking signalfd delivering them (or None)."""
    if os.uname().machine != "x86_64" or not hasattr(os, "uname"):
        return None
    libc = _libc()
    mask = _mask(signals)
    if libc.syscall(_SYS_RT_SIGPROCMASK, _SIG_BLOCK, ctypes.byref(mask), None, 8) != 0:
        return None
    fd = libc.syscall(_SYS_SIGNALFD4, -1, ctypes.byref(mask), 8, _SFD_NONBLOCK | _SFD_CLOEXEC)
    return fd if fd >= 0 else None


def unblock(signals=(SIGCKPT,)):
    """Undo the block (before exec, or to die by the signal's default action)."""
    if os.uname().machine != "x86_64":
        return
    mask = _mask(signals)
    _libc().syscall(_SYS_RT_SIGPROCMASK, _SIG_UNBLOCK, ctypes.byref(mask), None, 8)


def read_signals(fd):
    """The signal numbers waiting on the signalfd."""
    out = []
    while True:
        try:
            data = os.read(fd, 128)
        except (BlockingIOError, InterruptedError):
            return out
        except OSError:
            return out
        if len(data) < 128:
            return out
        out.append(struct.unpack_from("<I", data)[0])
