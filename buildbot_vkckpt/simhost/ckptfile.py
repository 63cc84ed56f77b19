"""Checkpoint files as the DragonFly host kernel writes them: ELF64 cores, x86_64 layouts.

Two layouts, by the host kernel (``host_kernel`` in the host state):

``gsoc`` — ``pdziepak/DragonFlyBSD`` ``vkernel_chkpt``, ``sys/kern/imgact_elf.c``
(``generic_elf_coredump``, ``elf_putallnotes``, ``elf_putfiles``, ``cb_put_fp``) and
``sys/sys/ckpt.h``, ``sys/sys/procfs.h``:

* ``Elf64_Ehdr``; ``PT_NOTE`` then one ``PT_LOAD`` per ``VM_MAPTYPE_NORMAL`` writable,
  non-``MAP_NOCORE`` mapping (``cb_size_segment``, ``cb_put_phdr``); segment data from the first
  page boundary after the notes.
* notes: ``CORE``/``NT_PRPSINFO`` (prpsinfo_t version 2, 3408 bytes), ``DragonFly``/
  ``NT_DRAGONFLY_FILES`` (only when a file is saved: bare array of ``struct ckpt_fileinfo``,
  56 bytes, a kqueue's ``struct kevent`` s (32 bytes each) right after its entry),
  ``DragonFly``/``NT_DRAGONFLY_MAPS`` (bare array of ``struct vn_hdr``, 120 bytes, one per
  vnode-backed mapping, NORMAL or VPAGETABLE), then per thread ``CORE``/``NT_PRSTATUS``
  (prstatus_t version 2, 288 bytes), ``CORE``/``NT_FPREGSET`` (512), ``DragonFly``/
  ``NT_DRAGONFLY_TLS`` (struct savetls, 32).

``stock`` — DragonFly master (the branch's merge base 4b5e043da2 and 2020 alike):
notes ``NT_PRPSINFO`` (version 1, 120 bytes), per thread ``NT_PRSTATUS`` (version 1, 248) and
``NT_FPREGSET``; then, inside the header area but after the notes: ``struct ckpt_vminfo`` (96),
an int vnode count and ``struct vn_hdr`` [] (120 each), ``struct ckpt_siginfo`` (3296),
``struct ckpt_filehdr`` (40; ``cfh_magic`` 0) and ``struct ckpt_fileinfo`` [] (80 each).
VPAGETABLE mappings are neither dumped nor referenced (``each_segment``).

``fhandle_t`` (28 bytes): ``fsid_t`` (2 x int32) then ``struct fid`` overlaid by UFS's
``struct ufid`` (``ffs_vptofh``): ``ufid_len`` u16 = 24 at +8, pad u16 at +10, 4 bytes of
alignment, ``ufid_ino`` u64 at +16, ``ufid_gen`` i32 at +24.
"""
import os
import struct

NT_PRSTATUS, NT_FPREGSET, NT_PRPSINFO = 1, 2, 3
NT_DRAGONFLY_TLS, NT_DRAGONFLY_FILES, NT_DRAGONFLY_MAPS = 0x1000, 0x1001, 0x1002
NOTE_NAMES = {NT_PRSTATUS: "NT_PRSTATUS", NT_FPREGSET: "NT_FPREGSET",
              NT_PRPSINFO: "NT_PRPSINFO", NT_DRAGONFLY_TLS: "NT_DRAGONFLY_TLS",
              NT_DRAGONFLY_FILES: "NT_DRAGONFLY_FILES", NT_DRAGONFLY_MAPS: "NT_DRAGONFLY_MAPS"}
CKPT_MAXTHREADS = 256
SIGCKPT = 33

