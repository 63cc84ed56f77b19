"""p_comm for simulated processes: Linux's comm (``/proc/self/comm``, 15 characters), which the
simulated ``ps`` reports as DragonFly's p_comm (the executed file's name, 16 characters)."""

PR_SET_NAME = 15


def set_comm(name):
    # a process may write its own comm; prctl(2) through ctypes (a few ms of imports in every
    # simulated command) only where /proc is hidden
    try:
        with open("/proc/self/comm", "wb") as fh:
            fh.write(name.encode()[:15])
        return
    except OSError:
        pass
    try:
        import ctypes
        ctypes.CDLL(None).prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)
    except (OSError, AttributeError):
        pass
