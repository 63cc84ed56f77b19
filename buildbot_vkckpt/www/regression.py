"""Regressions: a build whose metric is well above what the builder's previous green builds
measured.

For each metric — the build's median over its cycles after the first: the first cycle also
pays for warming up, and a build that stopped after one cycle must not look slower for it —
the baseline is the median of that metric over the previous ``baseline`` green builds
(success, checkpointing tested); the build
is flagged when its value exceeds the baseline by more than ``threshold`` (0.25 = +25 %) and
by at least the metric's smallest meaningful step (50 ms, 1 MiB: tens of ms of scheduling
noise on a fast restore are not a regression). Fewer than ``MIN_BASELINE`` earlier green builds: no verdict.
"""
import statistics
from dataclasses import dataclass

DEFAULT_BASELINE = 5
DEFAULT_THRESHOLD = 0.25
MIN_BASELINE = 2
# (attribute, name shown, smallest increase that counts, in the metric's unit): a test host's
# scheduling moves a 100 ms restore by tens of ms from one build to the next
METRICS = (("ckpt_seconds", "checkpoint time", 0.05),
           ("restore_seconds", "restore time", 0.05),
           ("console_seconds", "time to responsive console", 0.05),
           ("ckpt_bytes", "checkpoint file size", 1 << 20))
LATER_CYCLES = "after the first cycle"


@dataclass(frozen=True)
class Regression:
    attr: str
    metric: str              # "restore time"
    value: float             # the median of the cycles after the first
    baseline: float          # its median over the previous green builds
    builds: int              # how many green builds the baseline is made of

    @property
    def ratio(self):
        return self.value / self.baseline if self.baseline else None


def check_settings(baseline, threshold):
    """A message for settings that cannot work, or None."""
    if isinstance(baseline, bool) or not isinstance(baseline, int) or baseline < MIN_BASELINE:
        return f"regression_baseline must be a number of builds >= {MIN_BASELINE}, " \
               f"not {baseline!r}"
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
            or not 0 < threshold < 100:
        return f"regression_threshold must be a fraction above 0 (0.25 = +25 %), " \
               f"not {threshold!r}"
    return None


def flag(rows, baseline=DEFAULT_BASELINE, threshold=DEFAULT_THRESHOLD):
    """Set ``row.regressions`` on ``rows`` (newest first, one builder's) and return the
    flagged rows, newest first. A row's baseline is made only of the rows older than it."""
    history = {attr: [] for attr, _name, _step in METRICS}
    flagged = []
    for row in reversed(rows):
        row.regressions = []
        for attr, name, step in METRICS:
            value = row.later(attr)
            earlier = history[attr][-baseline:]
            if value is None or len(earlier) < MIN_BASELINE:
                continue
            base = statistics.median(earlier)
            if value > base * (1 + threshold) and value - base >= step:
                row.regressions.append(Regression(attr, name, value, base, len(earlier)))
        if row.green:
            for attr, _name, _step in METRICS:
                if row.later(attr) is not None:
                    history[attr].append(row.later(attr))
        if row.regressions:
            flagged.append(row)
    flagged.reverse()
    return flagged