# x86_64 sizes
FHANDLE_SIZE = 28
UFID_LEN = 24
PHDR_SIZE = 56
GREGSET_SIZE = 200         # struct reg: 25 x register_t
FPREGSET_SIZE = 512        # struct fpreg
TLS_SIZE = 32              # struct savetls: 2 x tls_info {base, size}
SIGACTS_SIZE = 3208        # 128 sig_t, 128 sigset_t, 8 sigset_t, u_int, int
KEVENT_SIZE = 32
GSOC_PRPSINFO_SIZE = 3408  # version 2
GSOC_PRSTATUS_SIZE = 288   # version 2 (+ pr_sigmask, pr_sigstk)
GSOC_FILEINFO_SIZE = 56
GSOC_VNHDR_SIZE = 120
STOCK_PRPSINFO_SIZE = 120  # version 1
STOCK_PRSTATUS_SIZE = 248  # version 1
STOCK_VMINFO_SIZE = 96
STOCK_VNHDR_SIZE = 120
STOCK_SIGINFO_SIZE = 3296
STOCK_FILEHDR_SIZE = 40
STOCK_FILEINFO_SIZE = 80
PRSTATUS_SIZE = GSOC_PRSTATUS_SIZE

DTYPE_VNODE, DTYPE_KQUEUE = 1, 5
VM_MAPTYPE_NORMAL, VM_MAPTYPE_VPAGETABLE = 1, 2
MAP_ENTRY_NOSYNC, MAP_ENTRY_STACK, MAP_ENTRY_COW = 0x1, 0x2, 0x4
MAP_ENTRY_NEEDS_COPY, MAP_ENTRY_NOCOREDUMP = 0x8, 0x400
O_RDONLY_FLAGS, FREAD, FWRITE = 0, 1, 2
PT_LOAD, PT_NOTE = 1, 4
PF_X, PF_W, PF_R = 1, 2, 4
ET_CORE, EM_X86_64 = 4, 62
PAGE = 4096


class CkptWriteError(OSError):
    """Writing the file failed; ``errno`` says why (ENOSPC, ...)."""


# --- building blocks ---------------------------------------------------------------------------
def fhandle(fsid, ino, gen):
    """fhandle_t for a UFS file: fsid (2 x int32), struct ufid over struct fid."""
    return struct.pack("<iiHH4xQi", fsid & 0x7fffffff, 0, UFID_LEN, 0, ino, gen)


def parse_fhandle(data):
    fsid0, fsid1, length, _, ino, gen = struct.unpack("<iiHH4xQi", data[:FHANDLE_SIZE])
    return {"fsid": (fsid0, fsid1), "len": length, "ino": ino, "gen": gen}


def phdr(ptype, flags, offset, vaddr, filesz, memsz, align):
    return struct.pack("<IIQQQQQQ", ptype, flags, offset, vaddr, 0, filesz, memsz, align)


def note(owner, ntype, desc):
    name = owner.encode() + b"\0"
    return struct.pack("<III", len(name), len(desc), ntype) + _pad4(name) + _pad4(desc)


def _pad4(data):
    return data + b"\0" * (-len(data) % 4)


def round_page(n):
    return (n + PAGE - 1) // PAGE * PAGE


def gsoc_prpsinfo(comm, nthreads, nfiles, nmaps, daddr=0, taddr=0, dsize=0, tsize=0):
    """prpsinfo_t v2: pr_psargs is p_comm too ("XXX ... not yet")."""
    fname = comm.encode()[:16].ljust(17, b"\0")
    psargs = comm.encode()[:80].ljust(81, b"\0")
    head = struct.pack("<i4xQ", 2, GSOC_PRPSINFO_SIZE) + fname + psargs + b"\0\0"
    head += struct.pack("<iii", nthreads, nfiles, nmaps)          # +116
    assert len(head) == 128
    body = bytes(SIGACTS_SIZE) + bytes(32)                         # sigacts, itimerval
    tail = struct.pack("<i4xqqQQ", 0, dsize, tsize, daddr, taddr)  # +3368
    out = head + body + tail
    assert len(out) == GSOC_PRPSINFO_SIZE
    return out


def gsoc_prstatus(tid, sig=SIGCKPT, osreldate=300500):
    out = (struct.pack("<i4xQQQiii4x", 2, GSOC_PRSTATUS_SIZE, GREGSET_SIZE, FPREGSET_SIZE,
                       osreldate, sig, tid) + bytes(GREGSET_SIZE) + bytes(16)
           + struct.pack("<QQi4x", 0, 0, 0))
    assert len(out) == GSOC_PRSTATUS_SIZE
    return out


