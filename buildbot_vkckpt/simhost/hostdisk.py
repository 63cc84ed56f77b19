"""Simulated DragonFly disk tools: fdisk, disklabel, newfs, fsck (reference/dragonfly.md §10,
§11), and the device-name helpers the host tools share. Disk images are stored as described in
``simfs``."""
import os
import re
import sys

from . import bsdgetopt as getopt
from . import simfs


class ToolError(Exception):
    """Ends a tool with ``prog: message`` on stderr and the given exit status."""

    def __init__(self, message, status=1):
        super().__init__(message)
        self.status = status


def parse_size(text, default_unit="m"):
    """``2g``, ``512M``, ``100`` (→ default unit) in bytes; None when malformed."""
    m = re.fullmatch(r"(\d+)([kKmMgGtT]?)", text or "")
    if not m:
        return None
    unit = (m.group(2) or default_unit).lower()
    return int(m.group(1)) << {"k": 10, "m": 20, "g": 30, "t": 40}[unit]


DEVICE = re.compile(r"(?:/dev/)?(vn\d+)(?:s(\d+)([a-p])?)?")


def parse_device(text):
    """``/dev/vn0s1a`` → ("vn0", "1", "a"); None when it is not a vn device name."""
    m = DEVICE.fullmatch(text or "")
    return m.groups() if m else None


def vn_file(state, unit, dev):
    """The file a configured unit covers, or the error a real open of the device would give."""
    if unit not in state["vn"]:
        raise ToolError(f"{dev}: No such file or directory")
    path = state["vn"][unit]
    if not path:
        raise ToolError(f"{dev}: Device not configured")
    return path


# --- fdisk / disklabel / newfs / fsck -------------------------------------------------------
def _image_for(host, name, want_slice=False, want_part=False):
    """(image path, unit, slice, letter) for a device argument, with the real open errors."""
    dev = parse_device(name)
    shown = name if name.startswith("/dev/") else f"/dev/{name}"
    if not dev or (want_slice and not dev[1]) or (want_part and not dev[2]):
        raise ToolError(f"{shown}: No such file or directory")
    unit, slice_no, letter = dev
    path = vn_file(host.load_state(), unit, shown)
    meta = simfs.read_meta(path)
    if slice_no and not meta["mbr"]:
        raise ToolError(f"{shown}: No such file or directory")
    if letter and not simfs.has_partition(meta, slice_no, letter):
        raise ToolError(f"{shown}: No such file or directory")
    return path, meta, unit, slice_no, letter


def fdisk(host, args):
    try:
        opts, rest = getopt.getopt(args, "BIaistuv")
    except getopt.GetoptError:
        raise ToolError("usage: fdisk [-BIaistu] [-b bootcode] [-1234] [disk]")
    flags = {o for o, _ in opts}
    if not rest:
        raise ToolError("usage: fdisk [-BIaistu] [-b bootcode] [-1234] [disk]")
    dev = parse_device(rest[0])
    if not dev or dev[1]:
        raise ToolError(f"cannot open disk {rest[0]}: No such file or directory")
    try:
        path = vn_file(host.load_state(), dev[0], f"/dev/{dev[0]}")
    except ToolError as exc:
        raise ToolError(f"cannot open disk {exc}")
    meta = simfs.read_meta(path)
    sectors = os.path.getsize(path) // simfs.SECTOR
    print(f"******* Working on device /dev/{dev[0]} *******")
    if "-I" in flags:
        meta.update(mbr=True, labels={})
        meta["fs"] = None
    if "-B" in flags:
        meta["bootcode"] = True
    if flags & {"-I", "-B"}:
        simfs.write_meta(path, meta)
    elif meta["mbr"]:
        print(f"The data for partition 1 is:\nsysid 165,(DragonFly/FreeBSD/NetBSD/386BSD)\n"
              f"    start 63, size {sectors - 63} (meg {sectors // 2048})")
    else:
        print("The data for partition 1 is:\n<UNUSED>")
    return 0


LABEL_LINE = re.compile(r"\s*([a-p]):\s+(\S+)\s+(\S+)\s+(\S+)")
FSTYPES = {"4.2BSD", "unused", "swap", "hammer", "hammer2", "ccd", "vinum"}


def format_label(unit, slice_no, label, sectors):
    lines = [f"# /dev/{unit}s{slice_no}:", "type: unknown", f"disk: {unit}s{slice_no}",
             "label: ", "flags:", "bytes/sector: 512", "sectors/track: 32",
             "tracks/cylinder: 64", "sectors/cylinder: 2048",
             f"cylinders: {max(1, sectors // 2048)}", f"sectors/unit: {sectors}",
             "rpm: 3600", "interleave: 1", "trackskew: 0", "cylinderskew: 0",
             "headswitch: 0\t\t# milliseconds", "track-to-track seek: 0\t# milliseconds",
             "drivedata: 0 ", "", "16 partitions:", "#          size     offset    fstype"]
    for letter, (size, offset, fstype) in sorted(label["partitions"].items()):
        lines.append(f"  {letter}: {size:>9} {offset:>10} {fstype:>9}")
    return "\n".join(lines)


