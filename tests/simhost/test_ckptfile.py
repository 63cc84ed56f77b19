"""The simulator's checkpoint writer: ELF layout, state round trip, failures, name template."""
import errno
import os

import pytest
from elftools.elf.elffile import ELFFile

from buildbot_vkckpt.simhost import ckptfile


def write(path, **kw):
    args = dict(comm="kernel", args="/v/kernel", pid=9, threads=1,
                state={"uptime": 2.0, "processes": [{"pid": 5, "comm": "sh"}]})
    args.update(kw)
    return ckptfile.write_core(str(path), **args)


def test_elf_core_layout(tmp_path):
    size = write(tmp_path / "k.ckpt", memsize=64 << 10)
    assert os.path.getsize(tmp_path / "k.ckpt") == size
    with open(tmp_path / "k.ckpt", "rb") as fh:
        elf = ELFFile(fh)
        assert elf.header["e_type"] == "ET_CORE" and elf.header["e_ident"]["EI_OSABI"] == \
            "ELFOSABI_SYSV"
        types = [s["p_type"] for s in elf.iter_segments()]
        assert types[0] == "PT_NOTE" and set(types[1:]) == {"PT_LOAD"}
        kva = [s for s in elf.iter_segments() if s["p_vaddr"] == ckptfile.KVA_BASE]
        assert kva[0]["p_filesz"] == 64 << 10
    assert os.stat(tmp_path / "k.ckpt").st_mode & 0o777 == 0o600


def test_state_round_trip(tmp_path):
    write(tmp_path / "k.ckpt")
    assert ckptfile.read_state(tmp_path / "k.ckpt")["processes"][0]["comm"] == "sh"


def test_stock_has_no_guest_memory(tmp_path):
    write(tmp_path / "k.ckpt", memsize=1 << 20, stock=True)
    assert os.path.getsize(tmp_path / "k.ckpt") < 1 << 20


def test_memory_is_copied(tmp_path):
    mem = tmp_path / "mem"
    mem.write_bytes(b"guest!" * 100)
    write(tmp_path / "k.ckpt", memimg=str(mem), memsize=4096)
    assert b"guest!guest!" in (tmp_path / "k.ckpt").read_bytes()


def test_enospc_leaves_a_short_file(tmp_path):
    with pytest.raises(ckptfile.CkptWriteError) as info:
        write(tmp_path / "k.ckpt", memsize=1 << 20, fail_after=100000)
    assert info.value.errno == errno.ENOSPC
    assert os.path.getsize(tmp_path / "k.ckpt") == 100000


@pytest.mark.parametrize("template,expected,warn", [
    ("%N.ckpt", "kernel.debug.ckpt", []),
    ("/tmp/%N-%P-%U.%%", "/tmp/kernel.debug-12-0.%", []),
    ("%Q.ckpt", ".ckpt", ["Unknown format character Q in '%Q.ckpt'"]),
])
def test_expand_name(template, expected, warn):
    assert ckptfile.expand_name(template, "kernel.debug", 12, 0) == (expected, warn)


def test_read_state_rejects_foreign_files(tmp_path):
    (tmp_path / "x").write_bytes(b"\x7fELF\x02" + bytes(80))
    with pytest.raises(ValueError):
        ckptfile.read_state(tmp_path / "x")
