"""Master CPU per buildworld: BuildWorld's log modes against stock Compile-style streaming.

One real Buildbot master and worker on 127.0.0.1 (demo/localbb.py), one run, three builders
whose only step runs ``make -j 2 buildworld`` on the same buildworld-shaped output (the
generator of benchmarks/buildlog.py: all stage banners, ``cc`` lines, about 1 % compiler
warnings with gcc's source and caret lines; ``make`` on the worker's PATH is a script that
cats that file at full speed):

* ``compile``  Buildbot's own ``steps.Compile`` (WarningCountingShellCommand): every byte
               streams into the ``stdio`` log — the baseline;
* ``full``     ``BuildWorld(log_mode="full")``: the same stock streaming plus this project's
               build-output monitor;
* ``digest``   ``BuildWorld(log_mode="digest")``: the worker-side runner streams the digest
               and the step uploads the gzipped whole output when make ends.

For each build it reads the master process's CPU time (``/proc/<pid>/stat``, user + system)
before the force and after the build completed and the master went idle again (log
compression of finished logs included), minus the master's idle rate over the same time
(measured before the builds; it includes this script's slow REST polling). Builds run one at a
time, alternating the builders ``--repeat`` times; the median per builder is reported.

Prints master CPU per MB of make output and per 200 MB buildworld for each builder, the
ratio digest/compile (target <= 0.10) and PASS/FAIL, the worker-side cost of the digest
runner on the same file (CPU per MB, measured outside the master), and checks that ``full``
and ``digest`` reported the same summary. Exit status is 0 either way unless --strict.

Full-speed output is the stock modes' cheapest case: the worker batches output into 64 KB
updates when make writes fast; a real, slower buildworld sends smaller updates, each with its
own fixed cost on the master, so the baseline here is conservative.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from buildlog import generate  # noqa: E402

from buildbot_vkckpt.demo.localbb import LocalBuildbot  # noqa: E402
from buildbot_vkckpt.makedigest import build_zipapp  # noqa: E402

TARGET_RATIO = 0.10
BUILDWORLD_MB = 200
BUILDERS = ("compile", "full", "digest")

MASTER_CFG = """
from buildbot_vkckpt.steps import BuildWorld
make = ['make', '-j', '2', 'buildworld']
for name, step in (
        ('compile', steps.Compile(command=make, name='buildworld', logEnviron=False)),
        ('full', BuildWorld(jobs=2, log_mode='full')),
        ('digest', BuildWorld(jobs=2, log_mode='digest'))):
    c['builders'].append(util.BuilderConfig(name=name, workernames=['vkckpt-worker'],
                                            factory=util.BuildFactory([step])))
c['schedulers'].append(schedulers.ForceScheduler(name='force',
                                                 builderNames=['compile', 'full', 'digest']))
"""


def master_cpu(bb):
    """CPU seconds the master process has used so far."""
    pid = int((bb.master_dir / "twistd.pid").read_text().strip())
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_rate(bb, seconds=3.0):
    start, cpu = time.monotonic(), master_cpu(bb)
    time.sleep(seconds)
    return (master_cpu(bb) - cpu) / (time.monotonic() - start)


def wait_idle(bb, rate, quiet=1.0, limit=120):
    """Wait until the master used no more than its idle CPU (plus 20 ms) for ``quiet`` s."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        cpu = master_cpu(bb)
        time.sleep(quiet)
        if master_cpu(bb) - cpu <= rate * quiet + 0.02:
            return
    raise RuntimeError("the master did not go idle")


