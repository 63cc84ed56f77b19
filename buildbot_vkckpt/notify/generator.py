"""A Buildbot report generator that reports state changes and bisected culprits only.

Buildbot's own ``BuildStatusGenerator(mode=("change",))`` compares with the build just before,
whatever its result, so an EXCEPTION between two red builds reads as "fixed" and "broken
again", and it cannot know about a culprit found later. This generator compares with the last
earlier build that had a verdict (:mod:`~.events`) and reports a build that carries a
``vkckpt_culprit`` its builder's previous build did not.

The culprit arrives when the bisection's controller build finishes: that build carries
``vkckpt_culprit`` (its ``builder`` names the watched builder), so a build of any builder is
reported when its culprit names one of ``builders``. A culprit set on a build that had already
finished sends no event of its own in Buildbot 4.3; the controller's finished build is the one
event that surely comes.
"""
from typing import ClassVar, Sequence

from buildbot import config as bb_config
from buildbot.data import resultspec
from buildbot.reporters import utils
from buildbot.reporters.generators.utils import BuildStatusGeneratorMixin
from twisted.internet import defer
from twisted.python import log

from buildbot_vkckpt.notify import events
from buildbot_vkckpt.notify.formatter import NOTIFY_KEY, NoticeFormatter
from buildbot_vkckpt.notify.whatbroke import Culprit, prop

LOOK_BACK = 50          # earlier builds searched for the last verdict


class StateChangeGenerator(BuildStatusGeneratorMixin):
    """``events``: which of :data:`~.events.EVENTS` are reported; ``builders``: the watched
    builders (None: all)."""

    wanted_event_keys = [("builds", None, "finished")]
    compare_attrs: ClassVar[Sequence[str]] = ["formatter", "events"]

    def __init__(self, builders=None, events=events.DEFAULT_EVENTS, formatter=None,
                 tags=None, branches=None):
        super().__init__(("change",), tags, builders, None, branches, None, None, False)
        self.events = tuple(events) if isinstance(events, (list, tuple)) else events
        self.formatter = formatter if formatter is not None else NoticeFormatter()

    def check(self):
        super().check()
        if not isinstance(self.events, tuple) or not self.events or any(
                e not in events.EVENTS for e in self.events):
            bb_config.error(f"events must be a list of {', '.join(events.EVENTS)}, "
                            f"not {self.events!r}")

    def generate_name(self):
        return "vkckpt_" + super().generate_name()

    def _watched(self, build, culprit):
        if self.is_message_needed_by_props(build):
            return True
        # the bisection's controller build, reporting on a watched builder
        return culprit is not None and self.builders is not None \
            and culprit.builder in self.builders

    @defer.inlineCallbacks
    def generate(self, master, reporter, key, build):
        yield utils.getDetailsForBuild(master, build, want_properties=True, want_steps=True)
        culprit = Culprit.from_value(prop(build, "vkckpt_culprit"))
        if not self._watched(build, culprit):
            return None
        previous = yield previous_with_verdict(master, build)
        previous_culprit = None
        if previous is not None and culprit is not None:
            props = yield master.data.get(("builds", previous["buildid"], "properties"))
            found = Culprit.from_value(prop({"properties": props or {}}, "vkckpt_culprit"))
            previous_culprit = found.revision if found else None
        event = events.decide(build["results"],
                              events.verdict(previous["results"]) if previous else None,
                              culprit.revision if culprit else None, previous_culprit,
                              self.events)
        if event is None:
            return None
        build[NOTIFY_KEY] = {"event": event,
                             "previous_number": previous["number"] if previous else None}
        if event == "culprit" and culprit.builder != build["builder"]["name"]:
            # the controller's build: what broke is in the red build it bisected
            build[NOTIFY_KEY]["red"] = yield red_build(master, culprit)
        report = yield self.build_message(self.formatter, master, reporter, build)
        return report


@defer.inlineCallbacks
def previous_with_verdict(master, build):
    """The last earlier finished build of the same builder that was red or green."""
    earlier = yield master.data.get(
        ("builders", build["builderid"], "builds"),
        filters=[resultspec.Filter("number", "lt", [build["number"]]),
                 resultspec.Filter("complete", "eq", [True])],
        order=["-number"], limit=LOOK_BACK)
    for candidate in earlier or []:
        if events.verdict(candidate.get("results")) is not None:
            return candidate
    return None


@defer.inlineCallbacks
def red_build(master, culprit):
    """The bisected red build with its properties and steps, or None (a culprit without its
    build number, a build since removed, a data API error: the culprit is still sent)."""
    if culprit.builder is None or culprit.build is None:
        return None
    try:
        red = yield master.data.get(("builders", culprit.builder, "builds", culprit.build))
        if not red:
            return None
        red["properties"] = yield master.data.get(("builds", red["buildid"], "properties"))
        red["steps"] = yield master.data.get(("builds", red["buildid"], "steps"))
    except Exception as e:          # noqa: BLE001 - a lookup must not lose the culprit mail
        log.err(e, f"vkckpt notify: reading red build {culprit.builder} #{culprit.build}")
        return None
    return red
