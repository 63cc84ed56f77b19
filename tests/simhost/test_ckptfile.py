"""ckptfile.py: the x86_64 layouts of the GSoC branch and of stock DragonFly, byte for byte.

Offsets are written out here from sys/sys/ckpt.h, sys/sys/procfs.h, sys/sys/mount.h and
sys/vfs/ufs/inode.h of pdziepak/DragonFlyBSD (vkernel_chkpt and its merge base), not taken from
the module under test.
"""
import errno
import os
import struct

import pytest
from elftools.elf.elffile import ELFFile

from buildbot_vkckpt.simhost import ckptfile


def handle(ino, gen=7, dev=3):
    return ckptfile.fhandle(dev, ino, gen)


def test_fhandle_is_fsid_then_ufid_over_struct_fid():
    h = handle(0x1122334455, gen=9, dev=5)
    assert len(h) == 28
    assert struct.unpack_from("<ii", h) == (5, 0)             # fsid_t
    assert struct.unpack_from("<HH", h, 8) == (24, 0)         # ufid_len, ufid_pad
    assert struct.unpack_from("<Q", h, 16)[0] == 0x1122334455  # ufid_ino
    assert struct.unpack_from("<i", h, 24)[0] == 9             # ufid_gen


def test_gsoc_fileinfo_and_vnhdr_offsets():
    fi = ckptfile.gsoc_fileinfo(4, 3, 0x1000, handle=handle(77))
    assert len(fi) == 56
    assert struct.unpack_from("<iIqii", fi) == (4, 3, 0x1000, 1, 0)
    assert fi[24:52] == handle(77)
    kq = ckptfile.gsoc_fileinfo(5, 1, 0, ftype=5, nevents=2)
    assert struct.unpack_from("<i", kq, 16)[0] == 5 and struct.unpack_from("<i", kq, 24)[0] == 2
    ph = ckptfile.phdr(1, 6, 0x2000, 0x8000000000, 1 << 20, 1 << 20, 4096)
    vn = ckptfile.gsoc_vnhdr(handle(78), ph, 2, 1, 0x7)
    assert len(vn) == 120 and vn[:28] == handle(78) and vn[32:88] == ph
    assert struct.unpack_from("<iiQ", vn, 88) == (2, 1, 7)
    assert ckptfile.kevent(1, -1, 1) == struct.pack("<QhHIqQ", 1, -1, 1, 0, 0, 0)


def test_gsoc_prpsinfo_and_prstatus():
    ps = ckptfile.gsoc_prpsinfo("kernel", 3, 4, 5)
    assert len(ps) == 3408
    assert struct.unpack_from("<i4xQ", ps) == (2, 3408)
    assert ps[16:33].rstrip(b"\0") == b"kernel" and ps[33:114].rstrip(b"\0") == b"kernel"
    assert struct.unpack_from("<iii", ps, 116) == (3, 4, 5)
    st = ckptfile.gsoc_prstatus(100001)
    assert len(st) == 288
    assert struct.unpack_from("<i4xQQQiii", st) == (2, 288, 200, 512, 300500, 33, 100001)


def test_stock_structs():
    assert len(ckptfile.stock_prpsinfo("sleep")) == 120
    assert len(ckptfile.stock_prstatus(1)) == 248
    fi = ckptfile.stock_fileinfo(3, 1, 0, handle(5))
    assert len(fi) == 80 and fi[16:44] == handle(5) and struct.unpack_from("<i", fi, 44)[0] == 1