def one_build(bb, builder, rate):
    wait_idle(bb, rate)
    start, cpu = time.monotonic(), master_cpu(bb)
    build = bb.wait_build(bb.force(builder), timeout=3600)
    wait_idle(bb, rate)
    elapsed = time.monotonic() - start
    used = master_cpu(bb) - cpu - rate * elapsed
    step = [s for s in bb.steps(build["buildid"]) if s["name"] == "buildworld"][0]
    if build["results"] not in (0, 1):
        raise RuntimeError(f"{builder}: build failed: {step['state_string']}")
    logs = {log["name"]: log for log in bb.logs(step["stepid"])}
    return {"cpu": used, "wall": elapsed, "summary": step["state_string"],
            "stdio_lines": logs["stdio"]["num_lines"], "logs": sorted(logs)}


def runner_cost(log_path, tmp):
    """CPU seconds the digest runner takes on the worker for the whole file."""
    pyz = os.path.join(tmp, "runner.pyz")
    with open(pyz, "wb") as f:
        f.write(build_zipapp())
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, pyz, "--full-log", os.path.join(tmp, "runner.log.gz"), "--",
                    "cat", log_path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--megabytes", type=float, default=50, help="size of the make output")
    ap.add_argument("--repeat", type=int, default=1, help="builds per builder (median)")
    ap.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="vkckpt-mastercpu-") as tmp:
        log_path = os.path.join(tmp, "buildworld.log")
        lines = int(args.megabytes * 1e6 / 218)        # the generator's mean line length
        data = generate(lines)
        with open(log_path, "wb") as f:
            f.write(data)
        size_mb = len(data) / 1e6
        nlines, warnings = data.count(b"\n"), data.count(b": warning: ")
        print(f"make output: {size_mb:.1f} MB, {nlines:,} lines ({warnings:,} warnings)")
        del data
        bindir = Path(tmp) / "bin"
        bindir.mkdir()
        make = bindir / "make"
        make.write_text(f"#!/bin/sh\nexec cat {log_path}\n")
        make.chmod(0o755)
        env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
        bb = LocalBuildbot(os.path.join(tmp, "bb"), worker_env=env)
        bb.create(MASTER_CFG)
        runs = {name: [] for name in BUILDERS}
        try:
            bb.start()
            rate = idle_rate(bb)
            print(f"master idle: {rate * 1000:.1f} ms CPU/s (subtracted)")
            for _ in range(args.repeat):
                for name in BUILDERS:
                    runs[name].append(one_build(bb, name, rate))
                    r = runs[name][-1]
                    print(f"  {name:<8} {r['cpu']:7.2f} s master CPU  {r['wall']:6.1f} s wall  "
                          f"stdio {r['stdio_lines']:,} lines  logs {', '.join(r['logs'])}  "
                          f"· {r['summary']}")
        finally:
            bb.stop()
        worker = runner_cost(log_path, tmp)

    cpu = {name: statistics.median(r["cpu"] for r in runs[name]) for name in BUILDERS}
    print()
    print(f"{'builder':<8} {'master CPU':>11} {'ms CPU/MB':>10} {'s per 200 MB buildworld':>24}")
    for name in BUILDERS:
        per_mb = cpu[name] / size_mb
        print(f"{name:<8} {cpu[name]:10.2f}s {per_mb * 1000:10.1f} {per_mb * BUILDWORLD_MB:24.2f}")
    ratio = cpu["digest"] / cpu["compile"]
    ok = ratio <= TARGET_RATIO
    same = {r["summary"] for r in runs["full"]} == {r["summary"] for r in runs["digest"]}
    print(f"ratio digest/compile = {ratio:.3f} (1/{1 / ratio:.0f}); digest/full = "
          f"{cpu['digest'] / cpu['full']:.3f}; target <= {TARGET_RATIO}: "
          f"{'PASS' if ok else 'FAIL'}")
    print(f"same summary in full and digest mode: {'yes' if same else 'NO'}")
    print(f"worker side (not the master): the digest runner takes {worker:.2f} s CPU for the "
          f"{size_mb:.0f} MB ({worker / size_mb * 1000:.1f} ms/MB: reading, gzip, digest)")
    ok = ok and same
    return 1 if (args.strict and not ok) else 0


if __name__ == "__main__":
    sys.exit(main())
