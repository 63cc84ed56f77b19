"""``vkckpt inspect FILE``: what a DragonFly checkpoint file holds, and what is wrong with it.

pyelftools reads the ELF header and program headers; the checks, the note walk and the report
are ``agent.ckptcheck``'s, which the agent also runs (with a ``struct`` reader, since the
DragonFly host has only Python's standard library).

Exit status: 0 the file looks restorable, 1 problems found, 2 the file cannot be read.
"""
import json
import os
import struct
import sys

from .agent import ckptcheck

HELP = ("show what a checkpoint file (ELF core) holds: threads, notes, mappings, and the files "
        "it refers to by handle")


def add_arguments(p):
    p.add_argument("file", help="checkpoint file, e.g. kernel.debug.ckpt")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--known", action="append", default=[], metavar="PATH",
                   help="a file, or a directory of files, to name the checkpoint's file "
                        "handles by inode (default: the files next to the checkpoint); "
                        "repeatable, e.g. --known /var/vkernel/root.img")


def run(args):
    known = None
    if args.known:
        dirs = [k for k in args.known if os.path.isdir(k)]
        files = [k for k in args.known if not os.path.isdir(k)]
        known = ckptcheck.known_files(os.path.dirname(os.path.abspath(args.file)), *dirs,
                                      extra=files)
    report = inspect_file(args.file, known=known)
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(ckptcheck.render(report))
    return ckptcheck.exit_status(report)


def inspect_file(path, known=None):
    return ckptcheck.inspect_file(path, read_headers=read_headers_elftools, known=known)


def read_headers_elftools(fh, report):
    """ELF header and program headers through pyelftools; None after a fatal problem."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(fh)
        h = elf.header
        etype = h["e_type"]  # a name for known types, else the number
        etype = {"ET_NONE": 0, "ET_REL": 1, "ET_EXEC": 2, "ET_DYN": 3,
                 "ET_CORE": 4}.get(etype, etype)
        ehsize, phoff, phentsize, phnum = h["e_ehsize"], h["e_phoff"], h["e_phentsize"], \
            h["e_phnum"]
    except (ELFError, struct.error, ValueError, KeyError) as exc:
        report["problems"].append(f"bad ELF header: {exc}")
        return None
    report["class"] = elf.elfclass
    report["byteorder"] = "little" if elf.little_endian else "big"
    fmt = "<" if elf.little_endian else ">"
    checked = ckptcheck.check_header(fh, report, fmt, elf.elfclass == 64, etype, ehsize,
                                     phoff, phentsize, phnum, segments=False)
    if checked is None:
        return None
    segments = []
    for i in range(phnum):
        try:
            ph = elf.get_segment(i).header
        except Exception as exc:  # noqa: BLE001 - a broken header is a problem, not a crash
            report["problems"].append(f"program header {i} unreadable: {exc}")
            return None
        ptype = ph["p_type"]
        segments.append({"p_type": ptype if isinstance(ptype, str) else f"{ptype:#x}",
                         "p_flags": ph["p_flags"], "p_offset": ph["p_offset"],
                         "p_vaddr": ph["p_vaddr"], "p_filesz": ph["p_filesz"],
                         "p_memsz": ph["p_memsz"]})
    return fmt, segments


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(prog="vkckpt inspect", description=ckptcheck.__doc__)
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
