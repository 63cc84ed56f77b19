"""Checkpoint files (ELF cores) read back and checked, with the standard library only.

Shared by the agent (``checkpoint`` validates the file it waited for) and ``vkckpt inspect``,
which reads the ELF and program headers with pyelftools instead. The checks are those of
``sys_checkpoint(CKPT_THAW)`` (reference/dragonfly.md §17, §19): ELF identity, ``ET_CORE``,
header sizes, a thread count within 1..256, the note order (stock or the GSoC branch's), and —
because a checkpoint cut short by a full disk is the common failure — every segment inside the
file. Notes are walked here: pyelftools decodes ``CORE`` notes with Linux's layouts. The GSoC
notes (``NT_DRAGONFLY_FILES``, ``NT_DRAGONFLY_MAPS``) are decoded by ``ckptnotes`` as the
branch's kernel lays them out, and their file handles are matched to known files by inode:
the files a thaw reopens (memory image, disks, pidfile, kernel binary) are listed by name.

Garbage never raises: every problem becomes a line in ``problems``.
"""
import os
import struct

from . import ckptnotes

NT_PRSTATUS, NT_FPREGSET, NT_PRPSINFO = 1, 2, 3
NT_DRAGONFLY_TLS, NT_DRAGONFLY_FILES, NT_DRAGONFLY_MAPS = 0x1000, 0x1001, 0x1002
NOTE_NAMES = {NT_PRSTATUS: "NT_PRSTATUS", NT_FPREGSET: "NT_FPREGSET",
              NT_PRPSINFO: "NT_PRPSINFO", NT_DRAGONFLY_TLS: "NT_DRAGONFLY_TLS",
              NT_DRAGONFLY_FILES: "NT_DRAGONFLY_FILES", NT_DRAGONFLY_MAPS: "NT_DRAGONFLY_MAPS"}
KNOWN = {("CORE", NT_PRSTATUS), ("CORE", NT_FPREGSET), ("CORE", NT_PRPSINFO),
         ("DragonFly", NT_DRAGONFLY_TLS), ("DragonFly", NT_DRAGONFLY_FILES),
         ("DragonFly", NT_DRAGONFLY_MAPS)}
CKPT_MAXTHREADS = 256
MAX_NOTES = 4096


def exit_status(report):
    """0 restorable, 1 problems found, 2 unreadable."""
    if report.get("unreadable"):
        return 2
    return 1 if report["problems"] else 0


def _inspect(fh, report, read_headers):
    problems = report["problems"]
    size = report["size"]
    ident = fh.read(16)
    if ident[:4] != b"\x7fELF":
        problems.append("not an ELF file (bad magic)")
        return
    if len(ident) < 16 or size < 64:
        problems.append(f"truncated: {size} bytes, shorter than an ELF header")
        return
    if ident[6] != 1:
        problems.append(f"unsupported ELF version {ident[6]}")
    if ident[7] != 0:
        problems.append(f"EI_OSABI is {ident[7]}, a checkpoint has 0 (ELFOSABI_NONE)")
    fh.seek(0)
    headers = read_headers(fh, report)
    if headers is None:
        return
    fmt, segments = headers
    notes_seen = False
    for i, ph in enumerate(segments):
        end = ph["p_offset"] + ph["p_filesz"]
        if end > size:
            problems.append(f"truncated: segment {i} ({ph['p_type']}) ends at byte {end}, "
                            f"the file has {size}")
        if ph["p_type"] == "PT_NOTE":
            if notes_seen:
                problems.append("more than one PT_NOTE segment")
            elif i != 0:
                problems.append("PT_NOTE is not the first program header")
            notes_seen = True
            fh.seek(ph["p_offset"])
            data = fh.read(min(ph["p_filesz"], max(0, size - ph["p_offset"])))
            report["notes"] = parse_notes(data, fmt, problems)
        elif ph["p_type"] == "PT_LOAD":
            report["mappings"].append({
                "vaddr": ph["p_vaddr"], "offset": ph["p_offset"], "filesz": ph["p_filesz"],
                "memsz": ph["p_memsz"], "flags": _flags(ph["p_flags"])})
    if not notes_seen:
        problems.append("no PT_NOTE segment: no threads or registers saved")
        return
    check_notes(report, problems)
    decode_notes(report, fmt)


PT_TYPES = {0: "PT_NULL", 1: "PT_LOAD", 2: "PT_DYNAMIC", 3: "PT_INTERP", 4: "PT_NOTE",
            6: "PT_PHDR"}


