"""DragonFly's errno numbers and strerror() texts (sys/sys/errno.h, lib/libc/gen/errlst.c)
for the errors the simulated host reports. Linux numbers the same errors differently from 35
on (ESTALE is 116 on Linux, 70 on DragonFly) and words some differently (ERANGE)."""
import errno as _linux

EPERM, ENOENT, ESRCH, EIO, EBADF, ENOMEM, EACCES, EFAULT = 1, 2, 3, 5, 9, 12, 13, 14
EEXIST, EINVAL, ENOSPC, ERANGE, EAGAIN, EOPNOTSUPP, ESTALE = 17, 22, 28, 34, 35, 45, 70

STRERROR = {
    EPERM: "Operation not permitted", ENOENT: "No such file or directory",
    ESRCH: "No such process", EIO: "Input/output error", EBADF: "Bad file descriptor",
    ENOMEM: "Cannot allocate memory", EACCES: "Permission denied", EFAULT: "Bad address",
    EEXIST: "File exists", EINVAL: "Invalid argument", ENOSPC: "No space left on device",
    ERANGE: "Result too large", EAGAIN: "Resource temporarily unavailable",
    EOPNOTSUPP: "Operation not supported", ESTALE: "Stale NFS file handle",
}
FROM_LINUX = {_linux.ESTALE: ESTALE, _linux.EAGAIN: EAGAIN, _linux.EOPNOTSUPP: EOPNOTSUPP}


def from_linux(code):
    """The DragonFly number of a Linux errno (the same below 35 for those used here)."""
    return FROM_LINUX.get(code, code)


def strerror(code):
    """strerror() of a DragonFly errno."""
    return STRERROR.get(code, f"Unknown error: {code}")
