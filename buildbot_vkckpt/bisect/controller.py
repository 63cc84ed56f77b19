"""The bisection controller's steps: list the range, probe one revision at a time through the
bisect builder, report the culprit.

``BisectStart`` reads what to bisect (property ``vkckpt_bisect_of``, set by the watched
build's trigger) and lists the candidates with ``git rev-list`` in the controller's checkout.
Each ``BisectProbe`` is a Trigger step (waitForFinish) of the bisect builder with one revision;
it reads the probe build's verdict and adds the next step. The verdicts live in the build
property ``vkckpt_bisect_verdicts``; :func:`~buildbot_vkckpt.bisect.core.next_step` decides from
them, so each step only adds the one after it. ``BisectReport`` names the culprit.
"""
from dataclasses import dataclass
from typing import Optional

from buildbot.process import buildstep, remotecommand
from buildbot.process.results import CANCELLED, SUCCESS, WARNINGS
from buildbot.steps.trigger import Trigger

from buildbot_vkckpt.bisect import core
from buildbot_vkckpt.bisect import facts as bfacts
from buildbot_vkckpt.bisect.check import OUTCOME, Check, verdict
from buildbot_vkckpt.bisect.watch import BISECT_OF
from buildbot_vkckpt.steps.plan import FULL_REVISION
from buildbot_vkckpt.steps.report import FinalSummaryMixin

SOURCE = "bisect"
CANDIDATES = "vkckpt_bisect_candidates"
VERDICTS = "vkckpt_bisect_verdicts"
PROBLEM = "vkckpt_bisect_problem"
CULPRIT = "vkckpt_culprit"


@dataclass(frozen=True)
class Settings:
    """What every controller step needs: the bisect builder's scheduler and the limits
    (compared by value: a reconfig with the same settings changes no builder)."""
    probe_scheduler: str
    max_builds: Optional[int] = None
    max_range: int = 1000


async def git(step, args, ok=(0,)):
    """(rc, stdout) of ``git args`` in the checkout; an argv list, nothing reaches a shell."""
    cmd = remotecommand.RemoteShellCommand(
        step.workdir or "build", ["git", "-c", "core.quotepath=off", *args],
        collectStdout=True, logEnviron=False, timeout=300, stdioLogName=None,
        decodeRC={rc: SUCCESS for rc in ok})
    await step.runCommand(cmd)
    return cmd.rc, cmd.stdout


def request_of(step):
    """The validated ``vkckpt_bisect_of`` property: (request, Check) or ValueError."""
    request = step.getProperty(BISECT_OF)
    if not isinstance(request, dict):
        raise ValueError("this build was not started by a red build (no vkckpt_bisect_of)")
    for key in ("good", "bad"):
        if not isinstance(request.get(key), str) or not FULL_REVISION.match(request[key]):
            raise ValueError(f"vkckpt_bisect_of[{key!r}] is not a full revision: "
                             f"{request.get(key)!r}")
    return request, Check.from_dict(request.get("check"))


def verdicts_of(step):
    return {v["revision"]: v["verdict"] for v in step.getProperty(VERDICTS) or []}


def advance(step, settings):
    """Add the step that comes next: a probe, or the report."""
    problem = step.getProperty(PROBLEM)
    candidates = step.getProperty(CANDIDATES) or []
    outcome = None if problem else core.next_step(candidates, verdicts_of(step),
                                                  settings.max_builds)
    if isinstance(outcome, core.Probe):
        ss = step.build.getSourceStamp("")
        source = {"codebase": "", "repository": ss.repository, "branch": ss.branch,
                  "project": ss.project, "revision": outcome.revision}
        step.build.addStepsAfterCurrentStep([BisectProbe(outcome, source, settings)])
    else:
        step.build.addStepsAfterCurrentStep([BisectReport(settings)])


class BisectStart(FinalSummaryMixin, buildstep.BuildStep):
    """Lists the revisions after the last green one up to the first red one."""

    name = "bisect-range"

    def __init__(self, settings, **kwargs):
        self.settings = settings
        kwargs.setdefault("haltOnFailure", True)
        super().__init__(**kwargs)

    async def run(self):
        try:
            count = await self.list_range()
            self.final_summary = (f"{count} commits to bisect, at most "
                                  f"{core.build_limit(count, self.settings.max_builds)} builds")
        except ValueError as e:
            self.setProperty(PROBLEM, str(e), SOURCE)
            self.final_summary = f"could not bisect: {e}"
        advance(self, self.settings)
        return SUCCESS

    async def list_range(self):
        request, _check = request_of(self)
        good, bad = request["good"], request["bad"]
        rc, _ = await git(self, ["merge-base", "--is-ancestor", good, bad], ok=(0, 1))
        if rc != 0:
            raise ValueError(f"the last green revision {core.short(good)} is not an ancestor "
                             f"of the first red one {core.short(bad)}")
        # first parents: a merge is one candidate, as the branch saw it
        rc, out = await git(self, ["rev-list", "--reverse", "--first-parent",
                                   f"{good}..{bad}", "--"])
        candidates = out.split() if rc == 0 else []
        if not candidates or candidates[-1] != bad:
            raise ValueError(f"git could not list {core.short(good)}..{core.short(bad)}")
        if len(candidates) > self.settings.max_range:
            raise ValueError(f"{len(candidates)} commits in the range, more than max_range "
                             f"{self.settings.max_range}")
        self.setProperty(CANDIDATES, candidates, SOURCE)
        await self.addCompleteLog("range", "".join(f"{c}\n" for c in candidates))
        return len(candidates)


