"""The guest dies with its vkernel, however the vkernel dies.

On DragonFly a guest process is a vmspace of the vkernel process: when the vkernel is killed,
even with SIGKILL, nothing of its guest survives (``sys/platform/vkernel64``: guest vmspaces
live in the vkernel's own address space). The simulator's guest processes are real processes of
this machine in the login shell's session, so a watcher stands in for that: a small process that
holds the read end of a pipe whose write end only the simulated vkernel holds. When the vkernel
exits in any way, the pipe reaches EOF and the watcher SIGKILLs every process of the guest's
session. A checkpoint hands the guest to the keeper (ckptkeeper) and stands the watcher down
first: there the guest must outlive the vkernel, frozen in the checkpoint.
"""
import os
import signal

from .host import proc_dir

STAND_DOWN = b"s"


def session_pids(sid):
    """Every process in session ``sid`` (the login shell's session on ttyv0)."""
    pids = []
    for name in os.listdir(proc_dir()):
        if name.isdigit():
            try:
                if os.getsid(int(name)) == sid:
                    pids.append(int(name))
            except OSError:
                continue
    return pids


def watch(sid):
    """Fork the watcher for guest session ``sid``; returns the write end the vkernel keeps."""
    r, w = os.pipe()           # non-inheritable: a guest program's exec closes both ends
    pid = os.fork()
    if pid:
        os.close(r)
        return w
    try:
        os.setsid()            # not in the vkernel's session or group: its signals miss us
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        # hold nothing of the vkernel's: its console pty, the guest's pty, sockets
        os.closerange(3, r)
        os.closerange(r + 1, 65536)
        while True:
            data = os.read(r, 1)
            if data == STAND_DOWN:
                os._exit(0)
            if not data:
                break
        for _ in range(3):     # a process may fork while we kill: look again
            pids = [p for p in session_pids(sid) if p != os.getpid()]
            if not pids:
                break
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
    finally:
        os._exit(0)


def stand_down(w):
    """The guest goes to a checkpoint keeper: let the vkernel exit without killing it."""
    if w is None:
        return
    try:
        os.write(w, STAND_DOWN)
        os.close(w)
    except OSError:
        pass

