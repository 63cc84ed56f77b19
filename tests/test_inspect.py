"""vkckpt inspect: real ELF cores from the simulator's writer, and damaged or foreign files."""
import json
import struct

import pytest
from hypothesis import given, settings, strategies as st

from buildbot_vkckpt import cli, inspect
from buildbot_vkckpt.agent import ckptcheck
from buildbot_vkckpt.simhost import ckptfile


def write(path, threads=2, stock=False, memsize=1 << 20, **kw):
    mem = path.parent / "memimg"
    mem.write_bytes(b"\xa5" * memsize)
    ckptfile.write_core(str(path), comm="kernel.debug", args="/v/kernel.debug -m 1m", pid=42,
                        threads=threads, state={"hostname": "vk", "uptime": 1.5,
                                                "processes": [{"pid": 7}]},
                        memimg=str(mem), memsize=memsize, files=[(3, str(mem), 0, 2)],
                        stock=stock, **kw)
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
    kva = [m for m in r["mappings"] if m["vaddr"] == ckptfile.KVA_BASE]
    assert kva and kva[0]["filesz"] == 1 << 20
    assert r["files"][0]["fd"] == 3 and r["maps"][0]["by"] == "file handle"
    assert r["guest"]["processes"] == 1


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
    pos = data.index(struct.pack("<III", 5, ckptfile.PRSTATUS_SIZE, 1))
    data[pos + 8:pos + 12] = struct.pack("<I", 2)
    core.write_bytes(bytes(data))
    r = inspect.inspect_file(core)
    assert any(p.startswith("note order") for p in r["problems"]), r["problems"]


def test_no_threads(tmp_path):
    r = inspect.inspect_file(write(tmp_path / "z.ckpt", threads=0))
    assert "thread count 0 is outside 1..256" in r["problems"]


def test_too_many_threads(tmp_path):
    r = inspect.inspect_file(write(tmp_path / "z.ckpt", threads=257, memsize=0))
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
    base = bytearray(write(d / "c.ckpt", memsize=0).read_bytes()[:3000])
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
        "checkpoint file: 1.1 MiB, 2 threads, 4 mappings, gsoc layout")
