"""Replay 2,000 real DragonFly pushes through the build planner (buildbot_vkckpt.changes).

Each commit of benchmarks/data/dragonfly-commits.jsonl (first-parent master, up to
2020-07-24) counts as one push. Prints the share of pushes that skip buildworld, that build
nothing, the share of each plan, and the expected build minutes per push against always
building everything. A second pass merges pushes that land within one tree-stable window
(the scheduler waits TREE_STABLE seconds of quiet before it starts a build), using commit
times as push times.

Stage times (minutes) for a typical DragonFly build box (4-8 cores, SSD, -j ncpu):
buildworld dominates at about an hour; buildkernel of VKERNEL64 with -DNO_MODULES is a few
minutes; the image step (vnconfig, newfs, installworld + distribution into the image) and
the guest suite plus checkpoint cycles take a few minutes each. Change them here to model
another machine; the shares do not depend on them.
"""
import argparse
import collections
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from buildbot_vkckpt.changes import classify_paths, merge  # noqa: E402

MINUTES_WORLD = 60    # make -j N buildworld
MINUTES_KERNEL = 6    # make -DNO_MODULES buildkernel KERNCONF=VKERNEL64
MINUTES_IMAGE = 4     # root image: installworld + distribution + installkernel into vn
MINUTES_TESTS = 5     # boot, guest checkpoint suite, vkernel checkpoint cycles, shutdown
MINUTES_FULL = MINUTES_WORLD + MINUTES_KERNEL + MINUTES_IMAGE + MINUTES_TESTS

TREE_STABLE = 600     # seconds; the SingleBranchScheduler's treeStableTimer

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                    "dragonfly-commits.jsonl")


def minutes(plan):
    return (MINUTES_WORLD * plan.world + MINUTES_KERNEL * plan.kernel
            + MINUTES_IMAGE * plan.image + MINUTES_TESTS * plan.tests)


def load(path):
    pushes = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                c = json.loads(line)
                pushes.append((int(c["time"]), c["files"]))
    pushes.sort(key=lambda p: p[0])  # the file is newest first; replay in push order
    return pushes


def batches(pushes, window=TREE_STABLE):
    """Group pushes like a tree-stable timer: a build starts after `window` s of quiet."""
    group, last = [], None
    for when, files in pushes:
        if group and when - last >= window:
            yield group
            group = []
        group.append(files)
        last = when
    if group:
        yield group


def report(title, plans, unit, each):
    n = len(plans)
    by_plan = collections.Counter(p.describe() for p in plans)
    skip_world = sum(not p.world for p in plans)
    nothing = sum(p.nothing() for p in plans)
    spent = sum(minutes(p) for p in plans)
    print(f"{title}: {n} {unit}")
    print(f"  skip buildworld     {skip_world:5d}  {100 * skip_world / n:5.1f} %")
    print(f"  build nothing       {nothing:5d}  {100 * nothing / n:5.1f} %")
    for name, count in by_plan.most_common():
        print(f"    {name:<44s} {count:5d}  {100 * count / n:5.1f} %")
    print(f"  minutes per {each:<8s} {spent / n:6.1f}  (always everything: {MINUTES_FULL},"
          f" saved {100 * (1 - spent / (n * MINUTES_FULL)):.1f} %)")
    return spent


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--window", type=int, default=TREE_STABLE,
                        help="tree-stable window in seconds for the batch pass")
    args = parser.parse_args(argv)

    started = time.monotonic()
    pushes = load(args.data)
    print(f"stage minutes: world {MINUTES_WORLD}, kernel {MINUTES_KERNEL}, "
          f"image {MINUTES_IMAGE}, tests {MINUTES_TESTS} (everything {MINUTES_FULL})")
    per_push = [classify_paths(files) for _, files in pushes]
    spent = report("per push", per_push, "pushes", "push")
    per_batch = [merge(classify_paths(files) for files in group)
                 for group in batches(pushes, args.window)]
    spent_b = report(f"batched ({args.window} s tree-stable window)", per_batch, "builds", "build")
    print(f"  total build hours: {spent / 60:.0f} per push, {spent_b / 60:.0f} batched, "
          f"{len(pushes) * MINUTES_FULL / 60:.0f} if every push built everything")
    print(f"replayed in {time.monotonic() - started:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
