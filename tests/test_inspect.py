"""vkckpt inspect: real ELF cores from the simulator's writer, and damaged or foreign files."""
import json
import struct

import pytest
from hypothesis import given, settings, strategies as st

from buildbot_vkckpt import cli, inspect
from buildbot_vkckpt.agent import ckptcheck
from buildbot_vkckpt.simhost import ckptfile


KVA = 0x6000000000


def write(path, threads=2, stock=False, memsize=1 << 20, kqueue=False):
    """A vkernel checkpoint as the simulator's host kernel writes it: the memory image and
    the session's files referenced by handle (their real inode numbers), the NORMAL segments
    in the file."""
    d = path.parent
    mem, disk, kernel = d / "memimg", d / "root.img", d / "kernel.debug"
    for f, size in ((mem, memsize), (disk, 4096), (kernel, 8192)):
        f.write_bytes(b"\xa5" * size)

    def handle(f):
        return ckptfile.fhandle(7, f.stat().st_ino, 1)
    files = [ckptfile.FileRef(3, ckptfile.FREAD | ckptfile.FWRITE, 0, handle(disk)),
             ckptfile.FileRef(4, ckptfile.FREAD | ckptfile.FWRITE, 0, handle(mem))]
    if kqueue:
        files.append(ckptfile.FileRef(5, ckptfile.FREAD, 0, None,
                                      [ckptfile.kevent(9, -1, 1), ckptfile.kevent(10, -2, 1)]))
    maps = [ckptfile.MapRef(handle(kernel), 0x400000, 8192, flags=ckptfile.PF_R | ckptfile.PF_X),
            ckptfile.MapRef(handle(mem), KVA, max(memsize, ckptfile.PAGE),
                            flags=ckptfile.PF_R | ckptfile.PF_W,
                            maptype=ckptfile.VM_MAPTYPE_VPAGETABLE)]
    segments = [ckptfile.Segment(0x600000, 2 * ckptfile.PAGE, data=b"data"),
                ckptfile.Segment(0x7ffffffde000, 4 * ckptfile.PAGE)]
    ckptfile.write_core(str(path), "stock" if stock else "gsoc", comm="kernel.debug",
                        tids=list(range(1, threads + 1)), files=files, maps=maps,
                        segments=segments)
    return path


@pytest.fixture
def core(tmp_path):
    return write(tmp_path / "kernel.debug.ckpt")


def test_gsoc_core_is_restorable(core):
    r = inspect.inspect_file(core)
    assert r["problems"] == []
    assert (r["layout"], r["threads"], r["command"]) == ("gsoc", 2, "kernel.debug")
    names = [n["name"] for n in r["notes"]]
    assert names[:3] == ["NT_PRPSINFO", "NT_DRAGONFLY_FILES", "NT_DRAGONFLY_MAPS"]
    assert names[3:6] == ["NT_PRSTATUS", "NT_FPREGSET", "NT_DRAGONFLY_TLS"]
    assert {n["owner"] for n in r["notes"] if n["type"] >= 0x1000} == {"DragonFly"}
    # guest RAM is not in the file: only the NORMAL segments are PT_LOAD (§23)
    assert [m["vaddr"] for m in r["mappings"]] == [0x600000, 0x7ffffffde000]


def test_gsoc_notes_decoded_as_the_branch_lays_them_out(core):
    """Bare arrays, no count in front: 56-byte ckpt_fileinfo, 120-byte vn_hdr; the UFS handle's
    inode names the file (derived from the vkernel_chkpt sources, see agent/ckptnotes.py)."""
    d = core.parent
    r = inspect.inspect_file(core)
    files = {f["fd"]: f for f in r["files"]}
    assert set(files) == {3, 4}
    assert files[3]["type"] == "vnode" and files[3]["path"] == str(d / "root.img")
    assert files[4]["handle"]["ino"] == (d / "memimg").stat().st_ino
    assert files[4]["handle"]["fid_len"] == 24 and files[4]["handle"]["gen"] == 1
    maps = {m["vaddr"]: m for m in r["maps"]}
    assert maps[KVA]["maptype"] == "vpagetable" and maps[KVA]["path"] == str(d / "memimg")
    assert maps[KVA]["memsz"] == 1 << 20
    assert maps[0x400000]["maptype"] == "normal" and maps[0x400000]["path"] == str(
        d / "kernel.debug")
    refs = {r_["path"] for r_ in r["referenced"]}
    assert refs == {str(d / "memimg"), str(d / "root.img"), str(d / "kernel.debug")}
    text = ckptcheck.render(r)
    assert "referenced files (must stay unchanged until the restore):" in text
    assert str(d / "memimg") in text


def test_kqueue_entries_carry_their_kevents(tmp_path):
    r = inspect.inspect_file(write(tmp_path / "k.ckpt", kqueue=True))
    assert r["problems"] == []
    kq = [f for f in r["files"] if f["type"] == "kqueue"]
    assert len(kq) == 1 and [k["ident"] for k in kq[0]["kevents"]] == [9, 10]
    assert [f["fd"] for f in r["files"]] == [3, 4, 5]


def test_unknown_handles_are_listed_by_inode(core, tmp_path):
    r = ckptcheck.inspect_file(core, known={})
    assert all("path" not in f for f in r["files"])
    assert "(unknown file)" in ckptcheck.render(r)


def test_the_agent_names_no_simulator_marker():
    """A test double that the code under test recognises can only agree with it."""
    import pathlib
    agent = pathlib.Path(ckptcheck.__file__).parent
    for path in list(agent.glob("*.py")) + [pathlib.Path(inspect.__file__)]:
        text = path.read_text()
        for marker in ("VKCKPT-SIM", "VKCKPT_SIM", "simhost"):
            assert marker not in text, f"{path.name} names {marker}"


