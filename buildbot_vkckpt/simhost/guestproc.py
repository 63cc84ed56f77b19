"""The simulated vkernel's guest sees a /proc even when the agent runs without one.

A harness that hides /proc from the agent (as DragonFly has none) bind-mounts the real one at
``ROOT/hostproc`` first. The simulated guest is made of Linux processes and programs that need
Linux's /proc to stand in for the guest kernel (the suite's fork emulation waits on
``/proc/PID``, ``vmstat`` reads ``/proc/meminfo``): on a real host those are inside the guest,
whose kernel has its own view. So the simulated vkernel leaves the agent's mount namespace for
one of its own where /proc is the real one again.
"""
import ctypes
import os
import subprocess

CLONE_NEWNS = 0x00020000


def give_back_proc(hostproc):
    """Remount the real /proc for this process and its children; False when not needed or
    not possible (then the guest runs with what it has)."""
    if os.path.exists("/proc/self") or not os.path.ismount(hostproc):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        return False
    mount = "/bin/mount" if os.access("/bin/mount", os.X_OK) else "/usr/bin/mount"
    done = subprocess.run([mount, "--bind", str(hostproc), "/proc"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return done.returncode == 0
