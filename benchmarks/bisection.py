"""Replay automatic bisection on the shared DragonFly history with a planted regression.

The commits of benchmarks/data/dragonfly-commits.jsonl (first-parent master, up to
2020-07-24, with their file lists) are the history. Each trial takes the commits that landed
in a window after a random point (the range between the last green and the first red build),
plants the regression at a random commit of it, and runs the bisection core
(buildbot_vkckpt.bisect.core) with a judge that says bad from the planted commit on. A trial
fails the run when the culprit found is not the planted commit or the probes exceed
ceil(log2(N)) + 2.

Cost of each probe build: the bisect builder's first probe builds everything; every later
probe runs the build plan (buildbot_vkckpt.changes, hand rules plus the tree rules of
benchmarks/data/dragonfly-makefiles.json) on the files changed between the previous probe's
revision and this one, as BuildPlan's git diff does, and always runs the tests. The baseline,
computed in the same run, is the same probes with a full build each (no reuse), and beside it
testing every commit of the range. Stage minutes are those of benchmarks/plan.py.

--break-rate makes that share of commits fail to build (a probe on one is a skip).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import argparse  # noqa: E402
import bisect as std_bisect  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

from buildbot_vkckpt import treerules  # noqa: E402
from buildbot_vkckpt.bisect import core  # noqa: E402
from buildbot_vkckpt.changes import classify_paths  # noqa: E402

# benchmarks/plan.py: the history, the stage minutes
_spec = importlib.util.spec_from_file_location("planbench", os.path.join(HERE, "plan.py"))
planbench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(planbench)


def probe_minutes(files):
    """Minutes of a probe build whose plan comes from ``files`` (None: nothing to reuse)."""
    if files is None:
        return planbench.MINUTES_FULL
    plan = classify_paths(files, tree_rules=TREE_RULES)
    return (planbench.MINUTES_WORLD * plan.world + planbench.MINUTES_KERNEL * plan.kernel
            + planbench.MINUTES_IMAGE * plan.image + planbench.MINUTES_TESTS)


def changed_between(commits, i, j):
    """Files changed between candidates i and j (either order): the commits after the older
    one up to the newer one."""
    lo, hi = sorted((i, j))
    files = []
    for c in commits[lo + 1:hi + 1]:
        files.extend(c[1])
    return files


def bisect_range(commits, planted, broken):
    """Run one bisection; returns (outcome, probe minutes with reuse, probes)."""
    revisions = [c[2] for c in commits]
    index = {r: i for i, r in enumerate(revisions)}
    verdicts, spent, last = {}, 0.0, None
    while True:
        step = core.next_step(revisions, verdicts)
        if not isinstance(step, core.Probe):
            return step, spent, len(verdicts)
        i = index[step.revision]
        spent += probe_minutes(None if last is None else changed_between(commits, last, i))
        if i in broken:
            verdicts[step.revision] = core.SKIP     # it did not build: no marker moves
            continue
        verdicts[step.revision] = core.BAD if i >= planted else core.GOOD
        last = i


def ranges(history, hours, count, rnd):
    """``count`` ranges: the commits of ``hours`` after a random commit (at least two)."""
    times = [c[0] for c in history]
    found = []
    while len(found) < count:
        start = rnd.randrange(len(history) - 1)
        end = std_bisect.bisect_right(times, times[start] + hours * 3600)
        if end - start >= 2:
            found.append(history[start:end])
    return found


def fixed_ranges(history, size, count, rnd):
    return [history[s:s + size] for s in
            (rnd.randrange(len(history) - size) for _ in range(count))]


def run(title, trials, rnd, break_rate):
    builds, minutes, naive, every, sizes, misses, over = [], [], [], [], [], 0, 0
    unbisectable = 0
    for commits in trials:
        n = len(commits)
        planted = rnd.randrange(n)
        broken = {i for i in range(n - 1) if i != planted and rnd.random() < break_rate}
        outcome, spent, probes = bisect_range(commits, planted, broken)
        if probes > core.build_limit(n):
            over += 1
        if isinstance(outcome, core.Culprit):
            misses += outcome.revision != commits[planted][2]
        else:
            unbisectable += 1
            misses += commits[planted][2] not in outcome.suspects
        sizes.append(n)
        builds.append(probes)
        minutes.append(spent)
        naive.append(probes * planbench.MINUTES_FULL)
        every.append((n - 1) * planbench.MINUTES_FULL)
    mean = statistics.mean
    bound = mean(core.build_limit(n) for n in sizes)
    print(f"{title}: {len(trials)} bisections, {mean(sizes):.1f} commits per range "
          f"(median {statistics.median(sizes):.0f}, max {max(sizes)})")
    print(f"  probe builds per bisection  {mean(builds):5.2f}  (max {max(builds)}; bound "
          f"ceil(log2 N)+2 averages {bound:.2f}; every commit: {mean(sizes) - 1:.1f})")
    print(f"  build minutes per bisection {mean(minutes):6.1f}  with the plan's reuse")
    print(f"                              {mean(naive):6.1f}  a full build per probe "
          f"(x{mean(naive) / mean(minutes):.2f})")
    print(f"                              {mean(every):6.1f}  a full build of every commit "
          f"(x{mean(every) / mean(minutes):.2f})")
    if unbisectable:
        print(f"  could not bisect (build breaks): {unbisectable}, culprit among the "
              f"suspects named")
    print(f"  wrong culprits: {misses}, over the bound: {over}")
    return misses + over


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--hours", type=float, default=24,
                        help="range: the commits of this many hours (default 24: a nightly)")
    parser.add_argument("--break-rate", type=float, default=0.0,
                        help="share of commits that do not build (default 0)")
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args(argv)
    if args.trials < 1 or not 0 <= args.break_rate < 1 or args.hours <= 0:
        parser.error("--trials >= 1, 0 <= --break-rate < 1 and --hours > 0")

    started = time.monotonic()
    global TREE_RULES
    with open(planbench.MAKEFILES, encoding="utf-8") as f:
        TREE_RULES = treerules.derive(json.load(f)["files"])
    history = [(t, files, f"{i:040x}") for i, (t, files) in
               enumerate(planbench.load(planbench.DATA))]
    rnd = random.Random(args.seed)
    print(f"stage minutes: world {planbench.MINUTES_WORLD}, kernel {planbench.MINUTES_KERNEL}, "
          f"image {planbench.MINUTES_IMAGE}, tests {planbench.MINUTES_TESTS} "
          f"(full build {planbench.MINUTES_FULL}); {len(history)} commits; seed {args.seed}; "
          f"break rate {args.break_rate:.0%}")
    failed = run(f"ranges of {args.hours:g} h", ranges(history, args.hours, args.trials, rnd),
                 rnd, args.break_rate)
    for size in (8, 32, 128):
        failed += run(f"ranges of {size} commits",
                      fixed_ranges(history, size, args.trials, rnd), rnd, args.break_rate)
    print(f"replayed in {time.monotonic() - started:.2f} s")
    return 1 if failed else 0


TREE_RULES = ()

if __name__ == "__main__":
    sys.exit(main())
