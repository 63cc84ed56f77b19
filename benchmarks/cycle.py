"""What the checkpoint/restore harness adds on top of the checkpoint itself.

Sets up a simulated DragonFly host (world, VKERNEL64, root image), then for a 64 MB and a 1 GB
guest boots the simulated vkernel once, runs ``verify --prepare`` and then ``--cycles`` cycles of
``checkpoint``, ``restore --file`` and ``verify`` through the agent, as VkernelCheckpointCycle
does (after one uncounted warm-up cycle). For each cycle:

* **cycle time**: wall time of the ``checkpoint`` and ``restore`` subcommands, from starting
  the agent process to reading its result line (``verify`` is a test, not overhead);
* **simulated kernel time**: what the simulated kernel itself spent writing the checkpoint
  file and exiting, and, on thaw, starting ``checkpt``, reading the file and resuming (it
  logs each to ``state/ckpt-io.jsonl``);
* **harness overhead** = cycle time - simulated I/O: agent start-up, signalling, noticing the
  vkernel's exit, validating the file, starting ``checkpt -r``, waiting for the console;
* **baseline**: copying the same checkpoint file (read + write of the same bytes), in the
  same run;
* **end-of-checkpoint detection**: from the simulated vkernel's exit after writing to the
  ``checkpoint`` result reaching this process, file validation included (the supervisor
  waits on SIGCHLD, not a timer).

Target: the harness adds at most 25 ms per cycle (or 5 % of the raw copy time, whichever is
larger). A checkpoint file now holds no guest RAM, so the raw copy is small and the floor
decides. Prints medians, ratios and PASS/FAIL; exit status 0 unless --strict. Linux only.
"""
import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from buildbot_vkckpt.simhost.host import SimHost  # noqa: E402
from buildbot_vkckpt.simhost.tree import create_source_tree  # noqa: E402

SIZES = {"64m": 64 << 20, "1g": 1 << 30}
TARGET_FRACTION = 0.05
TARGET_FLOOR = 0.025


def sim_env(host):
    env = host.env()
    env.update(VKCKPT_SIM_SPEED="0", MAKEOBJDIRPREFIX=str(host.obj), PYTHONPATH=str(REPO),
               # this host's own session registry: cleanup --stale stops every live session
               # the registry lists, and ~/.vkckpt is shared with everything else here
               VKCKPT_STATE_DIR=str(host.root / "registry"))
    return env


def agent_argv(*argv):
    # -S: the agent is stdlib-only, so site (and every .pth of this venv) is start-up cost
    return [sys.executable, "-S", "-m", "buildbot_vkckpt.agent", *map(str, argv)]


def run_agent(env, *argv):
    """Run one subcommand; returns (seconds until its result line, result event)."""
    started = time.monotonic()
    proc = subprocess.Popen(agent_argv(*argv), stdout=subprocess.PIPE, env=env)
    result, arrived = None, None
    for line in proc.stdout:
        if line.startswith(b'@@vkckpt {"ev":"result"'):
            arrived = time.monotonic()
            result = json.loads(line[len(b"@@vkckpt "):])
    proc.wait()
    if result is None or result.get("status") != "ok":
        raise SystemExit(f"{argv[0]} failed: {result}")
    return arrived - started, arrived, result


