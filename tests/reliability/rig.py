"""A real master with one worker per simulated DragonFly host, for the load and fault suite.

Each host has its own worker (its environment points the agent at that host) and its own
session registry; builders are pinned to a host, two per host, and take the factory's host
lock, so at most one vkernel session runs per host at any time.
"""
import os
import signal
import time
from pathlib import Path

from buildbot_vkckpt.demo.localbb import LocalBuildbot
from buildbot_vkckpt.simhost import tree
from buildbot_vkckpt.simhost.host import SimHost
from tests.integration.sessions import ledger_entries, processes_under, session_factory

SUCCESS, WARNINGS, FAILURE, SKIPPED, EXCEPTION, RETRY, CANCELLED = range(7)


def factory_body(builders):
    """``builders``: {builder name: (worker name, host)}. The factory's session steps in its
    order, without the guest suite (not under test here), two cycles. Requests are not
    collapsed: eight forced builds must be eight builds."""
    out = ["from buildbot_vkckpt.factory import host_locks",
           "from buildbot_vkckpt.steps import *  # noqa: F401,F403"]
    for name, (worker, host) in builders.items():
        out.append(session_factory(host, cycles=2, timeouts={
            "boot": 30, "checkpoint": 60, "restore": 60}) + f"""
c['builders'].append(util.BuilderConfig(name={name!r}, factory=f, locks=host_locks(),
                     workernames=[{worker!r}], collapseRequests=False))
c['schedulers'].append(schedulers.ForceScheduler(name='force-{name}',
                                                 builderNames=[{name!r}]))""")
    return "\n".join(out) + "\n"


class Rig:
    """Hosts ``hosts`` (names), builders ``per_host`` per host; ``bb`` is the LocalBuildbot."""

    def __init__(self, basedir, hosts=("a", "b"), per_host=2):
        basedir = Path(basedir)
        self.hosts, self.builders, envs = {}, {}, {}
        for name in hosts:
            host = SimHost(basedir / f"host-{name}")
            host.create()
            tree.create_source_tree(host)
            env = host.env()
            env["VKCKPT_STATE_DIR"] = str(host.root / "agent-state")
            host.state_dir_agent = Path(env["VKCKPT_STATE_DIR"])
            self.hosts[name] = host
            envs[f"worker-{name}"] = env
            for i in range(per_host):
                self.builders[f"load-{name}{i + 1}"] = (f"worker-{name}", host)
        self.bb = LocalBuildbot(basedir / "bb", workers=tuple(envs))
        self.bb.worker_envs.update(envs)
        self.bb.create(factory_body(self.builders))

    def start(self):
        self.bb.start()
        return self

    def stop(self):
        stopped = self.bb.stop()
        for pid in self.processes():   # what a failed run left: never outlive the test
            os.kill(pid, signal.SIGKILL)
        return stopped

    def force(self, builder, reason):
        return self.bb.force(builder, scheduler=f"force-{builder}", reason=reason)

    def worker_pid(self, worker):
        return int((self.bb.worker_dirs[worker] / "twistd.pid").read_text().strip())

    def sessions(self, host_name):
        """Every session directory the builders of this host made."""
        worker = f"worker-{host_name}"
        found = []
        for builder, (w, _host) in self.builders.items():
            if w == worker:
                found += sorted((self.bb.worker_dirs[w] / builder / "vkckpt-sessions")
                                .glob("build-*"))
        return found

    def processes(self):
        """Live agent commands, supervisors and simulated vkernels of this rig."""
        return processes_under([h.root for h in self.hosts.values()] + [self.bb.basedir])

    def leftovers(self):
        """vn units, mounts, taps, processes, unreleased ledger entries, registered sessions."""
        found = [f"process {pid}: {cmd}" for pid, cmd in self.processes().items()]
        for name, host in self.hosts.items():
            state = host.load_state()
            found += [f"{name}: {unit} covering {path}"
                      for unit, path in state.get("vn", {}).items() if path]
            found += [f"{name}: mount {point}" for point in state.get("mounts", {})]
            found += [f"{name}: tap {tap}" for tap in state.get("taps", {})]
            for session in self.sessions(name):
                found += [f"{name} {session.parent.parent.name}/{session.name}: ledger entry "
                          f"{e['kind']} #{e['id']}"
                          for e in ledger_entries(session).values() if not e["released"]]
            found += [f"{name}: registered session {os.readlink(p)}"
                      for p in (host.state_dir_agent / "sessions").glob("*")]
        return found

    def wait_all(self, brids, timeout):
        """The builds of requests ``brids``, once all are complete."""
        deadline = time.monotonic() + timeout
        done = {}
        while len(done) < len(brids) and time.monotonic() < deadline:
            for brid in brids:
                build = done.get(brid) or self.bb.build_for_request(brid)
                if build is not None and build["complete"]:
                    done[brid] = build
            time.sleep(0.5)
        if len(done) < len(brids):
            raise AssertionError(f"{len(brids) - len(done)} build(s) did not finish in "
                                 f"{timeout} s")
        return [done[b] for b in brids]

    def steps(self, build):
        return {s["name"]: s for s in self.bb.steps(build["buildid"])}
