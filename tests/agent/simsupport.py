"""Running the agent against the simulated DragonFly host, and proving nothing leaked.

``BuiltHost`` is made once per test run (world, kernel and a root image built on a fresh
simulated host); ``SimSession`` is one test's view of it: its own session directory, the
agent as a subprocess with the host's PATH, fault injection and the leak check.
"""
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from buildbot_vkckpt.agent import procs, verify
from buildbot_vkckpt.agent.ledger import Ledger
from buildbot_vkckpt.monitor.agentlog import AgentLogMonitor
from buildbot_vkckpt.simhost.host import DEFAULT_STATE, SimHost
from buildbot_vkckpt.simhost.tree import create_source_tree

REPO = Path(__file__).resolve().parent.parent.parent
AGENT_TIMEOUT = 40
# the agent as the steps start it: -S, no site-packages (AgentStep.agent_argv); the checkout
# comes from PYTHONPATH (sim_env)
AGENT = [sys.executable, "-S", "-m", "buildbot_vkckpt.agent"]


def sim_env(host, **extra):
    env = host.env()
    env.update(VKCKPT_SIM_SPEED="0", MAKEOBJDIRPREFIX=str(host.obj), PYTHONPATH=str(REPO))
    env.update({k: str(v) for k, v in extra.items()})
    return env


def kernel_of(host, kernconf="VKERNEL64"):
    return host.obj / str(host.src).lstrip("/") / "sys" / kernconf / "kernel.debug"


def build_world_and_kernel(host):
    env = sim_env(host)
    for target in (["buildworld"], ["KERNCONF=VKERNEL64", "buildkernel"]):
        subprocess.run(["make", "-j", "2", *target], cwd=host.src, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    return kernel_of(host)


@dataclasses.dataclass
class AgentRun:
    returncode: int
    stdout: str
    stderr: str
    result: dict
    events: list

    @property
    def summary(self):
        return self.result.get("summary") or ""

    @property
    def details(self):
        return self.result.get("details") or {}

    def __str__(self):
        return f"exit {self.returncode}\n{self.stdout}\n{self.stderr}"


def parse_run(returncode, stdout, stderr):
    mon = AgentLogMonitor()
    mon.feed(stdout)
    mon.close()
    text = stdout.decode("utf-8", "replace")
    assert mon.result is not None, f"no result event (exit {returncode}):\n{text}\n{stderr!r}"
    return AgentRun(returncode, text, stderr.decode("utf-8", "replace"), mon.result, mon.events)


# DragonFly has no /proc: run the agent in a private mount namespace where /proc is an empty
# tmpfs. The simulator's own tools read the real one from $VKCKPT_SIMHOST/hostproc, bound there
# first (contract "Process tools without /proc"). Needs root and unshare(1).
# (the Linux tools by path: the simulated host's PATH has its own BSD mount)
_SYSTEM_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
_MOUNT = shutil.which("mount", path=_SYSTEM_PATH) or "/bin/mount"
_UNSHARE = shutil.which("unshare", path=_SYSTEM_PATH)
NOPROC_SCRIPT = (f'{_MOUNT} --bind /proc "$VKCKPT_SIMHOST/hostproc" && '
                 f'{_MOUNT} -t tmpfs -o size=64k noproc /proc && exec "$@"')


def noproc_available():
    return os.geteuid() == 0 and _UNSHARE is not None


def noproc_argv(argv):
    return [_UNSHARE, "-m", "--propagation", "private", "/bin/sh", "-c", NOPROC_SCRIPT,
            "sh", *argv]


def run_agent(env, *argv, timeout=AGENT_TIMEOUT, preexec_fn=None, noproc=False):
    cmd = [*AGENT, *map(str, argv)]
    if noproc:
        cmd = noproc_argv(cmd)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                          timeout=timeout, cwd=str(REPO), preexec_fn=preexec_fn)
    return parse_run(proc.returncode, proc.stdout, proc.stderr)


class BuiltHost:
    """A simulated host with world and VKERNEL64 built and one root image, made once."""

    def __init__(self, root, flavour=None, host_kernel=None):
        self.root = Path(root)
        self.flavour = flavour
        self.host = SimHost(self.root / "host").create(flavour=flavour,
                                                       host_kernel=host_kernel)
        create_source_tree(self.host)
        self.kernel = build_world_and_kernel(self.host)
        self.image = self.root / "root.img"
        run = self.image_run(self.root / "image-session", self.image)
        assert run.returncode == 0, run
        self.image_result = run

    def image_run(self, session, image, *extra, env=None):
        return run_agent(env or sim_env(self.host), "image", "--session", session,
                         "--src", self.host.src, "--objdir", self.host.obj,
                         "--image", image, "--size", "64m", *extra)


