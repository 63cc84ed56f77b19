"""Can the *host* kernel dump a vkernel? Asked of a small helper, never of the vkernel.

Dumping a vkernel needs the GSoC changes in the host kernel too (reference/dragonfly.md §23):
the VPAGETABLE memory recorded by file handle and the ``NT_DRAGONFLY_*`` notes. A GSoC vkernel
on a stock host gets a stock-layout file back, exits 0, and cannot be restored. So before any
signal reaches the vkernel, a helper is checkpointed: ``sleep 60`` (from PATH) with fd 3 open on
a regular file of its own, in a private temporary cwd, gets SIGCKPT (33: checkpoint and go on);
the file ``kern.ckptfile`` names (``%N`` = the helper's p_comm, ``%P``, ``%U``) is read back;
a host with the GSoC changes writes ``NT_DRAGONFLY_FILES`` for that fd, a stock host does not.
The helper is killed and everything made for it removed; the ledger holds them meanwhile.
The answer is kept in the session (``host-ckpt.json``): it is the host's, not the vkernel's.
"""
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import tempfile
import time

from . import procs
from .ckptname import expand, p_comm
from .ckptcheck import NT_DRAGONFLY_FILES, inspect_file
from .ledger import Ledger

SIGCKPT = 33
CACHE = "host-ckpt.json"
WAIT = 5.0
TICK = 0.02
NO_SUPPORT = "host kernel has no vkernel checkpoint support"
NO_SUPPORT_FIX = ("boot the host on a kernel with the GSoC 2013 checkpoint changes "
                  "(pdziepak/DragonFlyBSD vkernel_chkpt, or master with them ported): a "
                  "stock host kernel cannot record a vkernel's memory")


def _raise_core_limit():
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
        if soft != hard:
            resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    except (OSError, ValueError):
        pass


def _wait_for_file(path, pid, timeout):
    """The helper's checkpoint once complete (no truncation); None when none came."""
    deadline = time.monotonic() + timeout
    report = None
    while time.monotonic() < deadline:
        if os.path.exists(path):
            report = inspect_file(path, known={})
            if report.get("notes") and not any("truncated" in p for p in report["problems"]):
                return report
        if not procs.alive(pid):
            break
        select.select([], [], [], TICK)   # the kernel writes it; nothing to wait on but time
    return report if report and report.get("notes") else None


def _wait_running(pid, comm, timeout=2.0):
    """Until ``ps`` shows the helper as ``comm`` (it has exec'd), or it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and procs.alive(pid):
        fields = procs.ps_fields(pid, "comm")
        if fields and fields[0] == comm:
            return True
        select.select([], [], [], TICK)
    return False


def check(session, template, timeout=WAIT, attempts=3):
    """{"supported": True/False/None, "reason": str, ...}: None when it could not be told.
    A helper that died without a file was signalled before it could take SIGCKPT's default
    action (a just-started process): it is tried again, up to ``attempts`` times."""
    sleep = shutil.which("sleep")
    if sleep is None:
        return {"supported": None, "reason": "no sleep(1) on PATH to checkpoint as a helper"}
    for _ in range(attempts):
        result = _check_once(session, template, sleep, timeout)
        if not result.pop("died", False):
            break
    return result


def _check_once(session, template, sleep, timeout):
    ledger = Ledger(session.dir)
    work = tempfile.mkdtemp(prefix="vkckpt-hostprobe-", dir=session.dir)
    held = os.path.join(work, "held")
    entries = [ledger.allocate("file", path=held, role="host probe: the helper's open file")]
    proc = path = None
    try:
        with open(held, "wb") as fh:
            fh.write(b"vkckpt host probe\n")
        fd = os.open(held, os.O_RDONLY)
        try:
            def child():
                os.dup2(fd, 3)
                _raise_core_limit()
            proc = subprocess.Popen([sleep, "60"], cwd=work, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    pass_fds=(3,) if fd != 3 else (), close_fds=True,
                                    preexec_fn=child, start_new_session=True)
        finally:
            os.close(fd)
        entries.append(ledger.allocate("process", pid=proc.pid, role="host probe helper"))
        _wait_running(proc.pid, p_comm(sleep))
        name = expand(template, p_comm(sleep), proc.pid, os.geteuid())
        path = os.path.normpath(os.path.join(work, name))
        entries.append(ledger.allocate("file", path=path, role="host probe checkpoint"))
        os.kill(proc.pid, SIGCKPT)
        report = _wait_for_file(path, proc.pid, timeout)
        if report is None:
            died = proc.poll() is not None
            how = "the helper died" if died else f"no file within {timeout:g} s"
            return {"supported": None, "path": path, "died": died, "reason":
                    f"the host kernel wrote no checkpoint of a helper ({os.path.basename(sleep)}"
                    f" pid {proc.pid}, SIGCKPT): {how}; check kern.ckptgroup (root too) and "
                    "RLIMIT_CORE"}
        dfly = [n for n in report["notes"] if n["owner"] == "DragonFly"]
        files = any(n["type"] == NT_DRAGONFLY_FILES for n in dfly)
        layout = report.get("layout") or "unknown"
        if files:
            return {"supported": True, "layout": layout, "reason":
                    "a helper's checkpoint carries NT_DRAGONFLY_FILES (GSoC host kernel)"}
        return {"supported": False, "layout": layout, "reason":
                f"a helper's checkpoint has no NT_DRAGONFLY_FILES note ({layout} layout): "
                "the host kernel cannot record a vkernel's memory"}
    except OSError as exc:
        return {"supported": None, "reason": f"host probe failed: {exc}"}
    finally:
        if proc is not None:
            procs.signal_pid(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)
        if path and os.path.exists(path):  # an absolute kern.ckptfile points elsewhere
            try:
                os.unlink(path)
            except OSError:
                pass
        for entry in entries:
            ledger.release(entry, by="host probe")


def cached(session, template, fresh=False):
    """The host's answer, asked once per session (``fresh``: ask again)."""
    path = session.file(CACHE)
    if not fresh:
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
            if isinstance(data, dict) and data.get("supported") is not None:
                return data
        except (OSError, ValueError):
            pass
    data = check(session, template)
    if data.get("supported") is not None:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(data, fh, sort_keys=True)
    return data
