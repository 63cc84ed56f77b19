"""Flake or regression: which failures are re-run, and what the attempts say.

A failed guest test or checkpoint cycle is re-run before it is called deterministic: the
guest suite's ``run.sh --retries N`` re-runs a failed test alone in the same guest, and
VkernelCheckpointCycle runs a fresh cycle in the same session when that is sound. The
decision is made on the outcome's :class:`~buildbot_vkckpt.protocol.Kind` and structured
details, never on its text:

* ``infrastructure``, ``unsupported`` and ``host lost`` are not verdicts on the kernel under
  test: never re-run as a test;
* a panic, fatal trap or double fault (``details["crash"]``, ``details["panic"]``) is a
  result: never re-run;
* a cycle whose checkpoint, restore or guest stopped answering (``timeout``) left no running
  guest, so a fresh cycle needs a fresh boot, which the step does not do: not re-run, and the
  summary says so;
* a cycle whose ``verify`` failed (``kernel``: the guest runs but did not go on as it should)
  and a failed guest test (``test``) are re-run.

Standard library only: the master's steps and the guest suite's verdict reader share it.
"""
from dataclasses import dataclass, field
from typing import List, Optional

from ..protocol import Kind

DEFAULT_RETRIES = 2
NOT_A_TEST = (Kind.INFRASTRUCTURE, Kind.UNSUPPORTED, Kind.HOST_LOST)
FRESH_BOOT = "not retried: needs a fresh boot"
PANIC = "not retried: a kernel panic is a result"
INFRASTRUCTURE = "not retried: not a test outcome"
# the cycle actions after whose failure the vkernel still runs its guest
SAME_SESSION_ACTIONS = ("verify",)


def refusal(kind, details=None, action=None, timed_out=False):
    """Why a failed run must not be re-run (one of the ``not retried: ...`` texts), or None
    when it may be. ``kind`` is the outcome's Kind (or its wire string), ``details`` its
    details, ``action`` the cycle action that failed (None for a guest test)."""
    kind = Kind.of(kind)
    details = details if isinstance(details, dict) else {}
    if timed_out or kind is Kind.TIMEOUT:
        return FRESH_BOOT if action else None
    if kind is None or kind in NOT_A_TEST:
        return INFRASTRUCTURE
    if details.get("crash") or details.get("panic"):
        return PANIC
    if action is not None and action not in SAME_SESSION_ACTIONS:
        return FRESH_BOOT
    return None


@dataclass
class Flake:
    """The attempts of one failed test or check: ``outcomes`` in order, True for a pass."""
    name: str
    outcomes: List[bool] = field(default_factory=list)
    note: Optional[str] = None      # why it was not re-run (``not retried: ...``)

    @property
    def attempts(self):
        return len(self.outcomes)

    @property
    def failed(self):
        return sum(1 for ok in self.outcomes if not ok)

    @property
    def flaky(self):
        """Failed at least once and passed at least once."""
        return 0 < self.failed < self.attempts

    @property
    def verdict(self):
        """``flaky (1/3 failed)``, ``deterministic (3/3 failed)`` or the ``not retried`` note."""
        if self.note and self.attempts <= 1:
            return self.note
        word = "flaky" if self.flaky else "deterministic"
        return f"{word} ({self.failed}/{self.attempts} failed)"

    def describe(self):
        return f"{self.name}: {self.verdict}"

    def as_property(self):
        return {"test": self.name, "verdict": self.verdict}

    def attempt_results(self, test_name=None):
        """One pass_fail test result per attempt (values are strings, ``line`` the attempt),
        so the dashboard can count flaky builds per test."""
        return [{"value": "1" if ok else "0", "test_name": test_name or self.name,
                 "line": number}
                for number, ok in enumerate(self.outcomes, 1)]


def parse_attempts(text):
    """The suite's ``attempts: fail pass pass`` TAP diagnostic as outcomes (True = pass);
    an empty list for anything else."""
    words = str(text or "").split()
    if not words or any(w not in ("pass", "fail") for w in words):
        return []
    return [w == "pass" for w in words]


def merge_property(existing, flakes):
    """``vkckpt_flaky``: the list another step of the build set, plus the verdict of every
    test this step re-ran (``flaky ...`` or ``deterministic ...``: notifications say which)."""
    merged = [e for e in existing if isinstance(e, dict)] if isinstance(existing, list) else []
    names = {e.get("test") for e in merged}
    merged += [f.as_property() for f in flakes if f.attempts > 1 and f.name not in names]
    return merged
