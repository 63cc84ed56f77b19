"""Checkpoint files of the simulated vkernel: real ELF cores, written and read back.

The layout follows reference/dragonfly.md §17 and §19 (the GSoC 2013 branch): an ELF64
``ET_CORE`` file, native byte order, ``EI_OSABI`` 0; one ``PT_NOTE`` followed by one ``PT_LOAD``
per dumped mapping. Notes, in the branch's order: ``CORE``/``NT_PRPSINFO``,
``DragonFly``/``NT_DRAGONFLY_FILES``, ``DragonFly``/``NT_DRAGONFLY_MAPS``, then per thread
``CORE``/``NT_PRSTATUS``, ``CORE``/``NT_FPREGSET``, ``DragonFly``/``NT_DRAGONFLY_TLS``.
``stock=True`` writes the stock order (no DragonFly notes) instead.

Descriptor sizes are those of the simulator's x86_64 layout (below), not measured on DragonFly.

What the simulator needs to restore — the guest's state (processes, uptime, console, cwd) —
travels as a JSON blob at the start of the ``heap`` ``PT_LOAD`` segment, behind the magic
``STATE_MAGIC`` and a 64-bit length. The guest memory is the ``PT_LOAD`` at ``KVA_BASE``
(the VPAGETABLE mapping the branch saves), copied from the memory image, so the file is about
as large as the guest's memory.
"""
import json
import os
import struct
import time

NT_PRSTATUS, NT_FPREGSET, NT_PRPSINFO = 1, 2, 3
NT_DRAGONFLY_TLS, NT_DRAGONFLY_FILES, NT_DRAGONFLY_MAPS = 0x1000, 0x1001, 0x1002
NOTE_NAMES = {NT_PRSTATUS: "NT_PRSTATUS", NT_FPREGSET: "NT_FPREGSET",
              NT_PRPSINFO: "NT_PRPSINFO", NT_DRAGONFLY_TLS: "NT_DRAGONFLY_TLS",
              NT_DRAGONFLY_FILES: "NT_DRAGONFLY_FILES", NT_DRAGONFLY_MAPS: "NT_DRAGONFLY_MAPS"}
CKPT_MAXTHREADS = 256

# descriptor sizes of the simulated layout
PRPSINFO_SIZE = 120     # pr_version, pr_psinfosz, pr_fname[17], pr_psargs[81]
PRSTATUS_SIZE = 248     # version and sizes (48 bytes) + struct reg (25 registers)
FPREGSET_SIZE = 512     # fxsave area
TLS_SIZE = 32           # struct savetls: two (base, size) pairs
FILEHDR_SIZE = 40       # ckpt_filehdr: cfh_magic (unused, 0), cfh_nfiles, reserved
FILEINFO_SIZE = 80      # ckpt_fileinfo: index, flags, offset, fhandle, type, ...
VNHDR_SIZE = 120        # vn_hdr: fhandle (32), Elf64_Phdr (56), reserved (32)

PT_LOAD, PT_NOTE = 1, 4
PF_X, PF_W, PF_R = 1, 2, 4
ET_CORE, EM_X86_64 = 4, 62
PAGE = 4096
KVA_BASE = 0x800000000
HEAP_BASE = 0x10000000
STATE_MAGIC = b"VKCKPT-SIM-STATE"
COPY_CHUNK = 1 << 20


class CkptWriteError(OSError):
    """Writing the file failed; ``errno`` says why (ENOSPC, ERANGE, ...)."""


def _note(owner, ntype, desc):
    name = owner.encode() + b"\0"
    return (struct.pack("<III", len(name), len(desc), ntype) + _pad4(name) + _pad4(desc))


def _pad4(data):
    return data + b"\0" * (-len(data) % 4)


def _fhandle(path):
    """A file handle the way the simulator fakes one: device and inode of the file."""
    try:
        st = os.stat(path)
        return struct.pack("<QQQQ", st.st_dev, st.st_ino, 0, 0)
    except OSError:
        return bytes(32)


def _phdr(ptype, flags, offset, vaddr, filesz, memsz, align):
    return struct.pack("<IIQQQQQQ", ptype, flags, offset, vaddr, vaddr, filesz, memsz, align)


def prpsinfo(comm, args):
    return (struct.pack("<iiQ", 1, 0, PRPSINFO_SIZE) + comm.encode()[:16].ljust(17, b"\0")
            + args.encode()[:80].ljust(81, b"\0")).ljust(PRPSINFO_SIZE, b"\0")