def prepare(root):
    host = SimHost(root / "host").create()
    create_source_tree(host)
    env = sim_env(host)
    for target in (["buildworld"], ["KERNCONF=VKERNEL64", "buildkernel"]):
        subprocess.run(["make", "-j", "2", *target], cwd=host.src, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kernel = host.obj / str(host.src).lstrip("/") / "sys" / "VKERNEL64" / "kernel.debug"
    image = root / "root.img"
    subprocess.run(agent_argv("image", "--session", root / "image", "--src", host.src,
                              "--objdir", host.obj, "--image", image, "--size", "64m"),
                   env=env, check=True, stdout=subprocess.DEVNULL)
    return host, env, kernel, image


def io_log(host):
    path = host.state_dir / "ckpt-io.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def raw_copy_seconds(path, scratch):
    """Read and write the same bytes once, as the simulated checkpoint write + thaw read do."""
    dest = scratch / "copy.bin"
    started = time.monotonic()
    with open(path, "rb") as src, open(dest, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
        dst.flush()
    seconds = time.monotonic() - started
    dest.unlink()
    return seconds


def measure(host, env, kernel, image, root, memory, cycles, warmup=1, verbose=False):
    session = root / f"session-{memory}"
    boot = ["boot", "--session", session, "--kernel", kernel, "--image", image,
            "--memory", memory, "--timeout", "60", "--silence", "30"]
    run_agent(env, *boot)
    rows = []
    try:
        run_agent(env, "verify", "--session", session, "--prepare")
        for n in range(warmup + cycles):
            seen = len(io_log(host))
            ckpt_s, ckpt_at, ckpt = run_agent(env, "checkpoint", "--session", session)
            path = ckpt["details"]["file"]
            restore_s, _, _ = run_agent(env, "restore", "--session", session, "--file", path)
            run_agent(env, "verify", "--session", session)
            io = io_log(host)[seen:]
            exits = [e for e in io if e["op"] in ("write", "exit")]
            sim_io = sum(e["seconds"] for e in io)
            cycle = ckpt_s + restore_s
            if verbose:
                print({"ckpt_s": ckpt_s, "restore_s": restore_s,
                       "io": [(e["op"], round(e["seconds"], 4)) for e in io]})
            if n < warmup:  # the first checkpoint also allocates the file's blocks
                continue
            rows.append({"cycle": cycle, "sim_io": sim_io, "overhead": cycle - sim_io,
                         "bytes": ckpt["details"]["bytes"],
                         "detect_ms": (ckpt_at - exits[-1]["ended"]) * 1000 if exits else None,
                         "raw_copy": raw_copy_seconds(path, root)})
    finally:
        subprocess.run(agent_argv("shutdown", "--session", session), env=env,
                       stdout=subprocess.DEVNULL)
        subprocess.run(agent_argv("cleanup", "--stale", "--root", root), env=env,
                       stdout=subprocess.DEVNULL)
    return rows


def report(memory, rows):
    med = {k: statistics.median(r[k] for r in rows) for k in
           ("cycle", "sim_io", "overhead", "raw_copy", "bytes")}
    detect = [r["detect_ms"] for r in rows if r["detect_ms"] is not None]
    allowed = max(TARGET_FRACTION * med["raw_copy"], TARGET_FLOOR)
    ok = med["overhead"] <= allowed
    print(f"guest {memory}: {len(rows)} cycles, checkpoint file {med['bytes'] / 2**20:.0f} MiB")
    print(f"  cycle (checkpoint + restore)  {med['cycle'] * 1000:8.1f} ms")
    print(f"  simulated kernel time         {med['sim_io'] * 1000:8.1f} ms")
    print(f"  harness overhead              {med['overhead'] * 1000:8.1f} ms")
    print(f"  baseline: raw copy            {med['raw_copy'] * 1000:8.1f} ms")
    print(f"  overhead / raw copy           {med['overhead'] / med['raw_copy']:8.3f}")
    if detect:
        print(f"  end-of-checkpoint detection   {statistics.median(detect):8.1f} ms (median)")
    print(f"  target: overhead <= max(5% of raw copy, 25 ms) = {allowed * 1000:.0f} ms: "
          f"{'PASS' if ok else 'FAIL'}")
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--sizes", default="64m,1g", help="guest memory sizes, comma-separated")
    parser.add_argument("--warmup", type=int, default=1, help="cycles run but not counted")
    parser.add_argument("--verbose", action="store_true", help="print each cycle's timings")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    if hard != resource.RLIM_INFINITY and hard < max(SIZES.values()) * 2:
        raise SystemExit(f"RLIMIT_CORE hard limit {hard} is too small for a 1 GB checkpoint")
    root = Path(tempfile.mkdtemp(prefix="vkckpt-bench-cycle-"))
    ok = True
    try:
        host, env, kernel, image = prepare(root)
        for memory in args.sizes.split(","):
            ok &= report(memory, measure(host, env, kernel, image, root, memory, args.cycles,
                                            args.warmup, args.verbose))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
