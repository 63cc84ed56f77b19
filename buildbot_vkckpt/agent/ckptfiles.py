"""The files a vkernel checkpoint refers to, and proof that they stayed unchanged.

A vkernel checkpoint file does not hold guest RAM: the memory image (``-i``), every disk image
(``-r``), the pidfile (``-p``) and the kernel binary are referenced by file handle and reopened
by the thaw (reference/dragonfly.md §23). ``checkpoint`` records them (dev, inode, size, mtime)
once the vkernel has exited; ``restore`` checks them first and, when a thaw fails, names the
one that changed. The agent itself never touches them in between (the pidfile is kept: the
handler's ``exit(0)`` skips cleanpid(), and the thaw needs it).

It also holds the §23 size rules: the checkpoint file holds only the vkernel's NORMAL segments
(a few MB whatever ``-m`` is), so RLIMIT_CORE bounds only those, and the free space a checkpoint
needs is what the ``msync`` of the memory image may still allocate, plus that file.
"""
import json
import os

RECORD = "ckpt-files.json"
# the checkpoint file's own size before one was seen: the NORMAL segments of a vkernel
NORMAL_ESTIMATE = 16 << 20


def option_values(argv, flag):
    return [argv[i + 1] for i, word in enumerate(argv[:-1]) if word == flag]


def referenced_paths(argv):
    """[(role, path)] of the files a thaw of this vkernel reopens by handle."""
    out = []
    if argv:
        out.append(("kernel binary", argv[0]))
    for path in option_values(argv, "-i")[-1:]:
        out.append(("memory image", path))
    for n, path in enumerate(option_values(argv, "-r")):
        out.append((f"disk image vkd{n}", path.split(":")[0]))
    for path in option_values(argv, "-p")[-1:]:
        out.append(("pidfile", path))
    return out


def stat_of(path):
    try:
        st = os.stat(path)
    except OSError as exc:
        return {"path": path, "missing": exc.strerror or str(exc)}
    return {"path": path, "dev": st.st_dev, "ino": st.st_ino, "size": st.st_size,
            "mtime_ns": st.st_mtime_ns}


def snapshot(argv):
    return [dict(stat_of(os.path.abspath(path)), role=role)
            for role, path in referenced_paths(argv)]


def record(session, argv, ckpt_path):
    """Write the record next to the checkpoint; returns it."""
    data = {"checkpoint": ckpt_path, "files": snapshot(argv)}
    tmp = session.file(RECORD + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, sort_keys=True)
    os.replace(tmp, session.file(RECORD))
    return data


def load(session):
    try:
        with open(session.file(RECORD), encoding="utf-8") as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def describe_change(old, new):
    role, path = old.get("role"), old.get("path")
    if "missing" in new and "missing" not in old:
        return f"{role} {path} is gone ({new['missing']})"
    if "missing" in old and "missing" not in new:
        return f"{role} {path} appeared after the checkpoint"
    if "missing" in old:
        return None
    if (old["dev"], old["ino"]) != (new["dev"], new["ino"]):
        return f"{role} {path} was replaced (inode {old['ino']} → {new['ino']})"
    if old["size"] != new["size"]:
        return f"{role} {path} changed size ({old['size']} → {new['size']} bytes)"
    if old["mtime_ns"] != new["mtime_ns"]:
        return f"{role} {path} was modified after the checkpoint"
    return None


def changes(session, ckpt_path=None):
    """What changed since ``checkpoint`` recorded the files ([] when nothing, None when no
    record exists for ``ckpt_path``)."""
    data = load(session)
    if data is None or (ckpt_path and os.path.abspath(data.get("checkpoint") or "")
                        != os.path.abspath(ckpt_path)):
        return None
    out = []
    for old in data.get("files") or []:
        change = describe_change(old, stat_of(old["path"]))
        if change:
            out.append(change)
    return out


def allocated(path):
    """(size, bytes already allocated) of a file; (None, None) when it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None, None
    blocks = getattr(st, "st_blocks", None)
    return st.st_size, (blocks * 512 if blocks is not None else st.st_size)


def space_needed(memimg, ckpt_estimate=None):
    """Free bytes a checkpoint needs: the memory image's not yet allocated part (the handler
    msyncs guest RAM into it) plus the checkpoint file (its NORMAL segments)."""
    size, used = allocated(memimg) if memimg else (None, None)
    flush = max(0, size - used) if size is not None else 0
    return flush + (ckpt_estimate or NORMAL_ESTIMATE), flush


def file_estimate(ckpt_path):
    """The size of the previous checkpoint file, the best estimate of the next one."""
    try:
        return os.path.getsize(ckpt_path) or None
    except OSError:
        return None