def parse_label(text, sectors):
    """Partitions of a label file; ``*`` size means the rest of the slice."""
    parts = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0]
        m = LABEL_LINE.match(line)
        if not m:
            continue
        letter, size, offset, fstype = m.groups()
        if fstype not in FSTYPES:
            raise ToolError(f"line {n}: Warning, unknown filesystem type: {fstype}")
        try:
            off = 0 if offset == "*" else int(offset)
            sz = sectors - off if size == "*" else int(size)
        except ValueError:
            raise ToolError(f"line {n}: bad partition size: {size}")
        parts[letter] = [sz, off, fstype]
    return parts


def disklabel(host, args):
    try:
        opts, rest = getopt.getopt(args, "rwRBen")
    except getopt.GetoptError:
        raise ToolError("usage: disklabel [-r] disk")
    flags = {o for o, _ in opts}
    if not rest:
        raise ToolError("usage: disklabel [-r] disk")
    path, meta, unit, slice_no, _ = _image_for(host, rest[0], want_slice=True)
    sectors = max(0, os.path.getsize(path) // simfs.SECTOR - 63)
    label = meta["labels"].get(slice_no)
    if "-w" in flags:
        if len(rest) < 2:
            raise ToolError("usage: disklabel -w [-r] disk type [packid]")
        meta["labels"][slice_no] = {"partitions": {"c": [sectors, 0, "unused"]},
                                    "bootblocks": False}
    elif "-R" in flags:
        if len(rest) < 2:
            raise ToolError("usage: disklabel -R [-r] disk protofile")
        try:
            with open(rest[1]) as f:
                text = f.read()
        except OSError as exc:
            raise ToolError(f"{rest[1]}: {exc.strerror}")
        meta["labels"][slice_no] = {"partitions": parse_label(text, sectors),
                                    "bootblocks": bool(label and label.get("bootblocks"))}
    elif "-B" in flags:
        if not label:
            raise ToolError(f"/dev/{unit}s{slice_no}: no disk label")
        label["bootblocks"] = True
    else:
        if not label:
            raise ToolError(f"/dev/{unit}s{slice_no}: no disk label")
        print(format_label(unit, slice_no, label, sectors))
        return 0
    simfs.write_meta(path, meta)
    return 0


def newfs(host, args):
    try:
        _, rest = getopt.getopt(args, "L:Ufb:f:i:m:o:s:")
    except getopt.GetoptError:
        raise ToolError("usage: newfs [ -fsoptions ] special-device")
    if not rest:
        raise ToolError("usage: newfs [ -fsoptions ] special-device")
    path, meta, unit, slice_no, letter = _image_for(host, rest[0], want_slice=True,
                                                    want_part=True)
    size, _, fstype = meta["labels"][slice_no]["partitions"][letter]
    if fstype != "4.2BSD":
        raise ToolError(f"{rest[0]}: `{letter}' partition type is not `4.2BSD'")
    simfs.newfs(path, f"s{slice_no}{letter}", "ufs")
    mb = size * simfs.SECTOR / 2**20
    print(f"{rest[0]}: {mb:.1f}MB ({size} sectors) block size 16384, fragment size 2048")
    print(f"\tusing {max(4, size // 376384)} cylinder groups of 183.77MB, 11761 blks, "
          "23552 inodes.")
    print("super-block backups (for fsck -b #) at:")
    print(" 32, 376384, 752736, 1129088")
    return 0


def fsck(host, args):
    try:
        opts, rest = getopt.getopt(args, "pynfB")
    except getopt.GetoptError:
        raise ToolError("usage: fsck [-dfnpy] [-B | -F] [-t fstype] [special | node] ...", 8)
    status = 0
    for name in rest:
        try:
            path, meta, unit, slice_no, letter = _image_for(host, name, want_slice=True,
                                                            want_part=True)
        except ToolError as exc:
            print(f"fsck: {exc}", file=sys.stderr)
            status = 8
            continue
        fs = simfs.filesystem(meta, f"s{slice_no}{letter}")
        if not fs:
            print(f"{name}: BAD SUPER BLOCK: MAGIC NUMBER WRONG", file=sys.stderr)
            status = 8
            continue
        print(f"{name}: FILESYSTEM CLEAN; SKIPPING CHECKS")
        print(f"{name}: clean, {max(0, simfs.capacity(path) - fs['size']) // 2048} free")
    return status