def read_headers(fh, report):
    """ELF header checks and program headers with ``struct`` (the agent has no pyelftools).
    Returns (struct byte-order prefix, [program header dicts]) or None after a fatal problem."""
    problems = report["problems"]
    head = fh.read(64)
    cls, data = head[4], head[5]
    if cls not in (1, 2) or data not in (1, 2):
        problems.append(f"bad ELF header: class {cls}, data encoding {data}")
        return None
    fmt = "<" if data == 1 else ">"
    report["class"] = 64 if cls == 2 else 32
    report["byteorder"] = "little" if data == 1 else "big"
    if cls == 2:
        etype, = struct.unpack_from(fmt + "H", head, 16)
        phoff, = struct.unpack_from(fmt + "Q", head, 32)
        ehsize, phentsize, phnum = struct.unpack_from(fmt + "HHH", head, 52)
    else:
        etype, = struct.unpack_from(fmt + "H", head, 16)
        phoff, = struct.unpack_from(fmt + "I", head, 28)
        ehsize, phentsize, phnum = struct.unpack_from(fmt + "HHH", head, 40)
    return check_header(fh, report, fmt, cls == 2, etype, ehsize, phoff, phentsize, phnum)


def check_header(fh, report, fmt, is64, etype, ehsize, phoff, phentsize, phnum,
                 segments=True):
    """Header checks; then the program headers (or ``(fmt, [])`` when ``segments`` is False,
    for a caller that reads them itself). None after a fatal problem."""
    problems, size = report["problems"], report["size"]
    if etype != 4:
        problems.append(f"not a core file: e_type is {etype}, expected 4 (ET_CORE)")
    expect_eh, expect_ph = (64, 56) if is64 else (52, 32)
    if ehsize != expect_eh:
        problems.append(f"e_ehsize is {ehsize}, expected {expect_eh}")
    if phentsize != expect_ph:
        problems.append(f"e_phentsize is {phentsize}, expected {expect_ph}")
        return None
    if phoff + phnum * phentsize > size:
        problems.append(f"truncated: program headers end at {phoff + phnum * phentsize}, "
                        f"the file has {size} bytes")
        return None
    if not segments:
        return fmt, []
    segments = []
    for i in range(phnum):
        fh.seek(phoff + i * phentsize)
        raw = fh.read(phentsize)
        if is64:
            ptype, flags, off, vaddr, _, filesz, memsz, _ = struct.unpack(fmt + "IIQQQQQQ", raw)
        else:
            ptype, off, vaddr, _, filesz, memsz, flags, _ = struct.unpack(fmt + "IIIIIIII", raw)
        segments.append({"p_type": PT_TYPES.get(ptype, f"{ptype:#x}"), "p_flags": flags,
                         "p_offset": off, "p_vaddr": vaddr, "p_filesz": filesz,
                         "p_memsz": memsz})
    return fmt, segments


def parse_notes(data, fmt, problems):
    """[{owner, type, name, descsz, desc}] from a PT_NOTE body (4-byte aligned entries)."""
    notes, off = [], 0
    while off + 12 <= len(data) and len(notes) < MAX_NOTES:
        namesz, descsz, ntype = struct.unpack_from(fmt + "III", data, off)
        name_end = off + 12 + namesz
        desc_off = off + 12 + _align4(namesz)
        if desc_off + descsz > len(data) or name_end > len(data):
            problems.append(f"truncated note at offset {off} of the PT_NOTE segment")
            break
        owner = data[off + 12:name_end].split(b"\0", 1)[0].decode("ascii", "replace")
        notes.append({"owner": owner, "type": ntype,
                      "name": (NOTE_NAMES[ntype] if (owner, ntype) in KNOWN
                               else f"type {ntype:#x}"),
                      "descsz": descsz, "desc": data[desc_off:desc_off + descsz]})
        off = desc_off + _align4(descsz)
    return notes


