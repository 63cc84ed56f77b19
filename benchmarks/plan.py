"""Replay 2,000 real DragonFly pushes through the build planner (buildbot_vkckpt.changes).

Each commit of benchmarks/data/dragonfly-commits.jsonl (first-parent master, up to
2020-07-24) counts as one push. Prints the share of pushes that skip buildworld, that build
nothing, the share of each plan, and the expected build minutes per push against always
building everything (the baseline, computed in the same run). A second pass merges pushes that
land within one tree-stable window (the scheduler waits TREE_STABLE seconds of quiet before it
starts a build), using commit times as push times.

The plan uses the hand rules plus the rules derived from the tree (buildbot_vkckpt.treerules).
The history has file lists, not trees, so the derived rules come from the real-shaped Makefiles
of benchmarks/data/dragonfly-makefiles.json (libkvm, libprop, hammer2, acpi, Makefile.inc1,
kern.pre.mk, the vkernel64 link): a part of the tree, not all of it. The hand rules alone are
shown beside them.

Safety: how many pushes each rule decides (matched, and decisive: without it the push would
build less), and a list of known-unsafe pushes (UNSAFE, each naming the real commit that showed
it where the history has one) that must all build what they can break. The run exits 1 when
one does not.

Stage times (minutes) for a typical DragonFly build box (4-8 cores, SSD, -j ncpu):
buildworld dominates at about an hour; buildkernel of VKERNEL64 with -DNO_MODULES is a few
minutes; the image step (vnconfig, newfs, installworld + distribution into the image) and
the guest suite plus checkpoint cycles take a few minutes each. Change them here to model
another machine; the shares do not depend on them.
"""
import argparse
import collections
import functools
import json
import operator
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from buildbot_vkckpt import treerules  # noqa: E402
from buildbot_vkckpt.changes import (  # noqa: E402
    Stage, classify_paths, closure, decide, merge, stage_names)

MINUTES_WORLD = 60    # make -j N buildworld
MINUTES_KERNEL = 6    # make -DNO_MODULES buildkernel KERNCONF=VKERNEL64
MINUTES_IMAGE = 4     # root image: installworld + distribution + installkernel into vn
MINUTES_TESTS = 5     # boot, guest checkpoint suite, vkernel checkpoint cycles, shutdown
MINUTES_FULL = MINUTES_WORLD + MINUTES_KERNEL + MINUTES_IMAGE + MINUTES_TESTS

TREE_STABLE = 600     # seconds; the SingleBranchScheduler's treeStableTimer

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                    "dragonfly-commits.jsonl")
MAKEFILES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                         "dragonfly-makefiles.json")

# (what, paths of the push, stages it must build, commit that showed it or None) -- issue 13.
# "host" instead of a stage: the plan must name the path as untested host-side code.
UNSAFE = [
    ("include/unistd.h: the vkernel compiles against include/", ["include/unistd.h"],
     "world kernel", "ee5bd763df"),
    ("include/string.h", ["include/string.h"], "world kernel", "b80b4d4359"),
    ("include/time.h", ["include/time.h"], "world kernel", "b2ca4da505"),
    ("include/assert.h", ["include/assert.h"], "world kernel", None),
    ("sys/kern/kern_kinfo.c alone: lib/libkvm compiles it", ["sys/kern/kern_kinfo.c"],
     "world kernel", "5deae5c64c"),
    ("sys/libkern/icrc32.c: sbin/hammer2 compiles it", ["sys/libkern/icrc32.c"],
     "world kernel", "ed183f8c2f"),
    ("sys/libprop header: lib/libprop", ["sys/libprop/prop_number.h"], "world kernel",
     "eaf07fa9b1"),
    ("lib/csu: the vkernel links world's crt objects", ["lib/csu/x86_64/crt1.c"],
     "world kernel", None),
    ("libc: linked into the vkernel", ["lib/libc/gen/getcwd.c"], "world kernel", None),
    ("usr.bin/bmake is DragonFly's make", ["usr.bin/bmake/Makefile", "usr.bin/bmake/util.h"],
     "world kernel", "ee2cba8aae"),
    ("GCC machine description is not Markdown",
     ["contrib/gcc-8.0/gcc/config/i386/i386.md"], "world kernel", None),
    ("sys/conf/acpi.mk: kern.pre.mk includes it", ["sys/conf/acpi.mk"], "world kernel", None),
    ("kern.pre.mk itself", ["sys/conf/kern.pre.mk"], "kernel", "66e66c3daf"),
    ("rename out of sys/sys/ written as 'old => new'",
     ["sys/sys/ckpt.h => sys/platform/vkernel64/include/ckpt.h"], "world kernel", None),
    ("rename out of sys/sys/ written with braces", ["sys/{sys => dev/misc}/ckpt.h"],
     "world kernel", None),
    ("backslash name that used to become '/..' and vanish", ["sys\\..\\include\\unistd.h"],
     "world kernel", None),
    ("'..' in a path", ["sys/kern/../../include/unistd.h"], "world kernel", None),
    ("newline in a name", ["bin/ls/a\nb.c"], "world kernel", None),
    ("host-side checkpoint code is named untested", ["sys/kern/kern_checkpoint.c"],
     "kernel host", "b1999ea8e0"),
    ("host pmap is named untested", ["sys/platform/pc64/x86_64/pmap.c"], "host", "fe9a7b1b43"),
]
# (what, paths, stages it should build at most, commit): the over-builds issue 13 fixed
OVER_BUILDS = [
    ("Makefile_upgrade.inc: installworld copies it", ["Makefile_upgrade.inc"], "image tests",
     "18a5eb3635"),
    ("share/misc/pci_vendors: data", ["share/misc/pci_vendors"], "image tests", "4f8e8636b6"),
    ("share/zoneinfo: zic at install time", ["share/zoneinfo/europe", "share/zoneinfo/asia"],
     "image tests", "9e66d69116"),
    ("tools/tools: outside buildworld", ["tools/tools/toeplitz/toeplitz.c"], "", "a705726d80"),
    ("Makefile.ssh.common: world's ssh programs", ["Makefile.ssh.common"],
     "world image tests", None),
]


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


