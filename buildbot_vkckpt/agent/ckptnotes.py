"""The GSoC 2013 branch's checkpoint notes, decoded as its kernel lays them out (x86_64).

Derived from ``pdziepak/DragonFlyBSD`` branch ``vkernel_chkpt``: ``sys/sys/ckpt.h``,
``sys/sys/mount.h``, ``sys/vfs/ufs/inode.h``, ``sys/sys/event.h`` and ``sys/kern/imgact_elf.c``
(``elf_putfiles``, ``cb_put_fp``, ``elf_putallnotes``). LP64, natural alignment:

``fhandle_t`` (28 bytes, align 4)::

    0  fsid_t fh_fsid        int32 val[2]
    8  struct fid fh_fid     u_short fid_len, u_short fid_ext, char fid_data[16]

  UFS fills ``fh_fid`` with a ``struct ufid`` that *overlays* ``struct fid`` (ffs_vptofh):
  ``uint16 ufid_len; uint16 ufid_pad; ino_t ufid_ino`` (64-bit, so at fid offset 8, i.e.
  fhandle offset 16) ``; int32 ufid_gen`` (fid offset 16, fhandle offset 24).

``struct ckpt_fileinfo`` (56 bytes, align 8)::

    0 int cfi_index   4 u_int cfi_flags   8 off_t cfi_offset   16 int cfi_type
    20 int cfi_ckflags   24 union { fhandle_t vnode; int nevents; } cfi_data   52 pad

  ``NT_DRAGONFLY_FILES`` is a bare array of them, one per fd >= 3 that is a vnode
  (``cfi_type`` DTYPE_VNODE 1) or a kqueue (DTYPE_KQUEUE 5); a kqueue's entry is followed by
  its ``nevents`` ``struct kevent`` (32 bytes: uintptr_t ident, short filter, u_short flags,
  u_int fflags, intptr_t data, void *udata). No count in front: the note size bounds it.

``struct vn_hdr`` (120 bytes, align 8)::

    0 fhandle_t vnh_fh   32 Elf64_Phdr vnh_phdr (56)   88 int vnh_type   92 int vnh_flags
    96 vpte_t vnh_master_pde (u_long)   104 int vnh_reserved[4]

  ``NT_DRAGONFLY_MAPS`` is a bare array of them (every vnode-backed mapping, including the
  VPAGETABLE mappings of the vkernel's memory image), no count in front.
"""
import struct

FHANDLE_SIZE = 28
FILEINFO_SIZE = 56
KEVENT_SIZE = 32
VNHDR_SIZE = 120
DTYPE_VNODE, DTYPE_KQUEUE = 1, 5
DTYPES = {1: "vnode", 2: "socket", 3: "pipe", 4: "fifo", 5: "kqueue"}
CKFIF_ISCKPTFD = 0x0001
VM_MAPTYPES = {1: "normal", 2: "vpagetable", 3: "submap", 4: "ukspace"}


def fhandle(desc, off, fmt="<"):
    """{"fsid": [a, b], "fid_len", "ino", "gen"} of the fhandle_t at ``off``."""
    fsid0, fsid1, fid_len, _ext = struct.unpack_from(fmt + "iiHH", desc, off)
    ino, gen = struct.unpack_from(fmt + "Qi", desc, off + 16)
    return {"fsid": [fsid0, fsid1], "fid_len": fid_len, "ino": ino, "gen": gen}


def decode_files(desc, fmt="<", problems=None):
    """[{"fd", "type", "flags", "offset", "ckflags", "handle" | "kevents"}] of a FILES note."""
    files, off = [], 0
    while off + FILEINFO_SIZE <= len(desc):
        index, flags, offset, ftype, ckflags = struct.unpack_from(fmt + "iIqii", desc, off)
        entry = {"fd": index, "type": DTYPES.get(ftype, ftype), "flags": flags,
                 "offset": offset, "ckflags": ckflags}
        if ckflags & CKFIF_ISCKPTFD:
            entry["checkpoint_fd"] = True
        off += FILEINFO_SIZE
        if ftype == DTYPE_KQUEUE:
            nevents, = struct.unpack_from(fmt + "i", desc, off - FILEINFO_SIZE + 24)
            if nevents < 0 or off + nevents * KEVENT_SIZE > len(desc):
                if problems is not None:
                    problems.append(f"NT_DRAGONFLY_FILES: kqueue fd {index} claims {nevents} "
                                    "kevents beyond the note")
                files.append(entry)
                break
            entry["kevents"] = [dict(zip(("ident", "filter", "flags", "fflags", "data"),
                                         struct.unpack_from(fmt + "QhHIq", desc,
                                                            off + i * KEVENT_SIZE)))
                                for i in range(nevents)]
            off += nevents * KEVENT_SIZE
        else:
            entry["handle"] = fhandle(desc, off - FILEINFO_SIZE + 24, fmt)
        files.append(entry)
    if off != len(desc) and problems is not None:
        problems.append(f"NT_DRAGONFLY_FILES: {len(desc) - off} trailing bytes after "
                        f"{len(files)} entries (expected {FILEINFO_SIZE}-byte ckpt_fileinfo)")
    return files


def decode_maps(desc, fmt="<", problems=None):
    """[{"handle", "vaddr", "offset", "memsz", "flags", "maptype", "eflags"}] of a MAPS note."""
    if len(desc) % VNHDR_SIZE and problems is not None:
        problems.append(f"NT_DRAGONFLY_MAPS: {len(desc)} bytes is not a whole number of "
                        f"{VNHDR_SIZE}-byte vn_hdr")
    maps = []
    for off in range(0, len(desc) - VNHDR_SIZE + 1, VNHDR_SIZE):
        _ptype, pflags, poffset, vaddr, _paddr, _filesz, memsz, _align = struct.unpack_from(
            fmt + "IIQQQQQQ", desc, off + 32)
        maptype, eflags = struct.unpack_from(fmt + "ii", desc, off + 88)
        maps.append({"handle": fhandle(desc, off, fmt), "vaddr": vaddr, "offset": poffset,
                     "memsz": memsz, "pflags": pflags,
                     "maptype": VM_MAPTYPES.get(maptype, maptype), "eflags": eflags})
    return maps


def name_handles(report, known):
    """Name each handle's file from ``known`` ({inode: path}), by inode number (a UFS or
    HAMMER handle carries it; the fsid is the host's and is not compared)."""
    for item in report.get("files", []) + report.get("maps", []):
        handle = item.get("handle")
        if handle and handle["ino"] in known:
            item["path"] = known[handle["ino"]]


def referenced(report):
    """The files a thaw will reopen by handle: [{"ino", "path"?, "as": [...]}], one per inode."""
    out = {}
    for what, items in (("fd", report.get("files", [])), ("map", report.get("maps", []))):
        for item in items:
            handle = item.get("handle")
            if not handle:
                continue
            ref = out.setdefault(handle["ino"], {"ino": handle["ino"], "as": []})
            if item.get("path"):
                ref["path"] = item["path"]
            ref["as"].append(f"fd {item['fd']}" if what == "fd"
                             else f"{item['maptype']} map at {item['vaddr']:#x}")
    return list(out.values())
