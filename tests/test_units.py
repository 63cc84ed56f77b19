"""Durations and sizes for people: one rule for the build page, the trends page and the demo."""
import pytest

from buildbot_vkckpt.demo.runner import _for_people
from buildbot_vkckpt.units import format_ms, format_size


@pytest.mark.parametrize("seconds, text", [(0.097, "97 ms"), (0.0015, "1.5 ms"), (0.031, "31 ms"),
                                           (1.2345, "1.234 s"), (None, "")])
def test_durations(seconds, text):
    assert format_ms(seconds) == text


@pytest.mark.parametrize("size, text", [(2633728, "2.5 MiB"), (812 * 1024, "812 KiB"),
                                        (3 << 30, "3.00 GiB"), (None, "")])
def test_sizes(size, text):
    assert format_size(size) == text


def test_the_demo_shows_result_values_in_the_same_units():
    assert _for_people("0.04", {"value_unit": "seconds"}) == "40 ms"
    assert _for_people("2633728", {"value_unit": "bytes"}) == "2.5 MiB"
    assert _for_people("3", {"value_unit": "count"}) == "3"
    assert _for_people("garbage", {"value_unit": "seconds"}) == "garbage"
