"""The pure bisection: every culprit position of every range size, skips, flakes, limits."""
import math
import random

import pytest

from buildbot_vkckpt.bisect.core import (BAD, FLAKY, GOOD, SKIP, Culprit, Probe, Unbisectable,
                                         build_limit, next_step)


def revs(n):
    return [f"{i:040x}" for i in range(1, n + 1)]


def run(candidates, judge, max_builds=None):
    """Drive next_step to its end; returns (outcome, probed revisions)."""
    verdicts, probed = {}, []
    while True:
        step = next_step(candidates, verdicts, max_builds)
        if not isinstance(step, Probe):
            return step, probed
        assert step.revision not in verdicts, "probed a revision twice"
        assert step.number == len(verdicts) + 1 and step.number <= step.limit
        probed.append(step.revision)
        verdicts[step.revision] = judge(candidates.index(step.revision))


@pytest.mark.parametrize("n", range(1, 70))
def test_every_culprit_is_found_within_ceil_log2(n):
    candidates = revs(n)
    for culprit in range(n):
        outcome, probed = run(candidates, lambda i: BAD if i >= culprit else GOOD)
        assert outcome == Culprit(candidates[culprit], len(probed))
        assert len(probed) <= (math.ceil(math.log2(n)) if n > 1 else 0)
        assert candidates[-1] not in probed   # the red build already said it is bad


def test_one_candidate_needs_no_build():
    assert next_step(["a" * 40], {}) == Culprit("a" * 40, 0)


@pytest.mark.parametrize("seed", range(200))
def test_skips_never_exceed_the_bound_and_never_lie(seed):
    rnd = random.Random(seed)
    n = rnd.randint(2, 300)
    candidates = revs(n)
    culprit = rnd.randrange(n)
    broken = {i for i in range(n - 1) if rnd.random() < 0.2}
    outcome, probed = run(candidates, lambda i: SKIP if i in broken else
                          (BAD if i >= culprit else GOOD))
    assert len(probed) <= build_limit(n)
    if isinstance(outcome, Culprit):
        assert outcome.revision == candidates[culprit]
    else:
        assert candidates[culprit] in outcome.suspects
        assert ("build break" in outcome.reason) or ("limit" in outcome.reason)


def test_a_build_break_next_to_the_culprit_leaves_two_suspects():
    candidates = revs(4)   # culprit index 2, index 1 does not build
    outcome, probed = run(candidates, lambda i: SKIP if i == 1 else (BAD if i >= 2 else GOOD))
    assert isinstance(outcome, Unbisectable)
    assert outcome.suspects == tuple(candidates[1:3])
    assert outcome.reason.startswith("a build break in the range: the first bad commit is "
                                     "one of 2 commits")


def test_a_flaky_verdict_stops_with_the_revision_named():
    candidates = revs(8)
    outcome, probed = run(candidates, lambda i: FLAKY)
    assert isinstance(outcome, Unbisectable) and len(probed) == 1
    assert outcome.reason.startswith(f"a flaky result at {probed[0][:10]}")


def test_a_lower_limit_is_kept_and_says_what_is_left():
    candidates = revs(64)
    outcome, probed = run(candidates, lambda i: BAD if i >= 40 else GOOD, max_builds=2)
    assert isinstance(outcome, Unbisectable) and len(probed) == 2
    assert "limit of 2 bisection builds" in outcome.reason
    assert candidates[40] in outcome.suspects and len(outcome.suspects) == 16


def test_a_limit_cannot_be_raised_above_the_bound():
    assert build_limit(64, 50) == 8 and build_limit(64) == 8 and build_limit(1) == 0
    assert build_limit(5) == 5


def test_inconsistent_results_are_not_a_culprit():
    candidates = revs(8)
    verdicts = {candidates[2]: BAD, candidates[5]: GOOD}
    outcome = next_step(candidates, verdicts)
    assert isinstance(outcome, Unbisectable) and "inconsistent" in outcome.reason


@pytest.mark.parametrize("candidates, verdicts, message", [
    ([], {}, "no candidates"),
    (["a", "a"], {}, "twice"),
    (["a", "b"], {"c": GOOD}, "outside the range"),
    (["a", "b"], {"a": "maybe"}, "unknown verdict"),
])
def test_bad_input_is_a_clear_error(candidates, verdicts, message):
    with pytest.raises(ValueError, match=message):
        next_step(candidates, verdicts)
