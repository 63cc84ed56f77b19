"""Pack the agent (with the monitors it uses) into one executable zipapp.

Bytes depend only on the sources: fixed member order, fixed timestamps and modes, so the hash
changes exactly when the code does and the step re-uploads only then.

The guest suite's sources ride along under ``buildbot_vkckpt/suite/`` (data, not a package:
no Python of it is shipped), so ``image --suite builtin`` can install them on a host that
has nothing but the zipapp.

Each module rides with its bytecode (``.pyc`` beside the ``.py``): zipimport cannot cache what
it compiles, so without it every agent command compiled the whole agent again, most of its
start-up. The ``.pyc`` files are hash-checked (PEP 552): a host whose python3 is another
version, or a source that does not match, falls back to the ``.py``. They are compiled in a
child with a fixed hash seed, so the bytes stay a function of the sources (set constants are
ordered by string hashes).
"""
import hashlib
import io
import json
import os
import subprocess
import sys
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


# stdin: {name: source}; stdout: {name: hex of the checked-hash .pyc}
_COMPILE = """
import importlib._bootstrap_external as ext, importlib.util, json, sys
out = {}
for name, src in json.load(sys.stdin).items():
    data = src.encode()
    code = compile(data, name, "exec", dont_inherit=True)
    out[name] = bytes(ext._code_to_hash_pyc(code, importlib.util.source_hash(data), True)).hex()
json.dump(out, sys.stdout)
"""
_pyc_cache = {}


def _bytecode(sources):
    """{name: .pyc bytes} for {name: source bytes}; {} when they cannot be compiled here."""
    key = hashlib.sha256(json.dumps(sorted((n, s.decode()) for n, s in sources.items()))
                         .encode()).hexdigest()
    if key not in _pyc_cache:
        env = dict(os.environ, PYTHONHASHSEED="0")
        proc = subprocess.run([sys.executable, "-S", "-c", _COMPILE], env=env,
                              input=json.dumps({n: s.decode() for n, s in sources.items()}),
                              capture_output=True, text=True, timeout=120)
        _pyc_cache[key] = ({n: bytes.fromhex(h) for n, h in json.loads(proc.stdout).items()}
                           if proc.returncode == 0 else {})
    return _pyc_cache[key]


def _add(zf, name, data, mode=0o644):
    info = zipfile.ZipInfo(name, date_time=EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = mode << 16
    zf.writestr(info, data)


def zipapp_bytes():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        _add(zf, "__main__.py", MAIN)
        sources = {"buildbot_vkckpt/__init__.py": PACKAGE_INIT}
        for name, full in sorted(_sources()):
            with open(full, "rb") as fh:
                sources[name] = fh.read()
        pycs = _bytecode(sources)
        for name, data in sources.items():
            _add(zf, name, data)
            if name in pycs:
                _add(zf, name + "c", pycs[name])
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
