"""The bisection itself: pure, no Buildbot, no I/O.

The candidates are the revisions after the last green build up to and including the first red
one, oldest first; the last candidate is known bad. Each probe build gives a verdict on one
candidate (:data:`GOOD`, :data:`BAD`, :data:`SKIP` when it could not be built or could not run
the check, :data:`FLAKY` when the check passed on a re-run). :func:`next_step` looks at the
verdicts so far and says what to do: probe a revision, name the culprit, or give up with a
reason. It keeps no state, so the controller can store the verdicts in a build property and ask
again after every probe.

Bound: N candidates hold N possible culprits, so a clean binary search needs ceil(log2(N))
probes; two more are allowed for revisions that do not build. The bound can only be lowered.
"""
import math
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

GOOD, BAD, SKIP, FLAKY = "good", "bad", "skip", "flaky"
VERDICTS = (GOOD, BAD, SKIP, FLAKY)


def build_limit(candidates, max_builds=None):
    """Most probe builds a bisection of ``candidates`` revisions may start:
    ceil(log2(N)) + 2, or ``max_builds`` when that is lower."""
    bound = math.ceil(math.log2(candidates)) + 2 if candidates > 1 else 0
    return bound if max_builds is None else min(bound, max_builds)


@dataclass(frozen=True)
class Probe:
    """Build ``revision`` next (probe number ``number`` of at most ``limit``)."""
    revision: str
    number: int
    limit: int


@dataclass(frozen=True)
class Culprit:
    """``revision`` is the first bad commit; ``builds`` probes were needed."""
    revision: str
    builds: int


@dataclass(frozen=True)
class Unbisectable:
    """No single culprit: ``reason`` says why; ``suspects`` is what is left (oldest first)."""
    reason: str
    builds: int
    suspects: Tuple[str, ...] = ()


def short(revision):
    return revision[:10]


def _span(suspects):
    if len(suspects) == 1:
        return short(suspects[0])
    return f"{len(suspects)} commits {short(suspects[0])}..{short(suspects[-1])}"


def next_step(candidates: Sequence[str], verdicts: Dict[str, str],
              max_builds: Optional[int] = None):
    """What to do after ``verdicts`` ({revision: verdict}) on ``candidates``: a
    :class:`Probe`, a :class:`Culprit` or :class:`Unbisectable`."""
    candidates = list(candidates)
    if not candidates:
        raise ValueError("no candidates: the first red revision must be one")
    if len(set(candidates)) != len(candidates):
        raise ValueError("candidates name a revision twice")
    unknown = [r for r in verdicts if r not in candidates]
    if unknown:
        raise ValueError(f"verdict on a revision outside the range: {unknown[0]}")
    bad_verdicts = [v for v in verdicts.values() if v not in VERDICTS]
    if bad_verdicts:
        raise ValueError(f"unknown verdict {bad_verdicts[0]!r}")
    builds = len(verdicts)
    for revision, verdict in verdicts.items():
        if verdict == FLAKY:
            return Unbisectable(f"a flaky result at {short(revision)} (the check failed, then "
                                f"passed on a re-run)", builds)
    index = {r: i for i, r in enumerate(candidates)}
    good = max((index[r] for r, v in verdicts.items() if v == GOOD), default=-1)
    bad = min((index[r] for r, v in verdicts.items() if v == BAD), default=len(candidates) - 1)
    if good >= bad:
        return Unbisectable(f"inconsistent results: {short(candidates[good])} passed after "
                            f"{short(candidates[bad])} failed (a flaky check?)", builds)
    suspects = candidates[good + 1:bad + 1]
    if len(suspects) == 1:
        return Culprit(suspects[0], builds)
    open_ = [i for i in range(good + 1, bad) if candidates[i] not in verdicts]
    if not open_:
        return Unbisectable(f"a build break in the range: the first bad commit is one of "
                            f"{_span(suspects)} (the others did not build or run the check)",
                            builds, tuple(suspects))
    limit = build_limit(len(candidates), max_builds)
    if builds >= limit:
        return Unbisectable(f"the limit of {limit} bisection builds was reached: the first bad "
                            f"commit is one of {_span(suspects)}", builds, tuple(suspects))
    middle = (good + bad) / 2
    pick = min(open_, key=lambda i: (abs(i - middle), i))
    return Probe(candidates[pick], builds + 1, limit)
