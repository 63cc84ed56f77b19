"""A Buildbot report generator that reports state changes and bisected culprits only.

Buildbot's own ``BuildStatusGenerator(mode=("change",))`` compares with the build just before,
whatever its result, so an EXCEPTION between two red builds reads as "fixed" and "broken
again", and it cannot know about a culprit found later. This generator compares with the last
earlier build that had a verdict (:mod:`~.events`) and reports a build that carries a
``vkckpt_culprit`` its builder's previous build did not.

The culprit arrives when the bisection's controller build finishes: that build carries
``vkckpt_culprit`` (its ``builder`` names the watched builder), so a build of any builder is
reported when its culprit names one of ``builders``; one that ends without a culprit is
reported as ``no culprit`` (with the bisection's reason). A culprit set on a build that had
already finished sends no event of its own in Buildbot 4.3; the controller's finished build is
the one event that surely comes.
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
from buildbot_vkckpt.notify.whatbroke import Culprit, failing_step, prop
from buildbot_vkckpt.protocol import Result, decode_line
from buildbot_vkckpt.steps.logs import EVENTS_LOG

LOOK_BACK = 50          # earlier builds searched for the last verdict
# set by the bisection's controller build (bisect/watch.py, bisect/controller.py): which red
# build it bisects, and its answer in words (shown as it is)
BISECT_OF = "vkckpt_bisect_of"
BISECT_RESULT = "vkckpt_bisect_result"


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

    def _bisects_watched(self, build, culprit):
        """The watched builder and red build number a bisection's controller build reports
        on, or None: its culprit's ``builder``/``build``, else its ``vkckpt_bisect_of``."""
        of = prop(build, BISECT_OF)
        of = of if isinstance(of, dict) else {}
        result = prop(build, BISECT_RESULT)
        result = result if isinstance(result, str) and result.strip() else None
        if culprit is None and result is None:
            return None             # not the controller's answer (a probe build, say)
        builder = culprit.builder if culprit else of.get("builder")
        number = culprit.build if culprit and culprit.build is not None else of.get("number")
        if self.builders is None or builder not in self.builders:
            return None
        return {"builder": builder, "number": number if isinstance(number, int) else None,
                "url": (culprit.url if culprit else None) or of.get("url"),
                "result": result}

    @defer.inlineCallbacks
    def generate(self, master, reporter, key, build):
        yield utils.getDetailsForBuild(master, build, want_properties=True, want_steps=True)
        culprit = Culprit.from_value(prop(build, "vkckpt_culprit"))
        own = self.is_message_needed_by_props(build)
        bisection = None if own else self._bisects_watched(build, culprit)
        if not own and bisection is None:
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
        if bisection is not None:
            # the bisection's controller build: only its answer is news, with what broke
            # read from the red build it bisected
            if culprit is None:
                event = "no culprit" if "culprit" in self.events else None
            elif event != "culprit":
                event = None
        if event is None:
            return None
        build[NOTIFY_KEY] = {"event": event,
                             "previous_number": previous["number"] if previous else None}
        if bisection is not None:
            build[NOTIFY_KEY]["bisection"] = bisection
            build[NOTIFY_KEY]["red"] = yield red_build(master, bisection["builder"],
                                                       bisection["number"])
        broken = build[NOTIFY_KEY].get("red") or build
        build[NOTIFY_KEY]["agent_outcome"] = yield agent_outcome(master, broken)
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
def red_build(master, builder, number):
    """Build ``number`` of ``builder`` with its properties and steps, or None (no number, a
    build since removed, a data API error: the bisection's answer is still sent)."""
    if builder is None or number is None:
        return None
    try:
        red = yield master.data.get(("builders", builder, "builds", number))
        if not red:
            return None
        red["properties"] = yield master.data.get(("builds", red["buildid"], "properties"))
        red["steps"] = yield master.data.get(("builds", red["buildid"], "steps"))
    except Exception as e:          # noqa: BLE001 - a lookup must not lose the answer
        log.err(e, f"vkckpt notify: reading red build {builder} #{number}")
        return None
    return red


@defer.inlineCallbacks
def agent_outcome(master, build):
    """The agent's last failed ``result`` event (a protocol ``Result``: typed kind, cause,
    fix) in the failing step's ``agent-events`` log, for a build whose steps set no
    ``vkckpt_outcome``; None without one (a make step, a lost host, a master-side timeout)."""
    step = failing_step(build)
    if step is None or prop(build, "vkckpt_outcome") is not None or "stepid" not in step:
        return None
    try:
        chunk = yield master.data.get(("steps", step["stepid"], "logs", EVENTS_LOG,
                                       "contents"))
    except Exception as e:          # noqa: BLE001 - the message goes out without it
        log.err(e, f"vkckpt notify: reading {EVENTS_LOG} of step {step.get('name')}")
        return None
    found = None
    for line in (chunk or {}).get("content", "").splitlines():
        # a stream log's lines start with their stream's letter
        result = Result.from_event(decode_line(line[1:]))
        if result is not None and not result.ok:
            found = result
    return found