def prstatus(pid, tid):
    head = struct.pack("<iiQQQiiii", 1, 0, PRSTATUS_SIZE, 200, FPREGSET_SIZE, 500000,
                       34, pid, tid)
    return head.ljust(PRSTATUS_SIZE, b"\0")


def build_notes(comm, args, pid, threads, files, maps, stock=False):
    """The PT_NOTE contents. ``files``: [(fd, path, offset, flags)]; ``maps``: [(path, phdr)]."""
    out = [_note("CORE", NT_PRPSINFO, prpsinfo(comm, args))]
    if not stock:
        desc = struct.pack("<ii", 0, len(files)).ljust(FILEHDR_SIZE, b"\0")
        for fd, path, offset, flags in files:
            desc += (struct.pack("<iIq", fd, flags, offset) + _fhandle(path)
                     + struct.pack("<ii", 1, 0)).ljust(FILEINFO_SIZE, b"\0")
        out.append(_note("DragonFly", NT_DRAGONFLY_FILES, desc))
        desc = struct.pack("<ii", len(maps), 0)
        for path, phdr in maps:
            desc += (_fhandle(path) + phdr).ljust(VNHDR_SIZE, b"\0")
        out.append(_note("DragonFly", NT_DRAGONFLY_MAPS, desc))
    for t in range(threads):
        out.append(_note("CORE", NT_PRSTATUS, prstatus(pid, 100000 + t)))
        out.append(_note("CORE", NT_FPREGSET, bytes(FPREGSET_SIZE)))
        if not stock:
            out.append(_note("DragonFly", NT_DRAGONFLY_TLS, bytes(TLS_SIZE)))
    return b"".join(out)


def write_core(path, *, comm, args, pid, threads, state, memimg=None, memsize=0,
               files=(), text_path=None, stock=False, fail_after=None):
    """Write the checkpoint file; returns its size.

    ``state`` is the JSON-able guest state. ``memimg``/``memsize``: the guest memory copied into
    the KVA segment (omitted for ``stock``: a stock kernel skips VPAGETABLE mappings).
    ``fail_after`` simulates running out of space: raise ENOSPC after that many bytes.
    """
    blob = json.dumps(state, separators=(",", ":")).encode()
    heap = STATE_MAGIC + struct.pack("<Q", len(blob)) + blob
    heap_size = _round_page(len(heap))
    # (name, flags, vaddr, filesz, memsz, source)
    segments = [("data", PF_R | PF_W, 0x600000, PAGE * 4, PAGE * 4, None),
                ("heap", PF_R | PF_W, HEAP_BASE, heap_size, heap_size, heap)]
    if not stock and memsize:
        segments.append(("kva", PF_R | PF_W, KVA_BASE, memsize, memsize, memimg))
    segments.append(("stack", PF_R | PF_W, 0x7fffffde0000, PAGE * 32, PAGE * 32, None))
    text_phdr = _phdr(PT_LOAD, PF_R | PF_X, 0, 0x400000, 0, 0x200000, PAGE)
    maps = [(text_path or "", text_phdr)]
    notes = build_notes(comm, args, pid, threads, list(files), maps, stock=stock)
    phnum = 1 + len(segments)
    phoff = 64
    note_off = phoff + 56 * phnum
    data_off = _round_page(note_off + len(notes))
    phdrs = [_phdr(PT_NOTE, 0, note_off, 0, len(notes), 0, 4)]
    offset = data_off
    for _, flags, vaddr, filesz, memsz, _ in segments:
        phdrs.append(_phdr(PT_LOAD, flags, offset, vaddr, filesz, memsz, PAGE))
        offset += filesz
    ehdr = (b"\x7fELF" + bytes([2, 1, 1, 0, 0]) + bytes(7)
            + struct.pack("<HHIQQQIHHHHHH", ET_CORE, EM_X86_64, 1, 0, phoff, 0, 0, 64, 56,
                          phnum, 64, 0, 0))
    writer = _Writer(path, fail_after)
    try:
        writer.write(ehdr + b"".join(phdrs) + notes)
        writer.write(bytes(data_off - note_off - len(notes)))
        for _, _, _, filesz, _, source in segments:
            if isinstance(source, bytes):
                writer.write(source + bytes(filesz - len(source)))
            elif isinstance(source, str):
                writer.copy_from(source, filesz)
            else:
                writer.zeros(filesz)
    finally:
        writer.close()
    return offset


