"""The simulated host kernel's checkpoint code (``sys/kern/kern_checkpoint.c``, ``kern_sig.c``).

* :func:`signal_checkpoint` — ``checkpoint_signal_handler()``: what SIGCKPT's default action
  (``SA_CKPT``, ``kern_sig.c``) and ``sys_checkpoint(CKPT_FREEZE, -1, -1, -1)`` do: expand
  ``kern.ckptfile`` with p_comm/uid/pid relative to the cwd, log ``pid N (comm), uid U:
  checkpointing to PATH``, unlink, create ``O_WRONLY|O_CREAT|O_TRUNC|O_NOFOLLOW`` mode 0600
  (failure: kprintf ``checkpoint failed with open - error: N``), then ``ckpt_freeze_proc``:
  RLIMIT_CORE 0 → ERANGE (the empty file stays), header + segments ≥ limit → EFAULT.
* :func:`syscall_checkpoint` — ``sys_sys_checkpoint``: first ``groupmember(kern.ckptgroup)``
  with no privilege bypass → EPERM. The signal path has no group check (kern_sig.c calls
  checkpoint_signal_handler directly).
* :func:`thaw_files` — ``ckpt_fhtovp`` for every NT_DRAGONFLY_FILES / _MAPS handle: a file
  that no longer exists (or is another file now) → ESTALE (``ffs_fhtovp``/``ufs_fhtovp``).

The layout follows the host kernel (``host_kernel``): ``gsoc`` or ``stock`` (ckptfile.py).
Host kprintf/log lines go to ``ROOT/var/log/messages``, never to a console.

File handles: the simulated VFS keeps ``state/fhandles.json`` (handle → path), the part of a
real filesystem that finds an inode by number; a handle is (st_dev, st_ino, generation), the
generation from ``FS_IOC_GETVERSION`` where the Linux filesystem has one, else 0.
"""
import fcntl
import json
import os
import resource
import struct

from . import ckptfile, dferrno as errno

FS_IOC_GETVERSION = 0x80087601


def identity(fd_or_path):
    """(dev, ino, gen) of an open fd or a path."""
    st = os.fstat(fd_or_path) if isinstance(fd_or_path, int) else os.stat(fd_or_path)
    gen = 0
    try:
        fd = fd_or_path if isinstance(fd_or_path, int) else os.open(fd_or_path, os.O_RDONLY)
        try:
            buf = bytearray(8)
            fcntl.ioctl(fd, FS_IOC_GETVERSION, buf)
            gen = struct.unpack("<q", bytes(buf))[0] & 0x7fffffff
        finally:
            if not isinstance(fd_or_path, int):
                os.close(fd)
    except OSError:
        gen = 0
    return st.st_dev, st.st_ino, gen


def handle_key(handle):
    h = ckptfile.parse_fhandle(handle)
    return f"{h['fsid'][0]}:{h['ino']}:{h['gen']}"


def make_handle(host, fd_or_path, path):
    """VFS_VPTOFH: the handle, remembered by the simulated VFS with its path."""
    dev, ino, gen = identity(fd_or_path)
    handle = ckptfile.fhandle(dev, ino, gen)
    with host._locked():
        reg = _registry(host)
        st = os.fstat(fd_or_path) if isinstance(fd_or_path, int) else os.stat(fd_or_path)
        reg[handle_key(handle)] = {"path": os.path.abspath(path) if path else None,
                                   "dev": dev, "ino": ino, "gen": gen,
                                   "stamp": [st.st_size, st.st_mtime_ns]}
        tmp = host.state_dir / "fhandles.json.tmp"
        tmp.write_text(json.dumps(reg))
        os.replace(tmp, host.state_dir / "fhandles.json")
    return handle


def _registry(host):
    try:
        return json.loads((host.state_dir / "fhandles.json").read_text())
    except (OSError, ValueError):
        return {}