def stock_prpsinfo(comm):
    out = (struct.pack("<i4xQ", 1, STOCK_PRPSINFO_SIZE) + comm.encode()[:16].ljust(17, b"\0")
           + comm.encode()[:80].ljust(81, b"\0")).ljust(STOCK_PRPSINFO_SIZE, b"\0")
    return out


def stock_prstatus(tid, sig=SIGCKPT, osreldate=500900):
    return (struct.pack("<i4xQQQiii4x", 1, STOCK_PRSTATUS_SIZE, GREGSET_SIZE, FPREGSET_SIZE,
                        osreldate, sig, tid) + bytes(GREGSET_SIZE))


def gsoc_fileinfo(index, flags, offset, ftype=DTYPE_VNODE, ckflags=0, handle=None, nevents=0):
    data = handle if ftype == DTYPE_VNODE else struct.pack("<i", nevents).ljust(FHANDLE_SIZE,
                                                                                b"\0")
    out = struct.pack("<iIqii", index, flags, offset, ftype, ckflags) + data + bytes(4)
    assert len(out) == GSOC_FILEINFO_SIZE
    return out


def kevent(ident, filt, flags, fflags=0, data=0, udata=0):
    return struct.pack("<QhHIqQ", ident, filt, flags, fflags, data, udata)


def gsoc_vnhdr(handle, ph, maptype, eflags, master_pde=0):
    out = handle + bytes(4) + ph + struct.pack("<iiQ16x", maptype, eflags, master_pde)
    assert len(out) == GSOC_VNHDR_SIZE
    return out


def stock_vnhdr(handle, ph):
    return handle + bytes(4) + ph + bytes(32)


def stock_fileinfo(index, flags, offset, handle, ckflags=0):
    return struct.pack("<iIq", index, flags, offset) + handle + struct.pack(
        "<ii24x", DTYPE_VNODE, ckflags) + bytes(4)


# --- the writer ----------------------------------------------------------------------------------
class Segment:
    """A NORMAL mapping dumped as PT_LOAD: ``data`` bytes at the start, the rest zeros."""

    def __init__(self, vaddr, size, flags=PF_R | PF_W, data=b""):
        self.vaddr, self.size, self.flags, self.data = vaddr, size, flags, data


class FileRef:
    """An open descriptor >= 3 (``elf_putfiles``): a vnode by handle, or a kqueue."""

    def __init__(self, index, flags, offset=0, handle=None, kevents=()):
        self.index, self.flags, self.offset = index, flags, offset
        self.handle, self.kevents = handle, list(kevents)


class MapRef:
    """A vnode-backed mapping (``cb_put_fp``)."""

    def __init__(self, handle, vaddr, size, offset=0, flags=PF_R, maptype=VM_MAPTYPE_NORMAL,
                 eflags=0, master_pde=0):
        self.handle, self.vaddr, self.size, self.offset = handle, vaddr, size, offset
        self.flags, self.maptype, self.eflags, self.master_pde = flags, maptype, eflags, master_pde

    def phdr(self):
        return phdr(PT_LOAD, self.flags, self.offset, self.vaddr, self.size, self.size, PAGE)


def gsoc_notes(comm, tids, files, maps, sig=SIGCKPT):
    cfi = b""
    for f in files:
        if f.handle is None:   # a kqueue: its kevents follow its entry
            cfi += gsoc_fileinfo(f.index, f.flags, f.offset, DTYPE_KQUEUE,
                                 nevents=len(f.kevents)) + b"".join(f.kevents)
        else:
            cfi += gsoc_fileinfo(f.index, f.flags, f.offset, DTYPE_VNODE, handle=f.handle)
    out = [note("CORE", NT_PRPSINFO, gsoc_prpsinfo(comm, len(tids), len(files), len(maps)))]
    if files:
        out.append(note("DragonFly", NT_DRAGONFLY_FILES, cfi))
    if maps:
        out.append(note("DragonFly", NT_DRAGONFLY_MAPS, b"".join(
            gsoc_vnhdr(m.handle, m.phdr(), m.maptype, m.eflags, m.master_pde) for m in maps)))
    for tid in tids:
        out += [note("CORE", NT_PRSTATUS, gsoc_prstatus(tid, sig)),
                note("CORE", NT_FPREGSET, bytes(FPREGSET_SIZE)),
                note("DragonFly", NT_DRAGONFLY_TLS, bytes(TLS_SIZE))]
    return b"".join(out), b""