def core(tmp_path, layout, **kw):
    files = [ckptfile.FileRef(3, 1, 0, handle(11)),
             ckptfile.FileRef(4, 3, 0, None, [ckptfile.kevent(0, -1, 1)]),
             ckptfile.FileRef(5, 3, 0, handle(12))]
    maps = [ckptfile.MapRef(handle(13), 0x400000, 8192, 0, 5),
            ckptfile.MapRef(handle(14), 512 << 30, 64 << 20, 512 << 30, 6, 2, 1, 7)]
    segs = [ckptfile.Segment(0x600000, 8192, data=b"data!"), ckptfile.Segment(0x7f0000, 4096)]
    path = tmp_path / f"{layout}.ckpt"
    size = ckptfile.write_core(str(path), layout, comm="kernel", tids=[1, 2], files=files,
                               maps=maps, segments=segs, **kw)
    return path, size


def test_gsoc_core_round_trip(tmp_path):
    path, size = core(tmp_path, "gsoc")
    assert os.path.getsize(path) == size < 1 << 20      # the 64 MB VPAGETABLE map: a handle
    assert os.stat(path).st_mode & 0o777 == 0o600
    with open(path, "rb") as fh:
        elf = ELFFile(fh)
        assert elf.header["e_type"] == "ET_CORE"
        types = [s["p_type"] for s in elf.iter_segments()]
        assert types == ["PT_NOTE", "PT_LOAD", "PT_LOAD"]
        assert all(s["p_offset"] % 4096 == 0 for s in elf.iter_segments() if s["p_filesz"]
                   and s["p_type"] == "PT_LOAD")
        notes = [(n["n_name"], n["n_type"]) for s in elf.iter_segments()
                 if s["p_type"] == "PT_NOTE" for n in s.iter_notes()]
    names = [t if isinstance(t, int) else t for _, t in notes]
    assert [n for n, _ in notes][:3] == ["CORE", "DragonFly", "DragonFly"]
    assert len(names) == 3 + 2 * 3
    got = ckptfile.read_core(path, "gsoc")
    assert got["comm"] == "kernel" and got["nthreads"] == 2
    assert [(f.index, f.handle is None, len(f.kevents)) for f in got["files"]] == [
        (3, False, 0), (4, True, 1), (5, False, 0)]
    assert [m.maptype for m in got["maps"]] == [1, 2] and got["maps"][1].master_pde == 7
    with pytest.raises(ckptfile.ThawError) as info:
        ckptfile.read_core(path, "stock")            # a stock kernel rejects prpsinfo v2
    assert info.value.errno == 22


def test_stock_core_has_no_dragonfly_notes_and_no_vpagetable(tmp_path):
    path, _ = core(tmp_path, "stock")
    with open(path, "rb") as fh:
        elf = ELFFile(fh)
        owners = {n["n_name"] for s in elf.iter_segments() if s["p_type"] == "PT_NOTE"
                  for n in s.iter_notes()}
    assert owners == {"CORE"}
    got = ckptfile.read_core(path, "stock")
    assert got["nthreads"] == 2 and [m.maptype for m in got["maps"]] == [1]
    assert [f.index for f in got["files"]] == [3, 5]     # stock saves vnodes only


def test_enospc_leaves_a_short_file(tmp_path):
    with pytest.raises(ckptfile.CkptWriteError) as info:
        core(tmp_path, "gsoc", fail_after=5000)
    assert info.value.errno == errno.ENOSPC
    assert os.path.getsize(tmp_path / "gsoc.ckpt") == 5000


@pytest.mark.parametrize("template,expected,warn", [
    ("%N.ckpt", "kernel.debug.ckpt", []),
    ("/tmp/%N-%P-%U.%%", "/tmp/kernel.debug-12-0.%", []),
    ("%Q.ckpt", ".ckpt", ["Unknown format character Q in `%Q.ckpt'"]),
])
def test_expand_name(template, expected, warn):
    assert ckptfile.expand_name(template, "kernel.debug", 12, 0) == (expected, warn)


def test_junk_is_einval(tmp_path):
    (tmp_path / "x").write_bytes(b"\x7fELF\x02" + bytes(80))
    with pytest.raises(ckptfile.ThawError) as info:
        ckptfile.read_core(tmp_path / "x", "gsoc")
    assert info.value.errno == 22