def fhtovp(host, handle):
    """The path a handle names now, or raise ThawError(ESTALE)."""
    entry = _registry(host).get(handle_key(handle))
    if not entry or not entry.get("path"):
        raise ckptfile.ThawError(errno.ESTALE)
    try:
        dev, ino, gen = identity(entry["path"])
    except OSError:
        raise ckptfile.ThawError(errno.ESTALE)
    if (dev, ino, gen) != (entry["dev"], entry["ino"], entry["gen"]):
        raise ckptfile.ThawError(errno.ESTALE)
    return entry["path"]


def changed(host, handle):
    """True when the file a handle names was written since the handle was made (size or
    mtime differ): the simulator's stand-in for "its contents are not what they were"."""
    entry = _registry(host).get(handle_key(handle)) or {}
    try:
        st = os.stat(entry["path"])
    except (OSError, KeyError, TypeError):
        return True
    return [st.st_size, st.st_mtime_ns] != entry.get("stamp")


def in_ckptgroup(host):
    group = int(sysctls(host).get("kern.ckptgroup", 0))
    return group < 0 or group in set(os.getgroups()) | {os.getegid()}


def sysctls(host):
    values = dict(host.load_state().get("sysctl", {}))
    if host.fault("vkernel-disabled") is not None:
        values["vm.vkernel_enable"] = 0
    return values


def layout(host):
    return "stock" if host.host_kernel() == "stock" else "gsoc"


def signal_checkpoint(host, comm, build, cwd=None):
    """checkpoint_signal_handler(): returns (errno or 0, path). ``build(layout)`` returns the
    keyword arguments of ``ckptfile.write_core`` for this process (tids, files, maps, segments)
    as the host kernel of ``layout`` would collect them."""
    comm = comm[:16]
    template = str(sysctls(host).get("kern.ckptfile") or "%N.ckpt")
    name, warnings = ckptfile.expand_name(template, comm, os.getpid(), os.getuid())
    for w in warnings:
        host.log_message(w)
    path = os.path.join(cwd or os.getcwd(), name)
    host.log_message(f"pid {os.getpid()} ({comm}), uid {os.getuid()}: checkpointing to {name}")
    try:
        os.unlink(path)
    except OSError:
        pass
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        code = errno.from_linux(exc.errno)
        host.log_message(f"checkpoint failed with open - error: {code}")
        return code, path
    try:
        limit = resource.getrlimit(resource.RLIMIT_CORE)[0]
        if limit == 0 or host.fault("ckpt-rlimit-core") is not None:
            return errno.ERANGE, path
        kind = layout(host)
        kw = build(kind)
        fail_after = kw.pop("fail_after", None)
        need = sum(s.size for s in kw.get("segments", ())) + 2 * ckptfile.PAGE
        if limit != resource.RLIM_INFINITY and need >= limit:
            return errno.EFAULT, path
        try:
            ckptfile.write_core(fd, kind, comm=comm, fail_after=fail_after, **kw)
        except OSError as exc:
            return errno.from_linux(exc.errno or errno.EIO), path
        return 0, path
    finally:
        os.close(fd)


def syscall_checkpoint(host, comm, build, cwd=None):
    """sys_checkpoint(CKPT_FREEZE, -1, -1, -1)."""
    if not in_ckptgroup(host):
        return errno.EPERM, None
    return signal_checkpoint(host, comm, build, cwd)


def open_fds(host, lo=3, hi=256):
    """FileRefs of this process's regular-file/directory descriptors >= 3 (elf_putfiles)."""
    import stat
    refs = []
    for fd in range(lo, hi):
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            continue
        try:
            path = os.readlink(f"{host.proc_dir()}/self/fd/{fd}")
        except OSError:
            path = None
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        acc = flags & os.O_ACCMODE
        fflag = {os.O_RDONLY: ckptfile.FREAD, os.O_WRONLY: ckptfile.FWRITE}.get(
            acc, ckptfile.FREAD | ckptfile.FWRITE)
        try:
            offset = os.lseek(fd, 0, os.SEEK_CUR)
        except OSError:
            offset = 0
        refs.append(ckptfile.FileRef(fd, fflag, offset, make_handle(host, fd, path)))
    return refs