def check_notes(report, problems):
    known = [(n["owner"], n["type"]) for n in report["notes"]
             if (n["owner"], n["type"]) in KNOWN]  # thaw ignores unknown notes
    threads = sum(1 for k in known if k == ("CORE", NT_PRSTATUS))
    report["threads"] = threads
    if not 1 <= threads <= CKPT_MAXTHREADS:
        problems.append(f"thread count {threads} is outside 1..{CKPT_MAXTHREADS}")
        return
    psinfo = [("CORE", NT_PRPSINFO)]
    stock = psinfo + [("CORE", NT_PRSTATUS), ("CORE", NT_FPREGSET)] * threads
    # elf_putallnotes writes FILES only when a file is saved and MAPS only when a vnode
    # mapping is: either may be missing
    gsoc_head = [k for k in known[1:3] if k[0] == "DragonFly"
                 and k[1] in (NT_DRAGONFLY_FILES, NT_DRAGONFLY_MAPS)]
    gsoc = (psinfo + gsoc_head + [("CORE", NT_PRSTATUS), ("CORE", NT_FPREGSET),
                                  ("DragonFly", NT_DRAGONFLY_TLS)] * threads)
    if gsoc_head and gsoc_head not in ([("DragonFly", NT_DRAGONFLY_FILES)],
                                       [("DragonFly", NT_DRAGONFLY_MAPS)],
                                       [("DragonFly", NT_DRAGONFLY_FILES),
                                        ("DragonFly", NT_DRAGONFLY_MAPS)]):
        gsoc = None
    if known == gsoc:
        report["layout"] = "gsoc"
    elif known == stock:
        report["layout"] = "stock"
    else:
        names = ", ".join(NOTE_NAMES[t] for _, t in known[:8])
        problems.append(f"note order: expected NT_PRPSINFO first and an NT_PRSTATUS, "
                        f"NT_FPREGSET[, NT_DRAGONFLY_TLS] group per thread; found {names}"
                        + (" …" if len(known) > 8 else ""))


def decode_notes(report, fmt):
    for note in report["notes"]:
        desc = note.pop("desc")
        if note["type"] == NT_PRPSINFO and note["owner"] == "CORE" and len(desc) >= 114:
            note["comm"] = desc[16:33].split(b"\0", 1)[0].decode("utf-8", "replace")
            note["args"] = desc[33:114].split(b"\0", 1)[0].decode("utf-8", "replace")
            report["command"] = note["comm"]
        elif note["owner"] != "DragonFly" or fmt != "<" or report.get("class") != 64:
            continue  # the layouts below are x86_64's
        elif note["type"] == NT_DRAGONFLY_FILES:
            report["files"] += ckptnotes.decode_files(desc, fmt, report["problems"])
        elif note["type"] == NT_DRAGONFLY_MAPS:
            report["maps"] += ckptnotes.decode_maps(desc, fmt, report["problems"])


def known_files(*directories, extra=()):
    """{inode: path} of the regular files in ``directories`` (one level of subdirectories
    too) and of ``extra`` paths: what a checkpoint's file handles can be matched to."""
    known = {}
    paths = list(extra)
    for directory in directories:
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            path = os.path.join(directory, name)
            paths.append(path)
            if os.path.isdir(path) and not os.path.islink(path):
                try:
                    paths += [os.path.join(path, n) for n in os.listdir(path)]
                except OSError:
                    pass
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        if os.path.isfile(path):
            known.setdefault(st.st_ino, os.path.abspath(path))
    return known


def _flags(pflags):
    return (("r" if pflags & 4 else "-") + ("w" if pflags & 2 else "-")
            + ("x" if pflags & 1 else "-"))


def _align4(n):
    return (n + 3) & ~3


# --- output ---------------------------------------------------------------------------------
def human_size(n):
    if n is None:
        return "?"
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f} {unit}"
    return f"{n} B"


