"""The trends page's regression rule as docs/dashboard.rst states it, written again from the
text (not imported from www/regression.py), and the numbers it reads from the REST API.

Tests that run real builds on a loaded machine cannot promise that noise flags nothing; they
promise that the page flags exactly what this rule picks from the build's own numbers, and
that the slowed restore is among them. Fixed numbers prove "nothing else" in
tests/www/test_regression.py.
"""
import statistics

# (set description, the page's data-metric, smallest increase that counts)
METRICS = (("checkpoint time", "ckpt_seconds", 0.05),
           ("restore time", "restore_seconds", 0.05),
           ("time to responsive console", "console_seconds", 0.05),
           ("checkpoint file size", "ckpt_bytes", 1 << 20))
THRESHOLD, BASELINE, MIN_BASELINE = 0.25, 5, 2


def cycle_values(bb, build):
    """{set description: [value per cycle, in cycle order]} of the build's checkpoint-cycle."""
    steps = {s["name"]: s for s in bb.steps(build["buildid"])}
    if "checkpoint-cycle" not in steps:
        return {}
    found = {}
    for s in bb.test_result_sets(steps["checkpoint-cycle"]["stepid"]):
        if s["category"] == "pass_fail":
            continue
        results = sorted(bb.test_results(s["test_result_setid"]),
                         key=lambda r: int(str(r["test_name"]).split()[1]))
        found[s["description"]] = [float(r["value"]) for r in results]
    return found


def later(values):
    """The median of the cycles after the first; None when only one ran."""
    return statistics.median(values[1:]) if len(values or ()) > 1 else None


def expected_flags(bb, builds, tested=lambda build: True):
    """{(build number, data-metric)} for ``builds`` (one builder's, oldest first): more than
    25 % and at least the metric's step above the median of the previous (up to 5, at least
    2) green builds that tested checkpointing."""
    flags, greens = set(), []
    for build in builds:
        values = cycle_values(bb, build)
        mine = {attr: later(values.get(description)) for description, attr, _ in METRICS}
        for _description, attr, step in METRICS:
            earlier = [g[attr] for g in greens if g[attr] is not None][-BASELINE:]
            if mine[attr] is None or len(earlier) < MIN_BASELINE:
                continue
            base = statistics.median(earlier)
            if mine[attr] > base * (1 + THRESHOLD) and mine[attr] - base >= step:
                flags.add((build["number"], attr))
        if build["results"] == 0 and tested(build):
            greens.append(mine)
    return flags
