"""The chunkings the feed-independence tests use make every offset a boundary exactly once."""
import pytest

from .chunking import every_boundary, pieces


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 8, 13, 100, 2757])
def test_every_offset_is_a_boundary_exactly_once(n):
    runs = every_boundary(n)
    assert sorted(cut for cuts in runs for cut in cuts) == list(range(1, n))
    assert len(runs) <= max(1, -(-n // 4))            # a quarter of the single splits
    data = bytes(range(256)) * 11
    for cuts in runs:
        assert b"".join(pieces(data, cuts)) == data
        assert all(pieces(data, cuts))                 # no empty chunk
