"""WatchRegression with Buildbot's step-testing mixin; the build data it reads is given."""
from unittest import mock

from buildbot.process.results import EXCEPTION, FAILURE, SKIPPED, SUCCESS
from buildbot.test.reactor import TestReactorMixin
from buildbot.test.steps import TestBuildStepMixin
from twisted.internet import defer
from twisted.trial import unittest

from buildbot_vkckpt.bisect import watch
from buildbot_vkckpt.bisect.check import BuildFacts, StepFacts
from buildbot_vkckpt.bisect.watch import BISECT_OF, WatchRegression

GOOD_REV, BAD_REV = "a" * 40, "d" * 40
RED = BuildFacts((StepFacts("checkout", SUCCESS), StepFacts("buildkernel", SUCCESS),
                  StepFacts("checkpoint-cycle", FAILURE, ("cycle 1: restore",))))
INFRA = BuildFacts((StepFacts("checkout", SUCCESS), StepFacts("preflight", EXCEPTION)))


class TestWatch(TestReactorMixin, TestBuildStepMixin, unittest.TestCase):
    def setUp(self):
        self.setup_test_reactor()
        return self.setup_test_build_step()

    def start(self, facts=RED, before=None, good=GOOD_REV, bad=BAD_REV, results=FAILURE,
              outcome=None):
        self.setup_step(WatchRegression(control_scheduler="ctl"))
        self.build.results = results
        self.build.builder.name = "vkckpt-master"
        self.build.builder.getBuilderId = mock.Mock(return_value=defer.succeed(3))
        self.build.addStepsAfterCurrentStep = mock.Mock()
        self.build.getSourceStamp = mock.Mock(return_value=mock.Mock(
            repository="file:///df.git", branch="master", project="dragonfly"))
        self.build.setProperty("got_revision", bad, "Git")
        if outcome is not None:
            self.build.setProperty("vkckpt_outcome", outcome, "checkpoint-cycle")
        before = before if before is not None else {"number": 12, "buildid": 40,
                                                    "results": SUCCESS}
        patches = {
            "build_facts": mock.Mock(return_value=defer.succeed(facts)),
            "previous_build": mock.Mock(return_value=defer.succeed(before or None)),
            "build_properties": mock.Mock(return_value=defer.succeed({"got_revision": good})),
            "build_url": mock.Mock(return_value="http://bb/#/builders/3/builds/13")}
        for name, value in patches.items():
            patcher = mock.patch.object(watch.bfacts, name, value)
            patcher.start()
            self.addCleanup(patcher.stop)

    def triggered(self):
        (steps,), _ = self.build.addStepsAfterCurrentStep.call_args
        return steps

    def test_green_to_red_on_a_check_triggers_the_controller(self):
        self.start()
        self.expect_outcome(result=SUCCESS, state_string=(
            "bisecting aaaaaaaaaa..dddddddddd for checkpoint-cycle"))
        d = self.run_step()

        def check(_):
            trigger, = self.triggered()
            assert type(trigger).__name__ == "Trigger" and trigger.name == "bisect"
            assert trigger.schedulerNames == ["ctl"] and trigger.waitForFinish is False
            assert trigger.alwaysRun is True
            assert trigger.sourceStamps[0]["revision"] == BAD_REV
            request = trigger.set_properties[BISECT_OF]
            assert request["good"] == GOOD_REV and request["bad"] == BAD_REV
            assert request["check"] == {"step": "checkpoint-cycle", "tests": ["restore"]}
            assert request["builder"] == "vkckpt-master" and request["good_number"] == 12
        return d.addCallback(check)

    def _not_bisected(self, why, **start):
        self.start(**start)
        self.expect_outcome(result=SKIPPED, state_string=f"not bisected: {why}")
        d = self.run_step()
        return d.addCallback(
            lambda _: self.build.addStepsAfterCurrentStep.assert_not_called())

    def test_red_after_red_is_not_bisected(self):
        return self._not_bisected("build 12 was already red",
                                  before={"number": 12, "buildid": 40, "results": FAILURE})

    def test_the_first_build_is_not_bisected(self):
        return self._not_bisected("no earlier build to compare with", before={})

    def test_red_on_the_revision_that_was_green_is_not_bisected(self):
        return self._not_bisected("build 12 passed on the same revision: a flaky check or a "
                                  "change outside the tree", good=BAD_REV)

    def test_infrastructure_is_not_bisected(self):
        return self._not_bisected("infrastructure: preflight ended in an exception",
                                  facts=INFRA)

    def test_a_lost_host_is_not_bisected(self):
        return self._not_bisected("host lost: checkpoint-cycle ended the build",
                                  outcome={"step": "checkpoint-cycle", "kind": "host lost"})

    def test_a_green_build_does_nothing_and_hides_the_step(self):
        self.start(results=SUCCESS)
        self.expect_outcome(result=SKIPPED, state_string="nothing to bisect")
        self.expect_hidden(True)
        return self.run_step()
