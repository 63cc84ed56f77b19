"""The controller's steps with Buildbot's step-testing mixin: the range from git, the next
step each adds, the culprit or the reason there is none."""
from types import SimpleNamespace
from unittest import mock

from buildbot.process.results import SUCCESS, WARNINGS
from buildbot.test.reactor import TestReactorMixin
from buildbot.test.steps import ExpectShell, TestBuildStepMixin
from twisted.internet import defer
from twisted.trial import unittest

from buildbot_vkckpt.bisect.controller import (CANDIDATES, PROBLEM, VERDICTS, BisectProbe,
                                               BisectReport, BisectStart, Settings)
from buildbot_vkckpt.bisect.core import BAD, GOOD

GOOD_REV, BAD_REV = "a" * 40, "d" * 40
MIDDLE = ["b" * 40, "c" * 40]
CHECK = {"step": "checkpoint-cycle", "tests": ["restore"]}


def git(args, stdout="", rc=0):
    return ExpectShell(workdir="wkdir", log_environ=False, timeout=300,
                       command=["git", "-c", "core.quotepath=off", *args]) \
        .update("stdout", stdout).exit(rc)


class ControllerStep(TestReactorMixin, TestBuildStepMixin, unittest.TestCase):
    def setUp(self):
        self.setup_test_reactor()
        return self.setup_test_build_step()

    def start(self, step, request=None, **props):
        self.setup_step(step)
        self.build.sources[""] = SimpleNamespace(repository="file:///df.git", branch="master",
                                                 project="dragonfly", changes=[])
        self.build.addStepsAfterCurrentStep = mock.Mock()
        self.build.builder.getBuilderId = mock.Mock(return_value=defer.succeed(3))
        request = request if request is not None else {
            "good": GOOD_REV, "bad": BAD_REV, "check": CHECK, "builder": "vkckpt-master",
            "number": 7, "url": "http://bb/#/builders/1/builds/7"}
        self.build.setProperty("vkckpt_bisect_of", request, "Trigger")
        for name, value in props.items():
            self.build.setProperty(name, value, "bisect")

    def added(self):
        (steps,), _ = self.build.addStepsAfterCurrentStep.call_args
        return [type(s).__name__ if not hasattr(s, "step_class") else s.step_class.__name__
                for s in steps], steps


class TestBisectStart(ControllerStep):
    def test_the_range_is_listed_and_the_middle_probed(self):
        self.start(BisectStart(Settings("probe")))
        self.expect_commands(
            git(["merge-base", "--is-ancestor", GOOD_REV, BAD_REV]),
            git(["rev-list", "--reverse", "--first-parent", f"{GOOD_REV}..{BAD_REV}", "--"],
                stdout="\n".join(MIDDLE + [BAD_REV]) + "\n"))
        self.expect_outcome(result=SUCCESS, state_string="3 commits to bisect, at most 4 builds")
        self.expect_property(CANDIDATES, MIDDLE + [BAD_REV])
        d = self.run_step()

        def check(_):
            names, steps = self.added()
            assert names == ["BisectProbe"]
        return d.addCallback(check)

    def test_not_an_ancestor_is_reported_without_probing(self):
        self.start(BisectStart(Settings("probe")))
        self.expect_commands(git(["merge-base", "--is-ancestor", GOOD_REV, BAD_REV], rc=1))
        self.expect_outcome(result=SUCCESS, state_string=(
            "could not bisect: the last green revision aaaaaaaaaa is not an ancestor of the "
            "first red one dddddddddd"))
        d = self.run_step()
        return d.addCallback(lambda _: self.assertEqual(self.added()[0], ["BisectReport"]))

    def test_a_range_over_max_range_is_not_bisected(self):
        self.start(BisectStart(Settings("probe", max_range=2)))
        self.expect_commands(
            git(["merge-base", "--is-ancestor", GOOD_REV, BAD_REV]),
            git(["rev-list", "--reverse", "--first-parent", f"{GOOD_REV}..{BAD_REV}", "--"],
                stdout="\n".join(MIDDLE + [BAD_REV]) + "\n"))
        self.expect_outcome(result=SUCCESS, state_string=(
            "could not bisect: 3 commits in the range, more than max_range 2"))
        return self.run_step()

    def test_a_request_that_is_not_one_runs_no_git(self):
        self.start(BisectStart(Settings("probe")),
                   request={"good": "$(touch /tmp/x)", "bad": BAD_REV, "check": CHECK})
        self.expect_outcome(result=SUCCESS, state_string=(
            "could not bisect: vkckpt_bisect_of['good'] is not a full revision: "
            "'$(touch /tmp/x)'"))
        return self.run_step()


class TestBisectReport(ControllerStep):
    def test_a_culprit_is_described_from_git(self):
        self.start(BisectReport(Settings("probe")), **{
            CANDIDATES: MIDDLE + [BAD_REV],
            VERDICTS: [{"revision": MIDDLE[0], "verdict": GOOD},
                       {"revision": MIDDLE[1], "verdict": BAD}]})
        self.expect_commands(git(["log", "-1", "--format=%an <%ae>%x00%s", MIDDLE[1], "--"],
                                 stdout="Jane <jane@x.org>\0kern: break restore\n"))
        summary = ("culprit cccccccccc kern: break restore — Jane <jane@x.org> "
                   "(checkpoint-cycle: restore)")
        self.expect_outcome(result=SUCCESS, state_string=summary)
        self.expect_property("vkckpt_bisect_result", summary)
        d = self.run_step()

        def check(_):
            culprit = self.get_nth_step(0).getProperty("vkckpt_culprit")
            assert {k: culprit[k] for k in ("revision", "author", "subject", "check",
                                            "builder", "build", "url", "builds")} == {
                "revision": MIDDLE[1], "author": "Jane <jane@x.org>",
                "subject": "kern: break restore", "check": "checkpoint-cycle: restore",
                "builder": "vkckpt-master", "build": 7,
                "url": "http://bb/#/builders/1/builds/7", "builds": 2}
        return d.addCallback(check)

    def test_no_culprit_says_why(self):
        self.start(BisectReport(Settings("probe")),
                   **{PROBLEM: "3 commits in the range, more than max_range 2"})
        self.expect_outcome(result=WARNINGS, state_string=(
            "could not bisect: 3 commits in the range, more than max_range 2"))
        return self.run_step()


def test_a_probe_step_names_its_revision_and_waits():
    from buildbot_vkckpt.bisect.core import Probe
    step = BisectProbe(Probe(MIDDLE[0], 1, 4), {"revision": MIDDLE[0]}, Settings("probe"))
    assert step.name == f"probe 1: {MIDDLE[0][:10]}"
    assert step.waitForFinish and step.schedulerNames == ["probe"]
    assert step.sourceStamps == [{"revision": MIDDLE[0]}]