class _Writer:
    def __init__(self, path, fail_after):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        self.written = 0
        self.fail_after = fail_after

    def _check(self, n):
        if self.fail_after is not None and self.written + n > self.fail_after:
            room = max(0, self.fail_after - self.written)
            return room
        return None

    def write(self, data):
        room = self._check(len(data))
        if room is not None:
            os.write(self.fd, data[:room])
            raise CkptWriteError(28, os.strerror(28))
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
        self.written += len(data)

    def zeros(self, size):
        room = self._check(size)
        if room is not None:
            self.zeros(room)
            raise CkptWriteError(28, os.strerror(28))
        # a hole reads as zeros: extend the file instead of writing them
        os.lseek(self.fd, size, os.SEEK_CUR)
        self.written += size
        os.ftruncate(self.fd, self.written)

    def copy_from(self, path, size):
        try:
            src = os.open(path, os.O_RDONLY)
        except OSError:
            self.zeros(size)
            return
        try:
            left = size
            while left:
                n = min(COPY_CHUNK, left)
                chunk = os.read(src, n)
                if len(chunk) < n:
                    chunk += bytes(n - len(chunk))
                self.write(chunk)
                left -= n
        finally:
            os.close(src)

    def close(self):
        os.close(self.fd)


def process_started():
    """This process's start on the monotonic clock (Linux; 10 ms ticks), else now."""
    try:
        with open("/proc/self/stat") as fh:
            ticks = int(fh.read().rpartition(")")[2].split()[19])
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
        return time.monotonic() - max(0.0, age)
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic()


def record_io(host, op, path, started):
    """Log how long the simulated kernel spent on a checkpoint (``write``: signal to file
    written; ``read``: ``checkpt`` process start, interpreter included, to file read through;
    ``resume``: read through to ``Restored from checkpoint...``; ``exit``: file written to the
    handler's process about to exit), so benchmarks can tell the
    harness's time from the simulated kernel's (state/ckpt-io.jsonl)."""
    try:
        size = os.path.getsize(path)
    except (OSError, TypeError):
        size = None
    now = time.monotonic()   # system-wide on Linux: comparable with the benchmark's clock
    line = json.dumps({"op": op, "path": str(path), "bytes": size,
                       "seconds": now - started, "ended": now})
    try:
        with open(host.state_dir / "ckpt-io.jsonl", "a") as fh:
            fh.write(line + "\n")
    except OSError:
        pass


def _round_page(n):
    return (n + PAGE - 1) // PAGE * PAGE


def read_state(path):
    """The simulated guest state of a checkpoint file, or raise ValueError."""
    with open(path, "rb") as fh:
        head = fh.read(64)
        if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2:
            raise ValueError("not an ELF64 file")
        phoff, = struct.unpack_from("<Q", head, 32)
        phnum, = struct.unpack_from("<H", head, 56)
        for i in range(phnum):
            fh.seek(phoff + 56 * i)
            ph = fh.read(56)
            if len(ph) < 56:
                raise ValueError("truncated program headers")
            ptype, _, off, vaddr, _, filesz, _, _ = struct.unpack("<IIQQQQQQ", ph)
            if ptype == PT_LOAD and vaddr == HEAP_BASE:
                fh.seek(off)
                magic = fh.read(len(STATE_MAGIC) + 8)
                if magic[:len(STATE_MAGIC)] != STATE_MAGIC:
                    raise ValueError("no simulator state in the heap segment")
                size, = struct.unpack("<Q", magic[len(STATE_MAGIC):])
                blob = fh.read(size)
                if len(blob) != size:
                    raise ValueError("truncated simulator state")
                return json.loads(blob.decode())
    raise ValueError("no heap segment")


def expand_name(template, comm, pid, uid):
    """``kern.ckptfile`` expansion (§15): %N, %P, %U, %%; unknown escapes are dropped."""
    out, i, warnings = "", 0, []
    while i < len(template):
        c = template[i]
        if c == "%" and i + 1 < len(template):
            e = template[i + 1]
            out += {"N": comm, "P": str(pid), "U": str(uid), "%": "%"}.get(e, "")
            if e not in "NPU%":
                warnings.append(f"Unknown format character {e} in '{template}'")
            i += 2
            continue
        out += c
        i += 1
    return out, warnings
