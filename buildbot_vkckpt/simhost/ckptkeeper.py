"""Guest processes frozen inside a checkpoint file, until ``checkpt -r`` takes them back.

The simulated guest's processes are real host processes (``guestshell``), which no file can
hold. When the simulated vkernel checkpoints, it stops them (SIGSTOP) and forks a keeper that
holds the guest console pty's master, so they survive the vkernel's exit as they would survive
inside the file's memory image. A restore connects to the keeper's abstract unix socket (its
name is in the file's state) and receives the pty master; the keeper then exits. The keeper
kills the frozen processes and exits when the checkpoint file is removed or replaced (a new
inode), or after ``KEEP_MAX`` seconds, so an unrestored checkpoint leaks nothing.
"""
import array
import os
import select
import signal
import socket
import time

KEEP_MAX = 900.0
WATCH = 0.1   # how often the keeper looks at the file (simulator only; the agent never polls)


def start(name, master, pids, ckpt_path, keep_fds=()):
    """Fork the keeper; returns its pid. The caller closes its own copy of ``master``."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind("\0" + name)
    sock.listen(1)
    st = os.stat(ckpt_path)
    pid = os.fork()
    if pid:
        sock.close()
        return pid
    code = 0
    try:
        os.setsid()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        low, high = sorted((master, sock.fileno()))  # either may have the lower number
        os.closerange(3, low)
        os.closerange(low + 1, high)
        os.closerange(high + 1, 1 << 16)
        code = _serve(sock, master, pids, ckpt_path, (st.st_dev, st.st_ino))
    finally:
        os._exit(code)


def _serve(sock, master, pids, ckpt_path, ident):
    deadline = time.monotonic() + KEEP_MAX
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], WATCH)
        if ready:
            conn, _ = sock.accept()
            conn.sendmsg([b"pty"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                     array.array("i", [master]))])
            conn.close()
            return 0
        try:
            st = os.stat(ckpt_path)
            if (st.st_dev, st.st_ino) != ident:
                break
        except OSError:
            break
    for pid in pids:   # the checkpoint is gone: so is the guest it held
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return 0


def take(name, timeout=5.0):
    """The guest console's pty master from keeper ``name``; OSError when there is none."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect("\0" + name)
        _, fds, _, _ = socket.recv_fds(sock, 16, 1)
    finally:
        sock.close()
    if not fds:
        raise OSError(3, "No such process")
    return fds[0]