def safety(tree_rules):
    """Print the unsafe and over-build cases; returns how many failed."""
    failed = 0
    print("known-unsafe pushes (must build what they can break):")
    def safe(plan, wants):
        return all(getattr(plan, s) for s in wants if s != "host") and \
            ("host" not in wants or bool(plan.untested_host_paths))

    for what, paths, need, commit in UNSAFE:
        plan = classify_paths(paths, tree_rules=tree_rules)
        ok = safe(plan, need.split())
        failed += not ok
        hand = "" if safe(classify_paths(paths), need.split()) else " [the tree rules decide]"
        host = " (host paths named untested)" if plan.untested_host_paths else ""
        print(f"  {'ok  ' if ok else 'FAIL'} {commit or '(none)':<10s} {what}: "
              f"{plan.describe()}{host}{hand}")
    print("over-builds fixed (must build no more than this):")
    for what, paths, most, commit in OVER_BUILDS:
        plan = classify_paths(paths, tree_rules=tree_rules)
        allowed = set(most.split())
        built = {s for s in ("world", "kernel", "image", "tests") if getattr(plan, s)}
        ok = built <= allowed
        failed += not ok
        print(f"  {'ok  ' if ok else 'FAIL'} {commit or '(none)':<10s} {what}: {plan.describe()}")
    return failed


def rule_counts(pushes, tree_rules, top=25):
    """How many pushes each rule decides: matched (a path of the push fell to it) and decisive
    (without that rule's paths the push would build less)."""
    matched, decisive = collections.Counter(), collections.Counter()
    for _, files in pushes:
        decided = decide(files, tree_rules=tree_rules)
        if decided is None:
            continue
        hits = decided[0]
        total = closure(functools.reduce(operator.or_, (r.stages for r in hits), Stage.NONE))
        for rule in hits:
            matched[rule] += 1
            rest = functools.reduce(operator.or_, (r.stages for r in hits if r is not rule),
                                    Stage.NONE)
            if closure(rest) != total:
                decisive[rule] += 1
    print(f"rules by pushes decided (top {top} of {len(matched)} that matched):")
    print(f"  {'decisive':>8s} {'matched':>8s}  rebuilds                         pattern")
    for rule, _ in sorted(matched.items(), key=lambda kv: (-decisive[kv[0]], -kv[1]))[:top]:
        pattern = rule.pattern if len(rule.pattern) <= 60 else rule.pattern[:57] + "..."
        print(f"  {decisive[rule]:8d} {matched[rule]:8d}  {stage_names(rule.effect):<32s} "
              f"{pattern}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--window", type=int, default=TREE_STABLE,
                        help="tree-stable window in seconds for the batch pass")
    parser.add_argument("--makefiles", default=MAKEFILES,
                        help="JSON {files: {path: text}} the tree rules are derived from")
    parser.add_argument("--tree", default=None, metavar="CHECKOUT",
                        help="derive the tree rules from this DragonFly git checkout instead")
    args = parser.parse_args(argv)

    started = time.monotonic()
    pushes = load(args.data)
    if args.tree:
        tree_rules = treerules.derive(treerules.read_checkout(args.tree))
        args.makefiles = args.tree
    else:
        with open(args.makefiles, encoding="utf-8") as f:
            tree_rules = treerules.derive(json.load(f)["files"])
    print(f"stage minutes: world {MINUTES_WORLD}, kernel {MINUTES_KERNEL}, "
          f"image {MINUTES_IMAGE}, tests {MINUTES_TESTS} (everything {MINUTES_FULL})")
    print(f"tree rules derived from {args.makefiles}: {len(tree_rules)}")
    per_push = [classify_paths(files, tree_rules=tree_rules) for _, files in pushes]
    spent = report("per push", per_push, "pushes", "push")
    hand = [classify_paths(files) for _, files in pushes]
    print(f"  hand rules alone: skip buildworld "
          f"{100 * sum(not p.world for p in hand) / len(hand):.1f} %, minutes per push "
          f"{sum(minutes(p) for p in hand) / len(hand):.1f}")
    host = sum(bool(p.untested_host_paths) for p in per_push)
    print(f"  untested host-side vkernel paths named on {host} pushes "
          f"({100 * host / len(per_push):.1f} %)")
    per_batch = [merge(classify_paths(files, tree_rules=tree_rules) for files in group)
                 for group in batches(pushes, args.window)]
    spent_b = report(f"batched ({args.window} s tree-stable window)", per_batch, "builds", "build")
    print(f"  total build hours: {spent / 60:.0f} per push, {spent_b / 60:.0f} batched, "
          f"{len(pushes) * MINUTES_FULL / 60:.0f} if every push built everything")
    rule_counts(pushes, tree_rules)
    failed = safety(tree_rules)
    print(f"unsafe and over-build cases: {len(UNSAFE) + len(OVER_BUILDS) - failed} of "
          f"{len(UNSAFE) + len(OVER_BUILDS)} as required")
    print(f"replayed in {time.monotonic() - started:.2f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
