"""Releasing what a session's ledger holds: ``shutdown``'s last part and ``cleanup --stale``."""
import os
import re
import shutil

from . import hostcmd, procs
from .ledger import LEDGER_NAME, Ledger, registered_sessions, unregister

_NOT_THERE = re.compile(r"not (currently )?mounted|not configured|not in use|no such|"
                        r"does not exist|invalid argument", re.I)


def release_entry(entry, env=None):
    """Undo one ledger entry; returns a short description. Raises when it could not."""
    kind = entry.get("kind")
    if kind in ("supervisor", "process"):
        pid = entry.get("pid")
        if _reused(entry):
            return f"{kind} pid {pid} (gone; the pid now names another process, left alone)"
        gone = procs.stop(pid) if pid else True
        if not gone:
            raise RuntimeError(f"{kind} pid {pid} survived SIGKILL")
        return f"{kind} pid {pid}" if pid else f"{kind} (never started)"
    if kind == "vkernel":
        reused = _reused(entry)
        parent = None if reused else entry.get("pid")
        # the pidfile has no identity of its own: after a reboot its pid is stale
        child = None
        if procs.same_boot(entry.get("pid_identity")):
            child = procs.read_pidfile(entry.get("pidfile") or "")
        if reused and child == entry.get("pid"):
            child = None
        if child and child != parent:
            procs.kill(child)
        if parent:
            procs.kill(parent)
        if (child and procs.alive(child)) or (parent and procs.alive(parent)):
            raise RuntimeError(f"vkernel pids {parent}/{child} survived SIGKILL")
        if reused and not child:
            return f"vkernel pid {entry['pid']} (gone; the pid now names another process, " \
                   f"left alone)"
        return f"vkernel pid {parent}" + (f" (child {child})" if child else "")
    if kind == "mount":
        path = entry["path"]
        try:
            hostcmd.run(["umount", path], env=env)
        except hostcmd.CommandFailed as exc:
            if not _NOT_THERE.search(exc.output):
                hostcmd.run(["umount", "-f", path], env=env)
        return f"mount {path}"
    if kind == "vn":
        unit = entry["unit"]
        try:
            hostcmd.run(["vnconfig", "-u", unit], env=env)
        except hostcmd.CommandFailed as exc:
            if not _NOT_THERE.search(exc.output) and vn_in_use(unit, env):
                raise
        return f"vn unit {unit}"
    if kind == "tap":
        name = entry["name"]
        try:
            hostcmd.run(["ifconfig", name, "destroy"], env=env)
        except hostcmd.CommandFailed as exc:
            if not _NOT_THERE.search(exc.output):
                raise
        return f"tap {name}"
    if kind == "file":
        path = entry["path"]
        if entry.get("keep"):
            return f"file {path} (kept)"
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return f"file {path}"
    return f"{kind} (nothing to do)"


def _ours(entry):
    """The entry's pid still names the process the ledger recorded (see procs.identity)."""
    return procs.same_process(entry.get("pid"), entry.get("pid_identity"))


def _reused(entry):
    """A live process holds the entry's pid, but not the one the ledger recorded."""
    pid = entry.get("pid")
    return bool(pid) and procs.alive(pid) and not _ours(entry)


def vn_in_use(unit, env=None):
    try:
        out = hostcmd.run(["vnconfig", "-l"], env=env, check=False)
    except Exception:  # noqa: BLE001 - no vnconfig: nothing can be in use
        return False
    for line in out.splitlines():
        if line.startswith(unit + ":"):
            return "not in use" not in line
    return False


def release_all(session_dir, emitter=None, env=None, keep=()):
    """Release every outstanding entry of a session; returns (released, problems)."""
    ledger = Ledger(session_dir)
    released, problems = [], []
    for entry in ledger.outstanding():
        if entry.get("kind") in keep:
            continue
        try:
            what = release_entry(entry, env)
        except Exception as exc:  # noqa: BLE001 - report every entry, release the rest
            problems.append(f"{entry.get('kind')} #{entry['id']}: {exc}")
            if emitter:
                emitter.human(f"could not release {entry.get('kind')} #{entry['id']}: {exc}")
            continue
        ledger.release(entry["id"], by="agent")
        released.append(what)
        if emitter:
            emitter.human(f"released {what}")
    if not ledger.outstanding():
        unregister(session_dir)  # nothing left for a later cleanup to find here
    return released, problems


def find_sessions(root):
    """Session dirs under ``root`` (any depth) that hold a ledger."""
    for dirpath, dirnames, filenames in os.walk(root):
        if LEDGER_NAME in filenames:
            yield dirpath
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]


def host_sessions(root=None, exclude=None):
    """Every session dir on this host: the registry's, plus those under ``root`` (sessions
    an older agent made before the registry existed). ``exclude``: the caller's own."""
    seen, found = set(), []
    skip = os.path.realpath(exclude) if exclude else None
    scanned = list(find_sessions(root)) if root and os.path.isdir(root) else []
    for path in registered_sessions() + scanned:
        real = os.path.realpath(path)
        if real in seen or real == skip:
            continue
        seen.add(real)
        found.append(path)
    return found


def prune_sessions(root, keep, exclude=None):
    """Remove the session dirs directly under ``root`` beyond the ``keep`` newest (by when
    their ledger began: a cleanup's own releases must not make an old session look new) whose
    ledgers hold nothing outstanding: their files were uploaded by CollectArtifacts, and a
    builder's sessions would otherwise grow without end (a memory image each). Returns the
    removed paths."""
    if not root or not os.path.isdir(root) or keep is None or keep < 0:
        return []
    skip = os.path.realpath(exclude) if exclude else None
    dirs = []
    for name in os.listdir(root):
        path = os.path.join(root, name)
        ledger = os.path.join(path, LEDGER_NAME)
        if os.path.isfile(ledger) and os.path.realpath(path) != skip:
            records = Ledger(path).records()
            began = records[0].get("time") if records else None
            dirs.append((began if isinstance(began, (int, float)) else
                         os.path.getmtime(ledger), path))
    dirs.sort(reverse=True)
    removed = []
    for _, path in dirs[keep:]:
        if Ledger(path).outstanding():
            continue        # still holds something: cleanup reports it, never deletes it
        shutil.rmtree(path, ignore_errors=True)
        unregister(path)
        removed.append(path)
    return removed


def supervisor_alive(session_dir):
    ledger = Ledger(session_dir)
    sup = [e for e in ledger.outstanding() if e.get("kind") == "supervisor"]
    return any(_ours(e) for e in sup)