class BisectProbe(Trigger):
    """Builds one revision with the bisect builder and records its verdict."""

    def __init__(self, probe, source, settings, **kwargs):
        self.probe, self.settings = probe, settings
        kwargs.setdefault("name", f"probe {probe.number}: {core.short(probe.revision)}")
        super().__init__(schedulerNames=[settings.probe_scheduler], sourceStamps=[source],
                         waitForFinish=True, **kwargs)
        self.outcome = None

    async def run(self):
        await super().run()
        if self.stopped:
            return CANCELLED
        request, check = request_of(self)
        build = await bfacts.build_of_request(self.master, self.brids[0]) \
            if self.brids else None
        if build is None:
            found, why = core.SKIP, "no probe build ran"
        else:
            props = await bfacts.build_properties(self.master, build["buildid"])
            found, why = verdict(check, await bfacts.build_facts(self.master, build["buildid"]),
                                 props.get(OUTCOME))
        record = {"revision": self.probe.revision, "verdict": found, "why": why,
                  "build": build["number"] if build else None}
        self.setProperty(VERDICTS, (self.getProperty(VERDICTS) or []) + [record], SOURCE)
        self.outcome = f"{found}: {why}"       # the step's name has the revision
        advance(self, self.settings)
        return SUCCESS

    def getResultSummary(self):
        if self.outcome:
            return {"step": self.outcome}
        return super().getResultSummary()


class BisectReport(FinalSummaryMixin, buildstep.BuildStep):
    """The culprit (``vkckpt_culprit``, also put on the first red build) or why there is none."""

    name = "bisect-result"

    def __init__(self, settings, **kwargs):
        self.settings = settings
        kwargs.setdefault("alwaysRun", True)
        super().__init__(**kwargs)

    async def run(self):
        problem = self.getProperty(PROBLEM)
        outcome = core.Unbisectable(problem, 0) if problem else core.next_step(
            self.getProperty(CANDIDATES) or [], verdicts_of(self), self.settings.max_builds)
        if not isinstance(outcome, core.Culprit):
            reason = outcome.reason if isinstance(outcome, core.Unbisectable) else \
                "the bisection stopped early"
            self.final_summary = f"could not bisect: {reason}"
            self.setProperty("vkckpt_bisect_result", self.final_summary, SOURCE)
            await self.mark_red_build(None, self.final_summary)
            return WARNINGS
        request, check = request_of(self)
        culprit = await self.describe_culprit(outcome.revision, request, check)
        culprit["builds"] = outcome.builds
        self.setProperty(CULPRIT, culprit, SOURCE)
        self.final_summary = (f"culprit {core.short(culprit['revision'])} {culprit['subject']} "
                              f"— {culprit['author']} ({culprit['check']})")
        self.setProperty("vkckpt_bisect_result", self.final_summary, SOURCE)
        await self.mark_red_build(culprit, self.final_summary)
        return SUCCESS

    def getResultSummary(self):
        # the controller's own build says the outcome, green or not
        return {"step": self.final_summary, "build": self.final_summary} \
            if self.final_summary else super().getResultSummary()

    async def describe_culprit(self, revision, request, check):
        rc, out = await git(self, ["log", "-1", "--format=%an <%ae>%x00%s", revision, "--"])
        author, _, subject = (out.strip() if rc == 0 else "").partition("\0")
        builderid = await self.build.builder.getBuilderId()
        return {"revision": revision, "author": author or "unknown author",
                "subject": subject or "(no subject)", "check": check.describe(),
                "builder": request.get("builder"), "url": request.get("url"),
                "build": request.get("number"),
                "bisect_url": bfacts.build_url(self.master, builderid, self.build.number)}

    async def mark_red_build(self, culprit, summary):
        """The first red build gets the outcome too: its property and its summary line."""
        request = self.getProperty(BISECT_OF) or {}
        buildid = request.get("buildid")
        if not isinstance(buildid, int):
            return
        updates = self.master.data.updates
        if culprit is not None:
            await updates.setBuildProperty(buildid, CULPRIT, culprit, SOURCE)
        build = await self.master.data.get(("builds", buildid))
        if build and build.get("complete"):
            state = build.get("state_string") or ""
            await updates.setBuildStateString(buildid, f"{state} · {summary}".strip(" ·"))