class SimSession:
    """One test's session on the shared host; ``check_no_leak`` runs after every test."""

    def __init__(self, built, tmp_path):
        self.built = built
        self.host = built.host
        self.tmp = Path(tmp_path)
        self.session = self.tmp / "session"
        self.extra_env = {}
        self.sessions = [self.session]
        self.images = [built.image]   # images this test boots: their guest roots are watched
        self.noproc = False        # run every agent command where /proc cannot be read

    # --- the agent ------------------------------------------------------------------------
    def env(self):
        return sim_env(self.host, **self.extra_env)

    def agent(self, *argv, session=None, timeout=AGENT_TIMEOUT, env=None, preexec_fn=None):
        session = session or self.session
        return run_agent(env or self.env(), argv[0], "--session", session, *argv[1:],
                         timeout=timeout, preexec_fn=preexec_fn, noproc=self.noproc)

    def boot_argv(self, timeout=5, silence=3, image=None, session=None):
        return ["boot", "--session", session or self.session, "--kernel", self.built.kernel,
                "--image", image or self.built.image, "--memory", "128m",
                "--timeout", timeout, "--silence", silence]

    def boot(self, timeout=5, silence=3, image=None, session=None, extra=()):
        return run_agent(self.env(), *self.boot_argv(timeout, silence, image, session),
                         *extra, noproc=self.noproc)

    def image_with(self, name, edits):
        """This test's own copy of the root image with some files edited (``edited_image``)."""
        image = edited_image(self.built.image, self.tmp / name, edits)
        self.images.append(image)
        return image

    def fault(self, **faults):
        self.host.set_faults({k.replace("_", "-"): v for k, v in faults.items()})

    # --- what the session left ------------------------------------------------------------
    def ledger_pids(self, session=None):
        pids = set()
        for entry in Ledger(session or self.session).entries().values():
            if entry.get("pid"):
                pids.add(entry["pid"])
        return pids

    def session_processes(self):
        """Live processes that belong to these sessions: by the ledgers' pids, by a command
        line naming a session dir, or by running inside the guest root of the image."""
        marks = [str(s) for s in self.sessions] + [str(i) + ".root" for i in self.images]
        found = {}
        pids = set().union(*(self.ledger_pids(s) for s in self.sessions))
        for pid in pids:
            if procs.alive(pid):
                found[pid] = "ledger: " + _cmdline(pid)
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == os.getpid():
                continue
            try:
                with open(f"/proc/{name}/cmdline", "rb") as fh:
                    cmdline = fh.read().replace(b"\0", b" ").decode(errors="replace")
                with open(f"/proc/{name}/stat") as fh:
                    zombie = fh.read().rpartition(")")[2].split()[0] == "Z"
                cwd = os.readlink(f"/proc/{name}/cwd")
            except OSError:
                continue
            if zombie:
                continue
            if any(m in cmdline or cwd.startswith(m) for m in marks):
                found[int(name)] = cmdline.strip() or cwd
        return found

    def leaks(self):
        problems = []
        state = self.host.load_state()
        used = {u: f for u, f in state.get("vn", {}).items() if f}
        if used:
            problems.append(f"vn units in use: {used}")
        if state.get("mounts"):
            problems.append(f"mounts: {state['mounts']}")
        for s in self.sessions:
            left = Ledger(s).outstanding()
            if left:
                problems.append(f"ledger of {s} holds {left}")
        for s in self.sessions:
            log = s / "supervisor.log"
            if log.exists() and "Traceback" in log.read_text(errors="replace"):
                problems.append(f"the supervisor of {s} crashed: {log.read_text()[-2000:]}")
        alive = self.session_processes()
        if alive:
            problems.append(f"processes alive: {alive}")
        return problems

    def check_no_leak(self):
        problems = self.leaks()
        if problems:
            self.force_cleanup()
        assert not problems, problems

    def force_cleanup(self):
        """Whatever a failed test left, so the next test starts clean."""
        for pid in self.session_processes():
            procs.signal_pid(pid, signal.SIGKILL)
        with self.host.update_state() as st:
            st["vn"] = dict(DEFAULT_STATE["vn"])
            st["mounts"] = {}

    def reset_host(self):
        self.host.set_faults({})
        with self.host.update_state() as st:
            st["sysctl"] = dict(DEFAULT_STATE["sysctl"])
        self.remove_guest_workload_dirs()

    def remove_guest_workload_dirs(self):
        """The simulated guest's /tmp is this machine's (docs/simhost-fidelity.rst): a guest
        killed before ``shutdown`` removed verify's workload directory leaves it there, where a
        real guest would leave it on its own disk."""
        for session in self.sessions:
            try:
                rec = json.loads((Path(session) / "verify.json").read_text())
            except (OSError, ValueError):
                continue
            path = str(rec.get("dir") or "")
            if verify.WORKLOAD_DIR.fullmatch(path):
                shutil.rmtree(path, ignore_errors=True)


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def copy_image(src, dest):
    shutil.copyfile(src, dest)
    stamp = Path(str(src) + ".stamp")
    if stamp.exists():
        shutil.copyfile(stamp, str(dest) + ".stamp")
    return Path(dest)


def edited_image(src, dest, edits):
    """A copy of root image ``src`` at ``dest`` whose files were changed the way an admin
    would on a mounted image: ``edits`` maps a path in the image (``etc/ttys``) to a function
    from the old text to the new."""
    from buildbot_vkckpt.simhost import simfs
    root = Path(str(dest) + ".root-edit")
    simfs.unpack(str(src), "s1a", str(root))
    for rel, edit in edits.items():
        path = root / rel
        path.write_text(edit(path.read_text() if path.exists() else ""))
    with open(dest, "wb") as fh:
        fh.truncate(os.path.getsize(src))
    simfs.write_meta(str(dest), simfs.read_meta(str(src)))
    simfs.pack(str(root), str(dest), "s1a")
    shutil.rmtree(root)
    return Path(dest)


def journal(session):
    path = Path(session) / "events.jsonl"
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
