"""How fast ``boot`` notices a ready guest, and what watching the console costs.

Sets up a simulated DragonFly host (world, VKERNEL64, root image), then boots the simulated
vkernel 20 times with ``vkckpt-agent boot --console-times`` (the supervisor writes the
monotonic arrival time of every console read to ``console.times``) and shuts it down again.
For each boot:

* **agent detection**: from the arrival at the supervisor's pty reader of the last byte of the
  ready prompt (the prompt after the agent's first sentinel) to the moment ``boot``'s result
  line reaches this process;
* **baseline detection**, in the same boots: a thread that polls ``console.log`` every 100 ms
  (the usual ``tail``-style wait) for that same prompt;
* **CPU per second of console traffic**: the supervisor's and the ``boot`` client's CPU time
  from the vkernel's start to the ready report (/proc, clock-tick resolution; Python start-up
  is not counted), and the baseline thread's, divided by the span from the first console byte
  to the ready prompt.

Prints the medians and the ratios, and PASS/FAIL for the target (median agent detection under
20 ms). Exit status is 0 either way unless --strict is given. Linux only (reads /proc).
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from buildbot_vkckpt.agent.ledger import Ledger  # noqa: E402
from buildbot_vkckpt.simhost.host import SimHost  # noqa: E402
from buildbot_vkckpt.simhost.tree import create_source_tree  # noqa: E402

TARGET_MS = 20.0
POLL = 0.1
READY = re.compile(rb"VKS-[0-9a-f]+-1:\d+:\r?\n(\[vkckpt-[0-9a-f]+\]# )")
TICKS = os.sysconf("SC_CLK_TCK")


def sim_env(host, speed):
    env = host.env()
    env.update(VKCKPT_SIM_SPEED=str(speed), MAKEOBJDIRPREFIX=str(host.obj),
               PYTHONPATH=str(REPO))
    return env


def agent(env, *argv):
    return [sys.executable, "-m", "buildbot_vkckpt.agent", *map(str, argv)]


def prepare(root):
    host = SimHost(root / "host").create()
    create_source_tree(host)
    env = sim_env(host, 0)
    for target in (["buildworld"], ["KERNCONF=VKERNEL64", "buildkernel"]):
        subprocess.run(["make", "-j", "2", *target], cwd=host.src, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kernel = host.obj / str(host.src).lstrip("/") / "sys" / "VKERNEL64" / "kernel.debug"
    image = root / "root.img"
    subprocess.run(agent(env, "image", "--session", root / "image", "--src", host.src,
                         "--objdir", host.obj, "--image", image, "--size", "64m"),
                   env=env, check=True, stdout=subprocess.DEVNULL)
    return host, kernel, image


def cpu_seconds(pid):
    """utime + stime of a live process."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Poller(threading.Thread):
    """The baseline: look at console.log every 100 ms until the ready prompt is there."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.seen_at = None
        self.cpu = 0.0
        self.stop = threading.Event()

    def run(self):
        start = time.thread_time()
        while not self.stop.is_set():
            try:
                with open(self.path, "rb") as fh:
                    data = fh.read()
            except OSError:
                data = b""
            if READY.search(data):
                self.seen_at = time.monotonic()
                break
            self.stop.wait(POLL)
        self.cpu = time.thread_time() - start


def arrivals(session):
    """[(monotonic, offset, length)] of every console read."""
    rows = []
    for line in (session / "console.times").read_text().splitlines():
        t, off, n = line.split()
        rows.append((float(t), int(off), int(n)))
    return rows


def one_boot(env, kernel, image, session):
    poller = Poller(session / "console.log")
    session.mkdir(parents=True)
    poller.start()
    proc = subprocess.Popen(agent(env, "boot", "--session", session, "--kernel", kernel,
                                  "--image", image, "--memory", "128m", "--timeout", "20",
                                  "--silence", "10", "--console-times"),
                            stdout=subprocess.PIPE, env=env)
    ready_at = sup = None
    for line in proc.stdout:
        if b'"vkernel_pid"' in line:  # the vkernel is spawned: console traffic starts
            sup = [e for e in Ledger(session).outstanding()
                   if e["kind"] == "supervisor"][0]["pid"]
            cpu_start = cpu_seconds(sup) + cpu_seconds(proc.pid)
        if line.startswith(b'@@vkckpt {"ev":"result"'):
            ready_at = time.monotonic()
            if b'"status":"ok"' not in line or sup is None:
                raise SystemExit(f"boot failed: {line.decode()}")
            agent_cpu = cpu_seconds(sup) + cpu_seconds(proc.pid) - cpu_start
            break
    proc.stdout.read()
    proc.wait()
    poller.join(5)
    poller.stop.set()

    console = (session / "console.log").read_bytes()
    m = READY.search(console)
    last_byte = m.end(1) - 1
    rows = arrivals(session)
    prompt_at = next(t for t, off, n in rows if off <= last_byte < off + n)
    traffic = max(prompt_at - rows[0][0], 1e-3)
    subprocess.run(agent(env, "shutdown", "--session", session), env=env,
                   stdout=subprocess.DEVNULL, check=True)
    return {"agent_ms": (ready_at - prompt_at) * 1000,
            "poll_ms": (poller.seen_at - prompt_at) * 1000 if poller.seen_at else None,
            "agent_cpu": agent_cpu / traffic,
            "poll_cpu": poller.cpu / traffic, "traffic_s": traffic,
            "bytes": len(console)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--boots", type=int, default=20)
    parser.add_argument("--speed", type=float, default=1.0,
                        help="simulated vkernel pacing (VKCKPT_SIM_SPEED; 1 = about 0.4 s boot)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="vkckpt-bench-"))
    started = time.monotonic()
    try:
        host, kernel, image = prepare(root)
        env = sim_env(host, args.speed)
        runs = [one_boot(env, kernel, image, root / f"s{i:02d}") for i in range(args.boots)]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    agent_ms = statistics.median(r["agent_ms"] for r in runs)
    polled = [r["poll_ms"] for r in runs if r["poll_ms"] is not None]
    poll_ms = statistics.median(polled) if polled else float("nan")
    agent_cpu = statistics.median(r["agent_cpu"] for r in runs)
    poll_cpu = statistics.median(r["poll_cpu"] for r in runs)
    traffic = statistics.median(r["traffic_s"] for r in runs)
    size = statistics.median(r["bytes"] for r in runs)
    print(f"boots: {len(runs)}, console {size:.0f} bytes over {traffic * 1000:.0f} ms each "
          f"(median), run time {time.monotonic() - started:.1f} s")
    print(f"ready detection, median: agent {agent_ms:.1f} ms "
          f"(max {max(r['agent_ms'] for r in runs):.1f}), "
          f"100 ms poller {poll_ms:.1f} ms; poller/agent {poll_ms / agent_ms:.1f}x")
    print(f"CPU per second of console traffic, median: agent (supervisor + boot) "
          f"{agent_cpu * 1000:.0f} ms/s, poller {poll_cpu * 1000:.1f} ms/s; "
          f"agent/poller {agent_cpu / max(poll_cpu, 1e-6):.0f}x")
    ok = agent_ms < TARGET_MS
    print(f"{'PASS' if ok else 'FAIL'}: median detection {agent_ms:.1f} ms "
          f"(target < {TARGET_MS:g} ms)")
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
