"""Errors that are the host's fault, each with its one-line fix: the supervisor's tables.

``HOST_PROBLEMS``: vkernel start errors, the vkernel's own messages (reference/dragonfly.md §2,
§3, §7); anything not listed there that stops a vkernel is the kernel under test's fault.
``CKPT_HOST_ERRORS``: the strerror of a checkpoint write that failed because of the host.
"""
import re

# a checkpoint needs room under RLIMIT_CORE (reference §14, §17)
CORE_LIMIT_FIX = "raise the core size limit (ulimit -c unlimited, login.conf coredumpsize)"
# kern_checkpoint.c: groupmember(ckptgroup, cred), no privilege bypass (reference §23)
CKPTGROUP_FIX = ("let the agent's user checkpoint: sysctl kern.ckptgroup=-1, or add the user "
                 "to the group kern.ckptgroup names (root is not exempt)")

HOST_PROBLEMS = (
    (re.compile(r"vm\.vkernel_enable is 0"),
     "vm.vkernel_enable is 0: the host does not allow vkernels",
     "run `sysctl vm.vkernel_enable=1` on the host (and add vm.vkernel_enable=1 to "
     "/etc/sysctl.conf)"),
    (re.compile(r"Disk image (\S+) is already in use"),
     "disk image {0} is already in use by another vkernel",
     "stop the vkernel using it, or run `vkckpt-agent cleanup --stale --root <sessions dir>`"),
    (re.compile(r"Failed to lock pidfile"),
     "vkernel pidfile is locked: another vkernel runs in this session",
     "run `vkckpt-agent shutdown --session <dir>` or `cleanup --stale` before booting again"),
    (re.compile(r"Must run (\S+) with full path"),
     "the vkernel was not started by its full path",
     "pass --kernel as an absolute path"),
    (re.compile(r"Bad maxmem"),
     "bad vkernel memory size",
     "use --memory of at least 64m, in multiples of 2m"),
    (re.compile(r"Cannot create new memory file"),
     "the vkernel cannot create its memory file",
     "pass --memory, and make sure the session dir (-i memimg there) is writable"),
    (re.compile(r"is not a tap\(4\) device or socket|Invalid argument to '-I'"),
     "the network interface given to the vkernel is unusable",
     "pass --net auto:bridge0 after `kldload if_tap if_bridge`, or a vknetd socket path"),
    (re.compile(r"illegal option -- (\S)"),
     "the vkernel rejected option -{0}: this binary does not have it",
     "report it: the agent reads the options from the binary and must not pass one it lacks"),
    (re.compile(r"Bad ncpus"),
     "bad vkernel cpu count",
     "use --cpus between 1 and 16"),
)


def host_problem(message):
    """``(summary, fix)`` when ``message`` is a host-side vkernel start error, else None."""
    text = message or ""
    for pattern, summary, fix in HOST_PROBLEMS:
        m = pattern.search(text)
        if m:
            return summary.format(*m.groups()), fix
    return None


# strerror texts of a failed checkpoint write that an admin fixes (DragonFly's, then Linux's)
CKPT_HOST_ERRORS = {
    "No space left on device": (
        "the checkpoint file did not fit: No space left on device",
        "free disk space where kern.ckptfile points (the session dir), or move the session dir"),
    "Result too large": (
        "RLIMIT_CORE of the vkernel is 0, checkpoint files cannot be written (ERANGE)",
        CORE_LIMIT_FIX),
    # kern.ckptgroup applies to root too (reference §23): the kernel refuses with EPERM
    "Operation not permitted": (
        "the host refused the checkpoint (EPERM): the vkernel's user is not in "
        "kern.ckptgroup", "sysctl kern.ckptgroup=-1, or the group of the agent's user "
        "(root is not exempt)"),
    # a file larger than the soft RLIMIT_CORE (FreeBSD-derived core writer; not observed)
    "Bad address": (
        "the checkpoint file did not fit under the vkernel's core size limit (EFAULT)",
        CORE_LIMIT_FIX),
    "Numerical result out of range": (
        "RLIMIT_CORE of the vkernel is 0, checkpoint files cannot be written (ERANGE)",
        CORE_LIMIT_FIX),
}

# thaw failed with EPERM: a permission, not the kernel (reference §14)
THAW_EPERM_FIX = ("let the agent's user checkpoint: sysctl kern.ckptgroup=-1, or run the agent "
                  "in group wheel")
# checkpt exited 1: usage, or "unable to open <file>" (reference §16)
CHECKPT_EXIT1_FIX = "check that the checkpoint file exists and is readable by the agent"
