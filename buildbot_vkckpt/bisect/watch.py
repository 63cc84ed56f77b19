"""WatchRegression: the last step of a watched builder's build. When the build went red on a
check that the build before it passed, it triggers the bisection controller (without waiting:
the probes need the host lock this build still holds)."""
from buildbot.process import buildstep
from buildbot.process.results import FAILURE, SKIPPED, SUCCESS
from buildbot.steps.trigger import Trigger

from buildbot_vkckpt.bisect import facts as bfacts
from buildbot_vkckpt.bisect.check import GREEN, OUTCOME, failing_check
from buildbot_vkckpt.bisect.core import short
from buildbot_vkckpt.steps.plan import FULL_REVISION
from buildbot_vkckpt.steps.report import FinalSummaryMixin

BISECT_OF = "vkckpt_bisect_of"    # what the controller bisects (set by the trigger)


def hide_unless_red(results, step):
    """Shown on a red build (started, or why not); hidden on the others."""
    return results == SKIPPED and step.build.results != FAILURE


class WatchRegression(FinalSummaryMixin, buildstep.BuildStep):
    """Starts a bisection of a green→red change on a check (docs/bisect.rst)."""

    name = "bisect-watch"

    def __init__(self, control_scheduler, **kwargs):
        self.control_scheduler = control_scheduler
        kwargs.setdefault("alwaysRun", True)
        kwargs.setdefault("hideStepIf", hide_unless_red)
        kwargs.setdefault("flunkOnFailure", False)
        kwargs.setdefault("warnOnFailure", False)
        super().__init__(**kwargs)

    async def run(self):
        if self.build.results != FAILURE:
            self.final_summary = "nothing to bisect"
            return SKIPPED
        request, why = await self.regression()
        if request is None:
            self.final_summary = f"not bisected: {why}"
            return SKIPPED
        self.build.addStepsAfterCurrentStep([Trigger(
            name="bisect", schedulerNames=[self.control_scheduler], waitForFinish=False,
            alwaysRun=True, sourceStamps=[self.source_stamp(request["bad"])],
            set_properties={BISECT_OF: request})])
        self.final_summary = (f"bisecting {short(request['good'])}..{short(request['bad'])} "
                              f"for {request['check']['step']}")
        return SUCCESS

    def source_stamp(self, revision):
        ss = self.build.getSourceStamp("")
        return {"codebase": "", "repository": ss.repository if ss else "",
                "branch": ss.branch if ss else None, "project": ss.project if ss else "",
                "revision": revision}

    async def regression(self):
        """(what to bisect, None) or (None, why not)."""
        master = self.master
        check, why = failing_check(await bfacts.build_facts(master, self.build.buildid),
                                   self.getProperty(OUTCOME))
        if check is None:
            return None, why
        builderid = await self.build.builder.getBuilderId()
        before = await bfacts.previous_build(master, builderid, self.build.number)
        if before is None:
            return None, "no earlier build to compare with"
        if before["results"] not in GREEN:
            return None, f"build {before['number']} was already red"
        good = (await bfacts.build_properties(master, before["buildid"])).get("got_revision")
        bad = self.getProperty("got_revision")
        if not isinstance(good, str) or not FULL_REVISION.match(good):
            return None, f"build {before['number']} recorded no revision"
        if not isinstance(bad, str) or not FULL_REVISION.match(bad):
            return None, "this build recorded no revision"
        if good == bad:
            return None, (f"build {before['number']} passed on the same revision: a flaky "
                          f"check or a change outside the tree")
        return {"builder": self.build.builder.name, "builderid": builderid,
                "number": self.build.number, "buildid": self.build.buildid,
                "url": bfacts.build_url(master, builderid, self.build.number),
                "good": good, "good_number": before["number"], "bad": bad,
                "check": check.to_dict()}, None