def test_struct_reader_agrees_with_pyelftools(core):
    a, b = inspect.inspect_file(core), ckptcheck.inspect_file(core)
    assert a == b


def test_stock_layout_and_thread_count(tmp_path):
    r = inspect.inspect_file(write(tmp_path / "s.ckpt", threads=3, stock=True))
    assert r["problems"] == [] and r["layout"] == "stock" and r["threads"] == 3


def test_truncated_file_is_reported(core):
    size = core.stat().st_size
    with open(core, "r+b") as fh:
        fh.truncate(size // 2)
    r = inspect.inspect_file(core)
    assert any(p.startswith("truncated: segment") for p in r["problems"])


def test_note_order_is_checked(core):
    data = bytearray(core.read_bytes())
    # the first NT_PRSTATUS becomes an NT_FPREGSET: order broken, one thread fewer
    pos = data.index(struct.pack("<III", 5, ckptfile.GSOC_PRSTATUS_SIZE, 1))
    data[pos + 8:pos + 12] = struct.pack("<I", 2)
    core.write_bytes(bytes(data))
    r = inspect.inspect_file(core)
    assert any(p.startswith("note order") for p in r["problems"]), r["problems"]


def test_no_threads(tmp_path):
    r = inspect.inspect_file(write(tmp_path / "z.ckpt", threads=0))
    assert "thread count 0 is outside 1..256" in r["problems"]


def test_too_many_threads(tmp_path):
    r = inspect.inspect_file(write(tmp_path / "z.ckpt", threads=257, memsize=4096))
    assert "thread count 257 is outside 1..256" in r["problems"]


def test_not_a_core(tmp_path):
    exe = tmp_path / "exe"
    data = bytearray(write(tmp_path / "c.ckpt").read_bytes())
    data[16:18] = struct.pack("<H", 2)  # ET_EXEC
    exe.write_bytes(bytes(data))
    r = inspect.inspect_file(exe)
    assert r["problems"] == ["not a core file: e_type is 2, expected 4 (ET_CORE)"]


@pytest.mark.parametrize("content,problem", [
    (b"", "not an ELF file (bad magic)"),
    (b"hello world", "not an ELF file (bad magic)"),
    (b"\x7fELF\x02\x01\x01", "truncated: 7 bytes, shorter than an ELF header"),
])
def test_garbage(tmp_path, content, problem):
    f = tmp_path / "g"
    f.write_bytes(content)
    assert inspect.inspect_file(f)["problems"] == [problem]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=600), st.integers(0, 599))
def test_damaged_cores_never_raise(tmp_path_factory, noise, where):
    d = tmp_path_factory.mktemp("fuzz")
    base = bytearray(write(d / "c.ckpt", memsize=4096).read_bytes()[:9000])
    base[where:where + len(noise)] = noise
    (d / "c.ckpt").write_bytes(bytes(base))
    for reader in (inspect.inspect_file, ckptcheck.inspect_file):
        r = reader(d / "c.ckpt")
        assert isinstance(r["problems"], list)
        json.dumps(r)
        ckptcheck.render(r)


def test_cli_exit_codes_and_json(core, tmp_path, capsys):
    assert cli.main(["inspect", str(core), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["threads"] == 2
    bad = tmp_path / "bad"
    bad.write_text("x")
    assert cli.main(["inspect", str(bad)]) == 1
    assert "not an ELF file" in capsys.readouterr().out
    assert cli.main(["inspect", str(tmp_path / "missing")]) == 2


def test_summary_line(core):
    assert ckptcheck.summary_line(inspect.inspect_file(core)).startswith(
        "checkpoint file: ")
    assert ckptcheck.summary_line(inspect.inspect_file(core)).endswith(
        ", 2 threads, 2 mappings, gsoc layout")


def test_cli_names_handles_from_known_files_elsewhere(tmp_path, capsys):
    session = tmp_path / "session"
    session.mkdir()
    core = write(session / "kernel.debug.ckpt")
    elsewhere = tmp_path / "images"
    elsewhere.mkdir()
    (session / "root.img").rename(elsewhere / "root.img")   # the same inode, another place
    assert cli.main(["inspect", str(core)]) == 0
    assert str(elsewhere / "root.img") not in capsys.readouterr().out
    assert cli.main(["inspect", str(core), "--known", str(elsewhere)]) == 0
    out = capsys.readouterr().out
    assert str(elsewhere / "root.img") in out and str(session / "memimg") in out


def test_compact_inspection_fits_one_agent_event(tmp_path):
    """Steps read the inspection from the result event; it must not be cut."""
    from buildbot_vkckpt.agent.events import encode_event, result_event
    core = write(tmp_path / "kernel.debug.ckpt", threads=8, kqueue=True)
    lines = ckptcheck.render_compact(inspect.inspect_file(core)).splitlines()
    assert lines[1] == ("notes: NT_PRPSINFO, NT_DRAGONFLY_FILES, NT_DRAGONFLY_MAPS, 8 × "
                        "(NT_PRSTATUS, NT_FPREGSET, NT_DRAGONFLY_TLS)")
    assert lines[-2] == "by handle: root.img, memimg, kernel.debug"
    event = result_event("failure", "restore failed", "kernel",
                         details={"inspect": lines, "tail": ["x" * 120] * 20,
                                  "file": str(core)})
    assert '"truncated"' not in encode_event(event)
