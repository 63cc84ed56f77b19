"""Checkpoint files read back and checked with the standard library (agent/ckptcheck.py). The
files are written by the simulator's encoder of the host kernel's two layouts
(simhost/ckptfile.py); damage is done to them by hand."""
import os

from buildbot_vkckpt.agent import ckptcheck
from buildbot_vkckpt.simhost import ckptfile as enc


def gsoc_file(tmp_path, name="kernel.ckpt", tids=(1, 2)):
    """A vkernel-like GSoC checkpoint holding fd 3 on ``memimg`` beside it, plus a segment."""
    mem = tmp_path / "memimg"
    mem.write_bytes(b"m")
    handle = enc.fhandle(1, os.stat(mem).st_ino, 1)
    path = tmp_path / name
    enc.write_core(str(path), "gsoc", comm="kernel", tids=list(tids),
                   files=[enc.FileRef(3, enc.FREAD, handle=handle)],
                   maps=[enc.MapRef(handle, 0x800000000, 1 << 20,
                                    maptype=enc.VM_MAPTYPE_VPAGETABLE)],
                   segments=[enc.Segment(0x600000, 8192, data=b"data")])
    return path


def test_a_gsoc_file_is_restorable_and_names_what_it_reopens(tmp_path):
    report = ckptcheck.inspect_file(gsoc_file(tmp_path))
    assert report["problems"] == [] and ckptcheck.exit_status(report) == 0
    assert (report["layout"], report["threads"], len(report["mappings"])) == ("gsoc", 2, 1)
    assert report["mappings"][0]["flags"] == "rw-"
    (ref,) = report["referenced"]
    assert ref["path"] == str(tmp_path / "memimg")
    assert ref["as"] == ["fd 3", "vpagetable map at 0x800000000"]
    assert [n["name"] for n in report["notes"][:3]] == [
        "NT_PRPSINFO", "NT_DRAGONFLY_FILES", "NT_DRAGONFLY_MAPS"]
    assert report["notes"][0]["comm"] == "kernel"
    assert ckptcheck.summary_line(report) == (
        f"checkpoint file: {ckptcheck.human_size(report['size'])}, 2 threads, 1 mappings, "
        "gsoc layout")


def test_a_stock_file_has_the_stock_layout(tmp_path):
    path = tmp_path / "sleep.ckpt"
    enc.write_core(str(path), "stock", comm="sleep", tids=[5])
    report = ckptcheck.inspect_file(path)
    assert report["problems"] == [] and report["layout"] == "stock" and report["threads"] == 1
    assert "referenced" not in report


def test_a_file_cut_short_by_a_full_disk_is_truncated(tmp_path):
    path = gsoc_file(tmp_path)
    size = os.path.getsize(path)
    with open(path, "r+b") as fh:
        fh.truncate(size - 100)
    report = ckptcheck.inspect_file(path)
    assert report["problems"][0] == (f"truncated: segment 1 (PT_LOAD) ends at byte {size}, the "
                                     f"file has {size - 100}")
    assert ckptcheck.exit_status(report) == 1
    assert ckptcheck.summary_line(report).startswith("checkpoint file: truncated: ")


def test_wrong_type_and_bad_notes_are_named(tmp_path):
    path = gsoc_file(tmp_path)
    data = bytearray(path.read_bytes())
    data[16] = 2                                          # ET_EXEC
    path.write_bytes(bytes(data))
    assert "not a core file: e_type is 2, expected 4 (ET_CORE)" in \
        ckptcheck.inspect_file(path)["problems"]
    many = tmp_path / "many.ckpt"
    enc.write_core(str(many), "gsoc", comm="k", tids=list(range(1, 258)))
    assert ckptcheck.inspect_file(many)["problems"] == ["thread count 257 is outside 1..256"]


def test_garbage_and_missing_files_never_raise(tmp_path):
    missing = ckptcheck.inspect_file(tmp_path / "none.ckpt")
    assert missing["unreadable"] and ckptcheck.exit_status(missing) == 2
    junk = tmp_path / "junk"
    junk.write_bytes(b"hello world" * 10)
    assert ckptcheck.inspect_file(junk)["problems"] == ["not an ELF file (bad magic)"]
    for tail in (b"", b"\x02\x01\x01" + bytes(9), os.urandom(4000)):
        junk.write_bytes(b"\x7fELF" + tail)
        report = ckptcheck.inspect_file(junk)           # no exception, whatever follows
        assert report["problems"] and ckptcheck.exit_status(report) == 1, tail[:8]


def test_known_files_maps_inodes_one_level_down(tmp_path):
    (tmp_path / "kernel").mkdir()
    (tmp_path / "kernel" / "kernel.debug").write_text("k")
    (tmp_path / "memimg").write_text("m")
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "deep").write_text("d")
    extra = tmp_path / "a" / "b" / "deep"
    known = ckptcheck.known_files(tmp_path, tmp_path / "nowhere", extra=[extra])
    assert set(known.values()) == {str(tmp_path / "kernel" / "kernel.debug"),
                                   str(tmp_path / "memimg"), str(extra)}


def test_human_size():
    assert [ckptcheck.human_size(n) for n in (None, 12, 2048, 3 << 20, 5 << 30)] == [
        "?", "12 B", "2.0 KiB", "3.0 MiB", "5.0 GiB"]
