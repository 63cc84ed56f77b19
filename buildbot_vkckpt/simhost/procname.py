"""p_comm for simulated processes: Linux's comm (``/proc/self/comm``, 15 characters), which the
simulated ``ps`` reports as DragonFly's p_comm (the executed file's name, 16 characters)."""
import ctypes

PR_SET_NAME = 15


def set_comm(name):
    try:
        ctypes.CDLL(None).prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)
    except (OSError, AttributeError):
        pass
