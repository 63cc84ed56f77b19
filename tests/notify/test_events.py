"""notify/events.py: only state changes and new culprits are news by default."""
import pytest
from buildbot.process.results import (CANCELLED, EXCEPTION, FAILURE, RETRY, SKIPPED, SUCCESS,
                                      WARNINGS)

from buildbot_vkckpt.notify.events import EVENTS, decide, verdict


@pytest.mark.parametrize("results, expected", [
    (FAILURE, "red"), (SUCCESS, "green"), (WARNINGS, "green"), (EXCEPTION, None),
    (CANCELLED, None), (SKIPPED, None), (RETRY, None), (None, None)])
def test_verdicts(results, expected):
    assert verdict(results) == expected


@pytest.mark.parametrize("results, previous, expected", [
    (FAILURE, "green", "red"),
    (FAILURE, None, "red"),             # the first build with a verdict, red: news
    (FAILURE, "red", None),             # still red: not news by default
    (SUCCESS, "red", "green"),
    (WARNINGS, "red", "green"),         # flaky or not tested is not red
    (SUCCESS, "green", None),
    (SUCCESS, None, None),
    (EXCEPTION, "green", None),         # infrastructure: no verdict, no state change
    (EXCEPTION, "red", None),
    (CANCELLED, "red", None),
])
def test_state_changes(results, previous, expected):
    assert decide(results, previous, None, None) == expected


def test_a_new_culprit_is_news_a_repeated_one_is_not():
    assert decide(SUCCESS, "green", "abc", None) == "culprit"
    assert decide(SUCCESS, "green", "abc", "def") == "culprit"
    assert decide(SUCCESS, "green", "abc", "abc") is None
    # a red build that already carries its culprit says the culprit first
    assert decide(FAILURE, "green", "abc", None) == "culprit"
    assert decide(FAILURE, "green", "abc", "abc") == "red"


def test_events_choose_what_is_sent():
    assert decide(FAILURE, "red", None, None, events=EVENTS) == "failing"
    assert decide(EXCEPTION, "green", None, None, events=EVENTS) == "exception"
    assert decide(FAILURE, "green", None, None, events=("green",)) is None
    assert decide(SUCCESS, "green", "abc", None, events=("red", "green")) is None
