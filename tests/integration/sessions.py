"""What a vkernel session holds on the worker, read from its ledger (agent/ledger.py) the way
an operator would: for tests that act while a session runs."""
import json
import time

from buildbot_vkckpt.agent.procs import alive
from buildbot_vkckpt.demo.runner import processes_matching


def ledger_entries(session):
    """{id: allocation record, with ``released``} of the session's ledger."""
    entries = {}
    try:
        lines = (session / "ledger.jsonl").read_text().splitlines()
    except OSError:
        return entries
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("op") == "alloc":
            entries[rec["id"]] = dict(rec, released=False)
        elif rec.get("id") in entries and rec.get("op") == "update":
            entries[rec["id"]].update(rec)
        elif rec.get("id") in entries and rec.get("op") == "release":
            entries[rec["id"]]["released"] = True
    return entries


def live_pids(session, kind):
    """Pids of the session's unreleased ``kind`` entries (vkernel, supervisor) still running."""
    return [e["pid"] for e in ledger_entries(session).values()
            if e.get("kind") == kind and not e["released"] and e.get("pid") and alive(e["pid"])]


def wait_for_live(base, kind, timeout=60):
    """The first session under ``base`` (any depth) with a running ``kind``, once there is one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ledger in base.rglob("ledger.jsonl"):
            if live_pids(ledger.parent, kind):
                return ledger.parent
        time.sleep(0.05)
    raise AssertionError(f"no session with a running {kind} under {base} within {timeout} s")


def processes_under(roots):
    """Live agent commands, supervisors and simulated vkernels whose command line names one of
    ``roots`` (a host root, a test's base directory): {pid: cmdline}."""
    roots = [str(r).encode() for r in roots]
    return {pid: cmdline.replace(bytes(1), b" ")[:120].decode()
            for pid, cmdline in processes_matching(
                lambda cmdline: any(r in cmdline for r in roots) and (
                    b"vkckpt-agent" in cmdline or b"simhost" in cmdline))
            if alive(pid)}


def session_factory(host, cycles, timeouts):
    """master.cfg lines that make ``f``: the ready-made factory's session steps in its order
    on the simulated ``host``, without the guest suite (not what these tests are about);
    ``timeouts`` holds boot, checkpoint and restore."""
    session = f"objdir={str(host.obj)!r}"
    boot = {"boot": timeouts["boot"]}
    cycle = {phase: timeouts[phase] for phase in ("checkpoint", "restore")}
    return f"""
f = util.BuildFactory()
f.addStep(steps.Git(repourl={f"file://{host.src}"!r}, branch="master", mode="incremental",
                    name="checkout", haltOnFailure=True))
f.addStep(CleanupStaleSessions(haltOnFailure=True))
f.addStep(BuildWorld(jobs=2, {session}, haltOnFailure=True))
f.addStep(BuildKernel(jobs=2, {session}, haltOnFailure=True))
f.addStep(MakeRootImage(image_size="64m", {session}, haltOnFailure=True))
f.addStep(BootVkernel(timeouts={boot!r}, memory="128m", {session},
                      haltOnFailure=True))
f.addStep(VkernelCheckpointCycle({cycles}, timeouts={cycle!r}))
f.addStep(ShutdownVkernel())
"""
