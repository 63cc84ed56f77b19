"""How a simulated disk image stores its MBR, disklabel and filesystem.

A real image holds an MBR, a BSD disklabel and a UFS filesystem. The simulation keeps the file
the same size (the sparse file ``vnconfig -T -S`` made) but stores:

* bytes 0..4095: ``SIMFS1\\n`` then a JSON header, NUL padded —
  ``{"mbr": bool, "bootcode": bool, "labels": {slice: {"partitions": {letter: [size, offset,
  fstype]}, "bootblocks": bool}}, "fs": {"part": "s1a", "type": "ufs", "size": n} | null}``
* bytes 4096..: the filesystem's contents as a tar archive of ``fs.size`` bytes.

A file without the magic (fresh, zeroed, or not an image at all) has no MBR, no label, no
filesystem. ``pack`` and ``unpack`` are what ``umount`` and ``mount`` (and the vkernel's root
mount) do with a directory.
"""
import json
import os

MAGIC = b"SIMFS1\n"
HEADER_SIZE = 4096
SECTOR = 512


class SimfsError(Exception):
    """A filesystem operation failed; the message is errno-like (``No space left on device``)."""


def empty_meta():
    return {"mbr": False, "bootcode": False, "labels": {}, "fs": None}


def read_meta(path):
    """The image's header, or an empty one when the file carries none."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEADER_SIZE)
    except OSError:
        return empty_meta()
    if not head.startswith(MAGIC):
        return empty_meta()
    try:
        meta = json.loads(head[len(MAGIC):].split(b"\0", 1)[0].decode())
    except (ValueError, UnicodeDecodeError):
        return empty_meta()
    if not isinstance(meta, dict):
        return empty_meta()
    base = empty_meta()
    base.update(meta)
    return base


def write_meta(path, meta):
    data = MAGIC + json.dumps(meta, sort_keys=True).encode()
    if len(data) >= HEADER_SIZE:
        raise SimfsError("label too large")
    with open(path, "r+b") as f:
        f.write(data.ljust(HEADER_SIZE, b"\0"))


def capacity(path):
    """Bytes available to the filesystem (the image size minus the header)."""
    try:
        return max(0, os.path.getsize(path) - HEADER_SIZE)
    except OSError:
        return 0


def has_partition(meta, slice_no, letter):
    label = meta.get("labels", {}).get(str(slice_no))
    return bool(label) and letter in label.get("partitions", {})


def filesystem(meta, part):
    """The fs record when partition ``part`` (``s1a``) holds one, else None."""
    fs = meta.get("fs")
    if isinstance(fs, dict) and fs.get("part") == part:
        return fs
    return None


def newfs(path, part, fstype="ufs"):
    """An empty filesystem on ``part``; it replaces whatever filesystem the image held."""
    meta = read_meta(path)
    meta["fs"] = {"part": part, "type": fstype, "size": 0, "clean": True}
    write_meta(path, meta)
    with open(path, "r+b") as f:  # an empty tar is two zero blocks: clear any old archive head
        f.seek(HEADER_SIZE)
        f.write(b"\0" * 1024)


def pack(directory, path, part):
    """Store ``directory``'s contents as the filesystem of ``part`` (what umount writes back)."""
    meta = read_meta(path)
    fs = filesystem(meta, part)
    if fs is None:
        raise SimfsError("Invalid argument")
    # imported here: most simulated tools never pack an image
    import shutil
    import tarfile
    import tempfile
    tmp_dir = os.path.dirname(os.path.abspath(path))
    with tempfile.TemporaryFile(dir=tmp_dir) as tmp:
        with tarfile.open(fileobj=tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in sorted(os.listdir(directory)):
                tar.add(os.path.join(directory, name), arcname=name)
        size = tmp.tell()
        if size > capacity(path):
            raise SimfsError("No space left on device")
        tmp.seek(0)
        with open(path, "r+b") as out:
            out.seek(HEADER_SIZE)
            shutil.copyfileobj(tmp, out)
    fs["size"] = size
    fs["clean"] = True
    write_meta(path, meta)
    return size


def unpack(path, part, directory):
    """Extract the filesystem of ``part`` into ``directory`` (what mount makes visible)."""
    meta = read_meta(path)
    fs = filesystem(meta, part)
    if fs is None:
        raise SimfsError("Invalid argument")
    os.makedirs(directory, exist_ok=True)
    if not fs.get("size"):
        return 0
    import tarfile
    with open(path, "rb") as f:
        f.seek(HEADER_SIZE)
        try:
            with tarfile.open(fileobj=f, mode="r|") as tar:
                tar.extractall(directory, filter="tar")
        except (tarfile.TarError, OSError) as exc:
            raise SimfsError(f"Input/output error ({exc})") from exc
    return fs["size"]


def empty_directory(directory):
    """Remove everything inside ``directory`` but keep the directory (the mount point)."""
    import shutil
    for name in os.listdir(directory):
        p = os.path.join(directory, name)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        else:
            os.unlink(p)