def stock_notes(comm, tids, files, maps, sig=SIGCKPT):
    notes = [note("CORE", NT_PRPSINFO, stock_prpsinfo(comm))]
    for tid in tids:
        notes += [note("CORE", NT_PRSTATUS, stock_prstatus(tid, sig)),
                  note("CORE", NT_FPREGSET, bytes(FPREGSET_SIZE))]
    normal = [m for m in maps if m.maptype == VM_MAPTYPE_NORMAL]
    extra = bytes(STOCK_VMINFO_SIZE) + struct.pack("<i", len(normal))
    extra += b"".join(stock_vnhdr(m.handle, m.phdr()) for m in normal)
    extra += struct.pack("<i", STOCK_SIGINFO_SIZE).ljust(STOCK_SIGINFO_SIZE, b"\0")
    vnodes = [f for f in files if f.handle is not None]   # stock saves vnodes only
    extra += struct.pack("<ii32x", 0, len(vnodes))
    extra += b"".join(stock_fileinfo(f.index, f.flags, f.offset, f.handle) for f in vnodes)
    return b"".join(notes), extra


def write_core(path_or_fd, layout, *, comm, tids, files=(), maps=(), segments=(),
               fail_after=None, sig=SIGCKPT):
    """Write a checkpoint; returns its size. ``layout``: ``gsoc`` or ``stock``.
    ``path_or_fd``: an fd the host kernel opened, or a path (created 0600)."""
    build = gsoc_notes if layout == "gsoc" else stock_notes
    notes, extra = build(comm[:16], list(tids), list(files), list(maps), sig)
    phnum = 1 + len(segments)
    note_off = 64 + PHDR_SIZE * phnum
    data_off = round_page(note_off + len(notes) + len(extra))
    phdrs = [phdr(PT_NOTE, 0, note_off, 0, len(notes), 0, 0)]
    offset = data_off
    for seg in segments:
        offset = round_page(offset)
        phdrs.append(phdr(PT_LOAD, seg.flags, offset, seg.vaddr, seg.size, seg.size, PAGE))
        offset += seg.size
    ehdr = (b"\x7fELF" + bytes([2, 1, 1, 0, 0]) + bytes(7)
            + struct.pack("<HHIQQQIHHHHHH", ET_CORE, EM_X86_64, 1, 0, 64, 0, 0, 64, PHDR_SIZE,
                          phnum, 64, 0, 0))
    own = not isinstance(path_or_fd, int)
    fd = (os.open(path_or_fd, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
          if own else path_or_fd)
    w = _Writer(fd, fail_after)
    try:
        w.write(ehdr + b"".join(phdrs) + notes + extra)
        w.zeros(data_off - w.written)
        for seg in segments:
            w.zeros(round_page(w.written) - w.written)
            w.write(seg.data[:seg.size])
            w.zeros(seg.size - min(len(seg.data), seg.size))
    finally:
        if own:
            os.close(fd)
    return offset


class _Writer:
    def __init__(self, fd, fail_after):
        self.fd, self.fail_after, self.written = fd, fail_after, 0

    def _room(self, n):
        if self.fail_after is not None and self.written + n > self.fail_after:
            return max(0, self.fail_after - self.written)
        return None

    def write(self, data):
        room = self._room(len(data))
        if room is not None:
            os.write(self.fd, data[:room])
            raise CkptWriteError(28, os.strerror(28))
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]
        self.written += len(data)

    def zeros(self, size):
        if size <= 0:
            return
        room = self._room(size)
        if room is not None:
            self.zeros(room)
            raise CkptWriteError(28, os.strerror(28))
        os.lseek(self.fd, size, os.SEEK_CUR)   # a hole reads as zeros
        self.written += size
        os.ftruncate(self.fd, self.written)


