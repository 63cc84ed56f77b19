"""What of a build log is worth streaming live: :class:`BuildLogDigest`, bytes in, bytes out.

The ``digest`` log mode of BuildWorld/BuildKernel runs it on the worker (``makedigest``), so
that the master reads banners, diagnostics and the end of the log instead of every line. It
finds lines with the scanners of :mod:`.buildlog`, so the two never disagree on which lines
matter.
"""
import time
from bisect import bisect_left
from typing import Callable, List

from .buildlog import BuildLogMonitor, _marked_line_starts

__all__ = ["BuildLogDigest", "DIGEST_NOTE"]

DIGEST_NOTE = "[... {lines:,} more lines in the full log ...]"


class BuildLogDigest:
    """Chooses the lines of a build log worth streaming live; bytes in, bytes out.

    Kept: every line the monitor may classify (a line with a marker: banners, warnings,
    errors, make's failure lines, preconditions), the ``context_lines`` lines before and after
    the first error, and the last ``tail_lines`` lines of the log. So a
    :class:`BuildLogMonitor` reading the digest reports the same stages, warnings, errors,
    failure, first-error excerpt and summaries as one reading the whole log (only ``lines``,
    ``bytes`` and the events' log line numbers differ), and the digest ends with the log's
    last lines. Each run of dropped lines is replaced by one note line (:data:`DIGEST_NOTE`),
    which no monitor classifies and which never falls inside a first-error excerpt.

    Lines wait in a window of the last ``tail_lines`` lines before they are kept or dropped, so
    that what came before an error can still be kept and order is never changed. A banner or an
    error empties the window at once (both show live); otherwise call :meth:`flush` when
    :meth:`due` is true: when nothing was emitted for ``interval`` seconds it emits the latest
    lines, so while make talks the digest is never silent for longer than that (the step's
    silence timeout keeps its meaning: make's silence).

    Work is per chunk, not per line: the markers are found by the monitor's C-speed scanners,
    and only kept lines and the window are touched one by one. Memory is bounded by the window,
    a chunk and ``max_line_bytes`` (the kept prefix of an unterminated line; the monitor never
    reads beyond it either).
    """

    def __init__(self, tail_lines: int = 50, context_lines: int = 5, interval: float = 10.0,
                 clock: Callable[[], float] = time.monotonic, max_line_bytes: int = 16384):
        self._ctx = max(0, int(context_lines))
        self._window = max(1, int(tail_lines), self._ctx)
        self._interval = float(interval)
        self._clock = clock
        self._cap = max(1, int(max_line_bytes))
        self._monitor = BuildLogMonitor(clock=lambda: 0.0, context_lines=self._ctx,
                                        max_line_bytes=self._cap)
        self._pending: List[bytes] = []        # the window: lines without their newline
        self._pending_hits: List[int] = []     # indexes into _pending of marked lines
        self._partial = bytearray()            # kept prefix of the unterminated line
        self._partial_len = 0
        self._next_line = 1                    # stream number of the next complete line
        self._after = 0                        # lines still wanted after the first error
        self._first_error = False
        self._gap = 0                          # lines dropped since the last kept line
        self._last_emit = clock()
        self.lines = 0                         # lines read
        self.bytes = 0                         # bytes read
        self.kept_lines = 0                    # lines emitted (notes not counted)
        self.kept_bytes = 0                    # bytes emitted, notes included

    # --- API ------------------------------------------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        """Bytes of the log in (any chunking); the digest bytes to stream now out."""
        if not data:
            return b""
        data = bytes(data)
        self.bytes += len(data)
        nl = data.rfind(b"\n")
        if nl < 0:
            self._extend_partial(data)
            return b""
        if self._partial_len:
            region = bytes(self._partial) + data[:nl + 1]
            self._partial.clear()
            self._partial_len = 0
        else:
            region = data[:nl + 1]
        if nl + 1 < len(data):
            self._extend_partial(data[nl + 1:])
        return self._process(region)

    def due(self) -> bool:
        """True when lines wait and nothing was emitted for ``interval`` seconds."""
        return bool(self._pending) and self._clock() - self._last_emit >= self._interval

    def flush(self) -> bytes:
        """Emit every waiting line (the latest lines of the log)."""
        out: List[bytes] = []
        if self._pending:
            self._emit(self._pending, 0, len(self._pending), out)
            self._pending, self._pending_hits = [], []
        return self._done(out)

    def close(self) -> bytes:
        """The stream ended: the unterminated last line and the whole window."""
        out = b""
        if self._partial_len:
            line = bytes(self._partial) + b"\n"
            self._partial.clear()
            self._partial_len = 0
            out = self._process(line)
        return out + self.flush()

    # --- work -----------------------------------------------------------------------------------

    def _extend_partial(self, piece: bytes) -> None:
        room = self._cap - len(self._partial)
        if room > 0:
            self._partial += piece[:room]
        self._partial_len += len(piece)

    def _process(self, region: bytes) -> bytes:
        first = self._next_line
        events = self._monitor.feed(region)
        lines = region.split(b"\n")
        lines.pop()                               # region ends with a newline
        count = len(lines)
        self._next_line += count
        self.lines += count
        base = len(self._pending)
        seq = self._pending + lines
        hits = list(self._pending_hits)
        pos, index = 0, 0
        urgent = set()
        for start in _marked_line_starts(region, 0, len(region)):
            index += region.count(b"\n", pos, start)
            pos = start
            hits.append(base + index)
            if region.startswith(b">>> ", start):
                urgent.add(base + index)          # a banner: the live summary moves on
        if self._after:
            take = min(self._after, count)
            urgent.update(range(base, base + take))
            self._after -= take
        for ev in events:
            if not BuildLogMonitor._is_error(ev.kind, ev.data):
                continue
            at = base + ev.line - first
            urgent.add(at)
            if not self._first_error:
                self._first_error = True
                end = min(at + 1 + self._ctx, base + count)
                urgent.update(range(at + 1, end))
                self._after = at + 1 + self._ctx - end
        out: List[bytes] = []
        released = 0
        window = self._window
        for u in sorted(urgent):
            if u < released:
                continue
            lo = max(released, u - window)
            self._release(seq, released, lo, hits, out)
            self._emit(seq, lo, u + 1, out)
            released = u + 1
        lo = max(released, len(seq) - window)
        self._release(seq, released, lo, hits, out)
        self._pending = seq[lo:]
        self._pending_hits = [h - lo for h in hits if h >= lo]
        return self._done(out)

    def _release(self, seq: List[bytes], a: int, b: int, hits: List[int],
                 out: List[bytes]) -> None:
        """Lines a..b-1 leave the window: marked lines are kept, the others dropped."""
        if a >= b:
            return
        prev = a
        for h in hits[bisect_left(hits, a):bisect_left(hits, b)]:
            self._gap += h - prev
            self._emit(seq, h, h + 1, out)
            prev = h + 1
        self._gap += b - prev

    def _emit(self, seq: List[bytes], a: int, b: int, out: List[bytes]) -> None:
        if a >= b:
            return
        if self._gap:
            out.append(DIGEST_NOTE.format(lines=self._gap).encode() + b"\n")
            self._gap = 0
        out.append(b"\n".join(seq[a:b]) + b"\n")
        self.kept_lines += b - a

    def _done(self, out: List[bytes]) -> bytes:
        if not out:
            return b""
        self._last_emit = self._clock()
        data = b"".join(out)
        self.kept_bytes += len(data)
        return data
