"""Chunkings for the monitors' feed-independence tests."""


def every_boundary(n, parts=4):
    """Cut lists over ``n`` bytes in which every offset 1..n-1 is a chunk boundary exactly
    once: offsets c, c+s, c+2s, ... (s = ceil(n/parts)) for each c in 1..s. A monitor whose
    result depends on where one feed ends disagrees with its one-chunk result in the run that
    cuts there, in a quarter of the runs that trying each single split takes (the tests are
    quadratic in the sample's size)."""
    step = max(1, -(-n // parts))
    return [list(range(c, n, step)) for c in range(1, min(step, n - 1) + 1)]


def pieces(data, cuts):
    """``data`` cut at ``cuts`` (ascending offsets)."""
    ends = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(ends, ends[1:])]