# --- reading (the thaw side) ---------------------------------------------------------------------
class ThawError(Exception):
    """The thaw fails with this errno (``checkpt``: ``thaw failed error N ...``)."""

    def __init__(self, errno_):
        super().__init__(errno_)
        self.errno = errno_


def read_core(path, layout):
    """Parse and validate a checkpoint as ``ckpt_thaw_proc`` of ``layout``'s kernel does.
    Returns {"comm", "nthreads", "files": [FileRef], "maps": [MapRef], "segments": [(vaddr,
    offset, size, flags)]}; raises ThawError(EINVAL/ERANGE) where the kernel would."""
    from . import dferrno as errno
    with open(path, "rb") as fh:
        data = fh.read(1 << 22)
    if len(data) < 64:
        raise ThawError(errno.EINVAL)
    ident = data[:16]
    ehsize, phentsize, phnum = struct.unpack_from("<HHH", data, 52)
    phoff, = struct.unpack_from("<Q", data, 32)
    if (ehsize != 64 or phentsize != PHDR_SIZE or ident[:4] != b"\x7fELF"
            or ident[4:9] != bytes([2, 1, 1, 0, 0])):
        raise ThawError(errno.EINVAL)
    phdrs = [struct.unpack_from("<IIQQQQQQ", data, phoff + i * PHDR_SIZE) for i in range(phnum)]
    if not phdrs or phoff + phnum * PHDR_SIZE > len(data):
        raise ThawError(errno.EINVAL)
    _, _, noff, _, _, nsz, _, _ = phdrs[0]
    notes = data[noff:noff + nsz]
    if len(notes) != nsz:
        raise ThawError(errno.EINVAL)
    pos = [0]

    def getnote(name, ntype, size=None):
        while True:
            if pos[0] + 12 > len(notes):
                raise ThawError(errno.EINVAL)
            namesz, descsz, t = struct.unpack_from("<III", notes, pos[0])
            pos[0] += 12
            if t == ntype:
                break
            pos[0] += -(-namesz // 4) * 4 + -(-descsz // 4) * 4
        if notes[pos[0]:pos[0] + namesz].rstrip(b"\0") != name.encode():
            raise ThawError(errno.EINVAL)
        pos[0] += -(-namesz // 4) * 4
        desc = notes[pos[0]:pos[0] + descsz]
        if len(desc) != descsz or (size is not None and descsz != size):
            raise ThawError(errno.EINVAL)
        pos[0] += -(-descsz // 4) * 4
        return desc

    out = {"files": [], "maps": [], "segments": [(p[3], p[2], p[5], p[1]) for p in phdrs[1:]]}
    if layout == "gsoc":
        ps = getnote("CORE", NT_PRPSINFO)
        version, size = struct.unpack_from("<i4xQ", ps)
        if len(ps) < GSOC_PRPSINFO_SIZE or version != 2 or size != GSOC_PRPSINFO_SIZE:
            raise ThawError(errno.EINVAL)
        out["comm"] = ps[16:33].split(b"\0")[0].decode(errors="replace")
        nthreads, nfiles, nmaps = struct.unpack_from("<iii", ps, 116)
        if nfiles > 0:
            out["files"] = _gsoc_files(getnote("DragonFly", NT_DRAGONFLY_FILES), nfiles)
        if nmaps > 0:
            raw = getnote("DragonFly", NT_DRAGONFLY_MAPS, nmaps * GSOC_VNHDR_SIZE)
            for i in range(nmaps):
                v = raw[i * GSOC_VNHDR_SIZE:(i + 1) * GSOC_VNHDR_SIZE]
                p = struct.unpack_from("<IIQQQQQQ", v, 32)
                maptype, eflags, pde = struct.unpack_from("<iiQ", v, 88)
                out["maps"].append(MapRef(v[:FHANDLE_SIZE], p[3], p[5], p[2], p[1], maptype,
                                          eflags, pde))
        if not 0 < nthreads <= CKPT_MAXTHREADS:
            raise ThawError(errno.EINVAL)
        for _ in range(nthreads):
            st = getnote("CORE", NT_PRSTATUS)
            v, ssz, gsz, fsz = struct.unpack_from("<i4xQQQ", st)
            if len(st) < GSOC_PRSTATUS_SIZE or (v, ssz, gsz, fsz) != (
                    2, GSOC_PRSTATUS_SIZE, GREGSET_SIZE, FPREGSET_SIZE):
                raise ThawError(errno.EINVAL)
            getnote("CORE", NT_FPREGSET, FPREGSET_SIZE)
            getnote("DragonFly", NT_DRAGONFLY_TLS, TLS_SIZE)
        out["nthreads"] = nthreads
        return out
    ps = getnote("CORE", NT_PRPSINFO)
    version, size = struct.unpack_from("<i4xQ", ps)
    if version != 1 or size != STOCK_PRPSINFO_SIZE:
        raise ThawError(errno.EINVAL)
    out["comm"] = ps[16:33].split(b"\0")[0].decode(errors="replace")
    nthreads = 0
    while pos[0] < len(notes):
        st = getnote("CORE", NT_PRSTATUS)
        v, ssz = struct.unpack_from("<i4xQ", st)
        if (v, ssz) != (1, STOCK_PRSTATUS_SIZE):
            raise ThawError(errno.EINVAL)
        getnote("CORE", NT_FPREGSET, FPREGSET_SIZE)
        nthreads += 1
    if not 0 < nthreads <= CKPT_MAXTHREADS:
        raise ThawError(errno.EINVAL)
    out["nthreads"] = nthreads
    p = noff + nsz + STOCK_VMINFO_SIZE
    count, = struct.unpack_from("<i", data, p)
    p += 4
    for i in range(count):
        v = data[p:p + STOCK_VNHDR_SIZE]
        ph = struct.unpack_from("<IIQQQQQQ", v, 32)
        out["maps"].append(MapRef(v[:FHANDLE_SIZE], ph[3], ph[5], ph[2], ph[1]))
        p += STOCK_VNHDR_SIZE
    if struct.unpack_from("<i", data, p)[0] != STOCK_SIGINFO_SIZE:
        raise ThawError(errno.EINVAL)
    p += STOCK_SIGINFO_SIZE
    _, nfiles = struct.unpack_from("<ii", data, p)
    p += STOCK_FILEHDR_SIZE
    for i in range(nfiles):
        index, flags, offset = struct.unpack_from("<iIq", data, p)
        out["files"].append(FileRef(index, flags, offset, data[p + 16:p + 16 + FHANDLE_SIZE]))
        p += STOCK_FILEINFO_SIZE
    return out


def _gsoc_files(raw, nfiles):
    from . import dferrno as errno
    files, p = [], 0
    for _ in range(nfiles):
        if p + GSOC_FILEINFO_SIZE > len(raw):
            raise ThawError(errno.EINVAL)
        index, flags, offset, ftype, ckflags = struct.unpack_from("<iIqii", raw, p)
        data = raw[p + 24:p + 24 + FHANDLE_SIZE]
        p += GSOC_FILEINFO_SIZE
        if ftype == DTYPE_KQUEUE:
            n, = struct.unpack_from("<i", data)
            kevs = [raw[p + i * KEVENT_SIZE:p + (i + 1) * KEVENT_SIZE] for i in range(n)]
            if p + n * KEVENT_SIZE > len(raw):
                raise ThawError(errno.EINVAL)
            p += n * KEVENT_SIZE
            files.append(FileRef(index, flags, offset, None, kevs))
        elif ftype == DTYPE_VNODE:
            files.append(FileRef(index, flags, offset, data))
        else:
            break
    return files


def expand_name(template, comm, pid, uid):
    """``ckpt_expand_name`` (§15): %N, %P, %U, %%; an unknown escape is logged and dropped."""
    out, i, warnings = "", 0, []
    while i < len(template):
        c = template[i]
        if c == "%" and i + 1 < len(template):
            e = template[i + 1]
            out += {"N": comm, "P": str(pid), "U": str(uid), "%": "%"}.get(e, "")
            if e not in "NPU%":
                warnings.append(f"Unknown format character {e} in `{template}'")
            i += 2
            continue
        out += c
        i += 1
    return out, warnings
