"""The session ledger: every resource the agent allocates, written down before it exists.

``ledger.jsonl`` is append-only and fsync'd line by line. An ``alloc`` record comes first (so a
crash in the middle of an allocation still leaves a trace), ``update`` records add what is only
known afterwards (a pid, a tap unit), and a ``release`` record closes the entry. Whatever is
allocated and not released is what ``shutdown`` and ``cleanup --stale`` must undo.

A record that sets a ``pid`` also gets ``pid_identity`` (boot and start time, see
``procs.identity``), so a pid reused after a reboot is never taken for the recorded process.

Every session that allocates something also registers in the host-wide *session registry*
(``<state dir>/sessions/``, one symlink per session dir), because sessions live in many places
(each builder's directory on each worker, each ``SSHTransport(workdir=...)``) and ``cleanup
--stale`` must find all of them, not only the ones under its own builder. The state dir is
``$VKCKPT_STATE_DIR``, else ``~/.vkckpt`` of the user the agent runs as.
"""
import json
import os
import stat
import time

from . import procs

LEDGER_NAME = "ledger.jsonl"
STATE_DIR_ENV = "VKCKPT_STATE_DIR"

# resource kinds, in the order they must be released (processes before the files they hold,
# mounts before the vn unit under them)
RELEASE_ORDER = ("supervisor", "vkernel", "process", "mount", "vn", "tap", "file")


class Ledger:
    def __init__(self, session_dir):
        self.session_dir = os.fspath(session_dir)
        self.path = os.path.join(self.session_dir, LEDGER_NAME)

    def _append(self, record):
        record.setdefault("time", round(time.time(), 3))
        data = (json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n").encode()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # a torn record from a crash must not swallow this one
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _next_id(self):
        return max((r.get("id", 0) for r in self.records()), default=0) + 1

    def allocate(self, kind, **attrs):
        """Record an allocation about to happen; returns the entry id."""
        entry_id = self._next_id()
        self._append({"op": "alloc", "id": entry_id, "kind": kind, **_with_identity(attrs)})
        # after the record: the registry drops pointers to dirs without a ledger
        register(self.session_dir)
        return entry_id

    def update(self, entry_id, **attrs):
        self._append({"op": "update", "id": entry_id, **_with_identity(attrs)})

    def release(self, entry_id, **attrs):
        self._append({"op": "release", "id": entry_id, **attrs})

    def records(self):
        """Every parseable record, in order (a torn last line is skipped)."""
        try:
            with open(self.path, encoding="utf-8", errors="replace") as fh:
                lines = fh.readlines()
        except OSError:
            return []
        out = []
        for line in lines:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and isinstance(rec.get("id"), int):
                out.append(rec)
        return out

    def entries(self):
        """``{id: entry}`` with updates merged; released entries carry ``released: True``."""
        entries = {}
        for rec in self.records():
            op, rid = rec.get("op"), rec["id"]
            fields = {k: v for k, v in rec.items() if k not in ("op", "time")}
            if op == "alloc":
                entries[rid] = dict(fields, released=False)
            elif rid in entries and op == "update":
                entries[rid].update(fields)
            elif rid in entries and op == "release":
                entries[rid]["released"] = True
        return entries

    def outstanding(self):
        """Entries not yet released, in release order (latest allocation first within a kind)."""
        live = [e for e in self.entries().values() if not e["released"]]
        rank = {k: i for i, k in enumerate(RELEASE_ORDER)}
        return sorted(live, key=lambda e: (rank.get(e.get("kind"), len(rank)), -e["id"]))


def _with_identity(attrs):
    pid = attrs.get("pid")
    if isinstance(pid, int) and "pid_identity" not in attrs:
        # null when it cannot be told: an earlier pid's identity must not stay with this pid
        attrs = dict(attrs, pid_identity=procs.identity(pid))
    return attrs


# --- the host-wide session registry ---------------------------------------------------------
def state_dir(environ=None):
    environ = os.environ if environ is None else environ
    return os.path.abspath(environ.get(STATE_DIR_ENV) or os.path.expanduser("~/.vkckpt"))


def registry_dir(environ=None):
    return os.path.join(state_dir(environ), "sessions")


def _pointer(session_dir, environ=None):
    import hashlib      # here: most agent commands never touch the registry (start-up time)
    key = hashlib.sha256(os.path.abspath(session_dir).encode("utf-8", "surrogateescape"))
    return os.path.join(registry_dir(environ), key.hexdigest()[:24])


def register(session_dir, environ=None):
    """Point the registry at ``session_dir`` (idempotent). A registry that cannot be written
    must not stop the allocation: ``cleanup --stale`` reports it (check_registry)."""
    pointer = _pointer(session_dir, environ)
    try:
        os.makedirs(os.path.dirname(pointer), mode=0o700, exist_ok=True)
        os.symlink(os.path.abspath(session_dir), pointer)
    except FileExistsError:
        pass
    except OSError:
        pass


def unregister(session_dir, environ=None):
    try:
        os.unlink(_pointer(session_dir, environ))
    except OSError:
        pass


def check_registry(environ=None):
    """None when the registry is usable, else why not. Its pointers name directories whose
    pids cleanup kills and whose mounts it removes, so nobody else may write it."""
    path = registry_dir(environ)
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.stat(path)
    except OSError as exc:
        return f"cannot create the session registry {path}: {exc.strerror or exc}"
    if st.st_uid != os.geteuid():
        return f"the session registry {path} belongs to uid {st.st_uid}, not to this user"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"the session registry {path} is writable by other users"
    if not os.access(path, os.W_OK | os.X_OK):
        return f"the session registry {path} is not writable"
    return None


def registered_sessions(environ=None):
    """Session dirs in the registry; pointers whose ledger is gone are removed."""
    path = registry_dir(environ)
    try:
        names = sorted(os.listdir(path))
    except OSError:
        return []
    found = []
    for name in names:
        pointer = os.path.join(path, name)
        try:
            target = os.readlink(pointer)
        except OSError:
            continue
        if os.path.isfile(os.path.join(target, LEDGER_NAME)):
            found.append(target)
        else:
            try:
                os.unlink(pointer)
            except OSError:
                pass
    return found