def render_compact(report):
    """The inspection in a few short lines, for an agent event (a line the Buildbot worker
    does not split): repeated per-thread notes folded, referenced files by name."""
    lines = [f"{os.path.basename(report['path'])}: {human_size(report['size'])}"
             + (f", {report['layout']} layout" if report.get("layout") else "")
             + f", {report['threads']} thread{'s' if report['threads'] != 1 else ''}"
             + (f", command {report['command']}" if report.get("command") else "")]
    if report["notes"]:
        names = [n["name"] for n in report["notes"]]
        head = [n for n in names[:3] if n not in ("NT_PRSTATUS", "NT_FPREGSET",
                                                  "NT_DRAGONFLY_TLS")]
        per = names[len(head):]
        group = per[:3 if "NT_DRAGONFLY_TLS" in per[:3] else 2]
        folded = (group and len(per) % len(group) == 0
                  and per == group * (len(per) // len(group)))
        tail = (f"{len(per) // len(group)} × ({', '.join(group)})" if folded
                else ", ".join(per[:12]) + (" …" if len(per) > 12 else ""))
        lines.append("notes: " + ", ".join(head + ([tail] if tail else [])))
    if report["mappings"]:
        lines.append("mappings: " + ", ".join(
            f"{m['flags']} {m['vaddr']:#x} {human_size(m['memsz'])}"
            for m in report["mappings"][:6]) + (" …" if len(report["mappings"]) > 6 else ""))
    refs = ckptnotes.referenced(report)
    if refs:
        lines.append("by handle: " + ", ".join(
            os.path.basename(r["path"]) if r.get("path") else f"inode {r['ino']}"
            for r in refs[:8]) + (" …" if len(refs) > 8 else ""))
    if report["problems"]:
        lines.append("problems:")
        lines += [f"  {p}" for p in report["problems"][:5]]
    else:
        lines.append("no problems found")
    return "\n".join(lines)


def render(report):
    lines = [f"{report['path']}: {human_size(report['size'])}"
             + (f", {report['layout']} layout" if report.get("layout") else "")
             + f", {report['threads']} thread{'s' if report['threads'] != 1 else ''}"
             + (f", command {report['command']}" if report.get("command") else "")]
    if report["notes"]:
        lines.append("notes:")
        for n in report["notes"]:
            lines.append(f"  {n['owner']:<10} {n['name']:<19} {n['descsz']:>6} bytes")
    if report["mappings"]:
        lines.append("mappings:")
        for m in report["mappings"]:
            lines.append(f"  {m['flags']} {m['vaddr']:#014x} {human_size(m['memsz']):>10}"
                         f"  (in file: {human_size(m['filesz'])} at {m['offset']})")
    if report["maps"]:
        lines.append("mappings by file handle (NT_DRAGONFLY_MAPS):")
        for m in report["maps"]:
            lines.append(f"  {_flags(m['pflags'])} {m['vaddr']:#014x} "
                         f"{human_size(m['memsz']):>10}  {m['maptype']}, inode "
                         f"{m['handle']['ino']}" + (f" {m['path']}" if m.get("path") else ""))
    if report["files"]:
        lines.append("files (NT_DRAGONFLY_FILES):")
        for f in report["files"]:
            what = (f"inode {f['handle']['ino']}" + (f" {f['path']}" if f.get("path") else "")
                    if f.get("handle") else f"{len(f.get('kevents', []))} kevent(s)")
            lines.append(f"  fd {f['fd']} {f['type']}: offset {f['offset']}, {what}")
    refs = ckptnotes.referenced(report)
    if refs:
        lines.append("referenced files (must stay unchanged until the restore):")
        for r in refs:
            lines.append(f"  {r.get('path') or 'inode ' + str(r['ino']) + ' (unknown file)'}"
                         f" — {', '.join(r['as'][:4])}" + (" …" if len(r["as"]) > 4 else ""))
    if report["problems"]:
        lines.append("problems:")
        lines += [f"  {p}" for p in report["problems"]]
    else:
        lines.append("no problems found")
    return "\n".join(lines)


def summary_line(report):
    """One line for a step summary or a log header."""
    if report["problems"]:
        return f"checkpoint file: {report['problems'][0]}"
    return (f"checkpoint file: {human_size(report['size'])}, {report['threads']} threads, "
            f"{len(report['mappings'])} mappings, {report['layout']} layout")


def inspect_file(path, read_headers=read_headers, known=None):
    """A JSON-able report: ``problems`` is empty when the file looks restorable.
    ``read_headers`` reads the ELF and program headers (``inspect`` passes pyelftools');
    ``known`` ({inode: path}) names the files the handles refer to (default: the files next
    to the checkpoint, where a vkernel session keeps them)."""
    report = {"path": os.fspath(path), "size": None, "problems": [], "threads": 0,
              "layout": None, "notes": [], "mappings": [], "files": [], "maps": []}
    try:
        with open(path, "rb") as fh:
            report["size"] = os.fstat(fh.fileno()).st_size
            _inspect(fh, report, read_headers)
    except OSError as exc:
        report["unreadable"] = True
        report["problems"].append(f"cannot read {path}: {exc.strerror or exc}")
    except Exception as exc:  # noqa: BLE001 - a damaged file is reported, never raised
        report["problems"].append(f"unreadable ELF structure: {exc}")
    if report["files"] or report["maps"]:
        if known is None:
            known = known_files(os.path.dirname(os.path.abspath(path)))
        ckptnotes.name_handles(report, known)
        report["referenced"] = ckptnotes.referenced(report)
    return report


