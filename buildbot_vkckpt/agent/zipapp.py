"""Pack the agent (with the monitors it uses) into one executable zipapp.

Bytes depend only on the sources: fixed member order, fixed timestamps and modes, so the hash
changes exactly when the code does and the step re-uploads only then.

The guest suite's sources ride along under ``buildbot_vkckpt/suite/`` (data, not a package:
no Python of it is shipped), so ``image --suite builtin`` can install them on a host that
has nothing but the zipapp.
"""
import hashlib
import io
import os
import zipfile

from .image import SUITE_ARCHIVE_DIR, builtin_suite_files

PACKAGES = ("agent", "monitor", "protocol")
SHEBANG = b"#!/usr/bin/env python3\n"
EPOCH = (1980, 1, 1, 0, 0, 0)
PACKAGE_INIT = b'"""buildbot-vkckpt agent bundle (agent + monitor + protocol only)."""\n'
MAIN = b"import sys\nfrom buildbot_vkckpt.agent.cli import main\nsys.exit(main())\n"


def _sources():
    base = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for pkg in PACKAGES:
        root = os.path.join(base, pkg)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                if name.endswith(".py"):
                    full = os.path.join(dirpath, name)
                    yield "buildbot_vkckpt/" + os.path.relpath(full, base).replace(os.sep, "/"), full


def _add(zf, name, data, mode=0o644):
    info = zipfile.ZipInfo(name, date_time=EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = mode << 16
    zf.writestr(info, data)


def zipapp_bytes():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        _add(zf, "__main__.py", MAIN)
        _add(zf, "buildbot_vkckpt/__init__.py", PACKAGE_INIT)
        for name, full in sorted(_sources()):
            with open(full, "rb") as fh:
                _add(zf, name, fh.read())
        for rel, data, mode in builtin_suite_files():
            # shell scripts keep their exec bit; nothing else depends on the checkout's modes
            _add(zf, f"{SUITE_ARCHIVE_DIR}/{rel}", data, 0o755 if mode & 0o111 else 0o644)
    return SHEBANG + buf.getvalue()


def build_zipapp(dest_path):
    """Write the zipapp to ``dest_path`` (mode 0755); return its sha256 hex digest."""
    data = zipapp_bytes()
    tmp = f"{dest_path}.tmp{os.getpid()}"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, 0o755)
    os.replace(tmp, dest_path)
    return hashlib.sha256(data).hexdigest()
