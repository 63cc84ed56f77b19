"""Where the kernel writes a checkpoint: ``kern.ckptfile`` expanded for one process."""
import os

COMM_MAX = 16   # p_comm holds MAXCOMLEN (16) characters


def p_comm(path):
    """p_comm of a process running ``path``: the name of the file actually executed, symlinks
    resolved, cut to MAXCOMLEN (kern_exec.c)."""
    return os.path.basename(os.path.realpath(path))[:COMM_MAX]


def expand(template, comm, pid, uid):
    """``kern.ckptfile`` escapes: %N %P %U %%; unknown ones are dropped (and logged by the
    kernel)."""
    out, i = [], 0
    while i < len(template):
        c = template[i]
        if c == "%" and i + 1 < len(template):
            out.append({"N": comm, "P": str(pid), "U": str(uid), "%": "%"}.get(template[i + 1],
                                                                             ""))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)
