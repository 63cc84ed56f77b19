"""Which finished builds are news: the notification events, decided on results and properties.

A build's *verdict* is red (FAILURE: the kernel or a test broke) or green (SUCCESS, or WARNINGS:
a flaky test or checkpointing not tested is reported in the build, not by a state change).
EXCEPTION, CANCELLED, SKIPPED and RETRY have no verdict: an infrastructure problem between two
red builds is not "fixed" and "broken again". State changes compare with the last earlier
build that had a verdict.

``red``        green (or no earlier verdict) -> red
``green``      red -> green
``culprit``    the build carries a bisected culprit its builder's previous build did not; for
               the bisection's own build of a watched builder also ``no culprit``: the
               bisection ended without one (the red message said one may follow)
``failing``    every red build (off by default)
``exception``  every EXCEPTION build: the host or the master's setup (off by default)
"""
from buildbot.process.results import EXCEPTION, FAILURE, SUCCESS, WARNINGS

EVENTS = ("red", "green", "culprit", "failing", "exception")
DEFAULT_EVENTS = ("red", "green", "culprit")
RED, GREEN = "red", "green"


def verdict(results):
    """``red``, ``green`` or None (no verdict) for a Buildbot result code."""
    if results == FAILURE:
        return RED
    if results in (SUCCESS, WARNINGS):
        return GREEN
    return None


def decide(results, previous_verdict, culprit, previous_culprit, events=DEFAULT_EVENTS):
    """The event a finished build notifies, or None. ``culprit``/``previous_culprit``: the
    revision of the bisected culprit on this build / on its builder's previous build."""
    if "culprit" in events and culprit and culprit != previous_culprit:
        return "culprit"
    now = verdict(results)
    if now == RED and previous_verdict != RED and "red" in events:
        return "red"
    if now == GREEN and previous_verdict == RED and "green" in events:
        return "green"
    if now == RED and "failing" in events:
        return "failing"
    if results == EXCEPTION and "exception" in events:
        return "exception"
    return None
