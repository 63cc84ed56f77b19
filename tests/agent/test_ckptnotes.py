"""The GSoC branch's NT_DRAGONFLY_FILES / NT_DRAGONFLY_MAPS notes decoded (agent/ckptnotes.py).
The bytes come from the simulator's own encoder (simhost/ckptfile.py, written from the
branch's ckpt.h and imgact_elf.c), never from the decoder under test."""
import struct

from buildbot_vkckpt.agent import ckptnotes
from buildbot_vkckpt.simhost import ckptfile as enc

HANDLE = enc.fhandle(0x1234, ino=4242, gen=7)


def test_a_vnode_and_a_kqueue_with_its_kevents():
    desc = (enc.gsoc_fileinfo(3, enc.FREAD | enc.FWRITE, 512, handle=HANDLE, ckflags=1)
            + enc.gsoc_fileinfo(4, enc.FREAD, 0, enc.DTYPE_KQUEUE, nevents=2)
            + enc.kevent(9, -1, 0x11, data=5) + enc.kevent(10, -2, 0x1))
    problems = []
    vnode, kq = ckptnotes.decode_files(desc, problems=problems)
    assert problems == []
    assert vnode == {"fd": 3, "type": "vnode", "flags": 3, "offset": 512, "ckflags": 1,
                     "checkpoint_fd": True,
                     "handle": {"fsid": [0x1234, 0], "fid_len": 24, "ino": 4242, "gen": 7}}
    assert kq["type"] == "kqueue" and "handle" not in kq
    assert [(k["ident"], k["filter"], k["flags"], k["data"]) for k in kq["kevents"]] == [
        (9, -1, 0x11, 5), (10, -2, 0x1, 0)]


def test_damaged_files_notes_are_problems_not_exceptions():
    problems = []
    one = enc.gsoc_fileinfo(3, 1, 0, handle=HANDLE)
    assert len(ckptnotes.decode_files(one + b"\0" * 10, problems=problems)) == 1
    assert problems == ["NT_DRAGONFLY_FILES: 10 trailing bytes after 1 entries (expected "
                        "56-byte ckpt_fileinfo)"]
    problems = []
    liar = enc.gsoc_fileinfo(5, 1, 0, enc.DTYPE_KQUEUE, nevents=1000) + enc.kevent(1, -1, 1)
    (kq,) = ckptnotes.decode_files(liar, problems=problems)
    assert "kevents" not in kq
    assert problems[0] == "NT_DRAGONFLY_FILES: kqueue fd 5 claims 1000 kevents beyond the note"
    assert ckptnotes.decode_files(b"") == [] and ckptnotes.decode_files(b"\xff" * 20) == []


def test_maps_give_each_mapping_its_handle_type_and_place():
    memimg = enc.fhandle(1, ino=77, gen=1)
    desc = (enc.gsoc_vnhdr(HANDLE, enc.phdr(enc.PT_LOAD, enc.PF_R | enc.PF_X, 0, 0x400000,
                                            0x2000, 0x2000, 4096), 1, 0)
            + enc.gsoc_vnhdr(memimg, enc.phdr(enc.PT_LOAD, enc.PF_R | enc.PF_W, 0x1000,
                                              0x800000000, 0, 1 << 27, 4096), 2, 0x400))
    text, ram = ckptnotes.decode_maps(desc)
    assert (text["maptype"], text["vaddr"], text["memsz"], text["handle"]["ino"]) == (
        "normal", 0x400000, 0x2000, 4242)
    assert (ram["maptype"], ram["offset"], ram["memsz"], ram["eflags"]) == (
        "vpagetable", 0x1000, 1 << 27, 0x400)
    problems = []
    assert len(ckptnotes.decode_maps(desc[:200], problems=problems)) == 1
    assert problems == ["NT_DRAGONFLY_MAPS: 200 bytes is not a whole number of 120-byte vn_hdr"]


def test_referenced_lists_each_inode_once_with_every_use_and_its_name():
    report = {"files": ckptnotes.decode_files(enc.gsoc_fileinfo(3, 1, 0, handle=HANDLE)),
              "maps": ckptnotes.decode_maps(
                  enc.gsoc_vnhdr(HANDLE, enc.phdr(enc.PT_LOAD, 4, 0, 0x1000, 0, 4096, 4096),
                                 2, 0)
                  + enc.gsoc_vnhdr(enc.fhandle(1, 99, 1),
                                   enc.phdr(enc.PT_LOAD, 4, 0, 0x9000, 0, 4096, 4096), 1, 0))}
    ckptnotes.name_handles(report, {4242: "/s/memimg"})
    refs = {r["ino"]: r for r in ckptnotes.referenced(report)}
    assert refs[4242] == {"ino": 4242, "path": "/s/memimg",
                          "as": ["fd 3", "vpagetable map at 0x1000"]}
    assert refs[99] == {"ino": 99, "as": ["normal map at 0x9000"]}     # no name known


def test_big_endian_handles_decode_with_their_byte_order():
    handle = struct.pack(">iiHH4xQi", 5, 0, 24, 0, 31337, 3)
    desc = struct.pack(">iIqii", 6, 1, 0, 1, 0) + handle + bytes(4)
    (entry,) = ckptnotes.decode_files(desc, fmt=">")
    assert entry["handle"]["ino"] == 31337 and entry["fd"] == 6
