"""BuildPlan and RecordStage with Buildbot's step-testing mixin (fake worker, real step code)."""
import json
from types import SimpleNamespace

from buildbot.process.results import SUCCESS, WARNINGS
from buildbot.test.reactor import TestReactorMixin
from buildbot.process.properties import Properties
from buildbot.test.steps import (ExpectDownloadFile, ExpectRemoteRef, ExpectRmfile, ExpectShell,
                                 ExpectStat, ExpectUploadFile, TestBuildStepMixin)
from twisted.trial import unittest

from buildbot.process import remotetransfer

from buildbot_vkckpt.steps.plan import BuildPlan, RecordStage, planned, summary
from buildbot_vkckpt import changes

OBJ = "/obj"
BUILDDIR = "/w/bldr"
WORLD = f"{OBJ}/world_x86_64/.vkckpt-world.json"
KDIR = f"{OBJ}{BUILDDIR}/wkdir/sys/VKERNEL64"
KERNEL = f"{KDIR}/.vkckpt-kernel.json"
IMAGE = f"{BUILDDIR}/vkckpt-root.img.vkckpt.json"


def read(path, marker=None):
    """The uploadFile a marker read is; ``marker`` None: the file is missing."""
    exp = ExpectUploadFile(workersrc=path, workdir="wkdir", blocksize=16 * 1024,
                           maxsize=64 * 1024, keepstamp=False,
                           writer=ExpectRemoteRef(remotetransfer.StringFileWriter))
    if marker is None:
        return exp.exit(1)
    return exp.upload_string(json.dumps(marker)).exit(0)


def mark(build, builder="bldr", revision="abc1234"):
    return {"builder": builder, "build": build, "revision": revision}


def diff(paths=(), revision="abc1234", rc=0):
    """The ``git diff`` between a marker's revision and the checkout."""
    return ExpectShell(workdir="wkdir", log_environ=False, timeout=300,
                       command=["git", "-c", "core.quotepath=off", "diff", "--name-only",
                                "--no-renames", revision, "HEAD", "--"]) \
        .log("git-diff", stdout="".join(f"{p}\n" for p in paths)).exit(rc)


class TestBuildPlan(TestReactorMixin, TestBuildStepMixin, unittest.TestCase):
    def setUp(self):
        self.setup_test_reactor()
        return self.setup_test_build_step()

    def start(self, *file_lists):
        self.setup_step(BuildPlan(objdir=OBJ))
        self.build.builder.name = "bldr"
        self.build.setProperty("builddir", BUILDDIR, "test")
        self.build.sources[""] = SimpleNamespace(
            changes=[SimpleNamespace(files=list(f)) for f in file_lists])

    def test_forced_build_plans_everything_and_drops_every_marker(self):
        self.start()
        self.expect_commands(ExpectRmfile(path=WORLD, log_environ=False).exit(0),
                             ExpectRmfile(path=KERNEL, log_environ=False).exit(0),
                             ExpectRmfile(path=IMAGE, log_environ=False).exit(0))
        self.expect_outcome(result=SUCCESS, state_string="plan: world + kernel + image + tests")
        self.expect_property("vkckpt_build_world", True)
        self.expect_property("vkckpt_run_tests", True)
        return self.run_step()

    def test_change_without_files_is_everything(self):
        self.start([])
        self.expect_commands(ExpectRmfile(path=WORLD, log_environ=False).exit(0),
                             ExpectRmfile(path=KERNEL, log_environ=False).exit(0),
                             ExpectRmfile(path=IMAGE, log_environ=False).exit(0))
        self.expect_outcome(result=SUCCESS, state_string="plan: world + kernel + image + tests")
        return self.run_step()

    def test_kernel_change_reuses_world_of_earlier_build(self):
        self.start(["sys/kern/kern_exec.c"])
        self.expect_commands(read(WORLD, mark(41)), diff(["sys/kern/kern_exec.c"]),
                             ExpectRmfile(path=KERNEL, log_environ=False).exit(0),
                             ExpectRmfile(path=IMAGE, log_environ=False).exit(0))
        self.expect_outcome(
            result=SUCCESS,
            state_string="plan: kernel + image + tests; world reused from build 41")
        self.expect_property("vkckpt_build_world", False)
        self.expect_property("vkckpt_world_from_build", 41)
        self.expect_property("vkckpt_world_revision", "abc1234")
        return self.run_step()

    def test_a_push_never_announced_since_the_world_was_built_rebuilds_it(self):
        # the change says kernel only, but the tree also changed in userland since build 41
        # (a push whose sendchange failed): world is not reused across it
        self.start(["sys/kern/kern_exec.c"])
        self.expect_commands(read(WORLD, mark(41)),
                             diff(["sys/kern/kern_exec.c", "bin/ls/\ufffd.c"]),
                             ExpectRmfile(path=WORLD, log_environ=False).exit(0),
                             ExpectRmfile(path=KERNEL, log_environ=False).exit(0),
                             ExpectRmfile(path=IMAGE, log_environ=False).exit(0))
        self.expect_outcome(result=SUCCESS, state_string="plan: world + kernel + image + tests")
        self.expect_property("vkckpt_build_world", True)
        d = self.run_step()
        d.addCallback(lambda _: self.assertEqual(
            self.get_nth_step(0).getProperty("vkckpt_plan_reasons")[0],
            "world rebuilt anyway: the tree changed since build 41 (abc1234) in a way that "
            "needs it: bin/ls/\ufffd.c: userland built by buildworld"))
        d.addCallback(lambda _: self.assertFalse(
            self.get_nth_step(0).build.hasProperty("vkckpt_world_revision")))
        return d

    def test_a_marker_revision_unknown_to_the_checkout_is_not_reused(self):
        self.start(["sys/kern/kern_exec.c"])
        self.expect_commands(read(WORLD, mark(41, revision="0badc0de")),
                             diff(revision="0badc0de", rc=128),
                             ExpectRmfile(path=WORLD, log_environ=False).exit(0),
                             ExpectRmfile(path=KERNEL, log_environ=False).exit(0),
                             ExpectRmfile(path=IMAGE, log_environ=False).exit(0))
        self.expect_outcome(result=SUCCESS, state_string="plan: world + kernel + image + tests")
        d = self.run_step()
        d.addCallback(lambda _: self.assertIn(
            "revision 0badc0de of build 41 is not in this checkout's history",
            self.get_nth_step(0).getProperty("vkckpt_plan_reasons")[0]))
        return d

    def test_a_marker_without_a_revision_is_not_reused(self):
        # and nothing from the marker reaches git's argv unchecked
        self.start(["sys/kern/kern_exec.c"])
        self.expect_commands(read(WORLD, mark(41, revision="--output=/tmp/x")),
                             ExpectRmfile(path=WORLD, log_environ=False).exit(0),
                             ExpectRmfile(path=KERNEL, log_environ=False).exit(0),
                             ExpectRmfile(path=IMAGE, log_environ=False).exit(0))
        self.expect_outcome(result=SUCCESS, state_string="plan: world + kernel + image + tests")
        d = self.run_step()
        d.addCallback(lambda _: self.assertIn(
            "build 41 recorded no revision to compare this checkout with",
            self.get_nth_step(0).getProperty("vkckpt_plan_reasons")[0]))
        return d

    def test_plan_properties_have_the_plan_as_source(self):
        self.start(["sys/kern/kern_exec.c"])
        self.build.setProperty("vkckpt_build_world", False, "Change")
        self.expect_commands(read(WORLD, None),
                             ExpectRmfile(path=WORLD, log_environ=False).exit(0),
                             ExpectRmfile(path=KERNEL, log_environ=False).exit(0),
                             ExpectRmfile(path=IMAGE, log_environ=False).exit(0))
        self.expect_outcome(result=SUCCESS, state_string="plan: world + kernel + image + tests")
        self.expect_property("vkckpt_build_world", True, source="BuildPlan")
        return self.run_step()

    def test_missing_world_is_built_anyway_and_says_why(self):
        self.start(["sys/kern/kern_exec.c"])
        self.expect_commands(read(WORLD, None),
                             ExpectRmfile(path=WORLD, log_environ=False).exit(0),
                             ExpectRmfile(path=KERNEL, log_environ=False).exit(0),
                             ExpectRmfile(path=IMAGE, log_environ=False).exit(0))
        self.expect_outcome(result=SUCCESS, state_string="plan: world + kernel + image + tests")
        self.expect_property("vkckpt_build_world", True)
        d = self.run_step()
        d.addCallback(lambda _: self.assertIn(
            "world rebuilt anyway: no finished world from an earlier build on this worker",
            self.get_nth_step(0).getProperty("vkckpt_plan_reasons")[0]))
        return d

    def test_world_of_another_builder_sharing_the_objdir_is_not_reused(self):
        self.start(["sys/kern/kern_exec.c"])
        self.expect_commands(read(WORLD, mark(7, builder="vkckpt-DragonFly_RELEASE_6_4")),
                             ExpectRmfile(path=WORLD, log_environ=False).exit(0),
                             ExpectRmfile(path=KERNEL, log_environ=False).exit(0),
                             ExpectRmfile(path=IMAGE, log_environ=False).exit(0))
        self.expect_outcome(result=SUCCESS, state_string="plan: world + kernel + image + tests")
        d = self.run_step()
        d.addCallback(lambda _: self.assertIn(
            "last built by builder 'vkckpt-DragonFly_RELEASE_6_4', not 'bldr'",
            self.get_nth_step(0).getProperty("vkckpt_plan_reasons")[0]))
        return d

    def test_garbage_marker_counts_as_missing(self):
        self.start(["bin/ls/ls.c"])
        garbage = ExpectUploadFile(workersrc=KERNEL, workdir="wkdir", blocksize=16 * 1024,
                                   maxsize=64 * 1024, keepstamp=False,
                                   writer=ExpectRemoteRef(remotetransfer.StringFileWriter)
                                   ).upload_string("\x00{not json").exit(0)
        self.expect_commands(garbage,
                             ExpectRmfile(path=WORLD, log_environ=False).exit(0),
                             ExpectRmfile(path=KERNEL, log_environ=False).exit(0),
                             ExpectRmfile(path=IMAGE, log_environ=False).exit(0))
        self.expect_outcome(result=SUCCESS, state_string="plan: world + kernel + image + tests")
        return self.run_step()

    def test_userland_change_reuses_kernel_when_kernel_debug_exists(self):
        self.start(["bin/ls/ls.c"])
        self.expect_commands(read(KERNEL, mark(40)),
                             ExpectStat(file=f"{KDIR}/kernel.debug", log_environ=False).exit(0),
                             diff(["bin/ls/ls.c"]),
                             ExpectRmfile(path=WORLD, log_environ=False).exit(0),
                             ExpectRmfile(path=IMAGE, log_environ=False).exit(0))
        self.expect_outcome(
            result=SUCCESS,
            state_string="plan: world + image + tests; kernel reused from build 40")
        self.expect_property("vkckpt_build_kernel", False)
        return self.run_step()

    def test_kernel_debug_gone_rebuilds_kernel(self):
        self.start(["bin/ls/ls.c"])
        self.expect_commands(read(KERNEL, mark(40)),
                             ExpectStat(file=f"{KDIR}/kernel.debug", log_environ=False).exit(1),
                             ExpectRmfile(path=WORLD, log_environ=False).exit(0),
                             ExpectRmfile(path=KERNEL, log_environ=False).exit(0),
                             ExpectRmfile(path=IMAGE, log_environ=False).exit(0))
        self.expect_outcome(result=SUCCESS, state_string="plan: world + kernel + image + tests")
        return self.run_step()

    def test_suite_change_reuses_everything_but_tests(self):
        self.start(["test/vkckpt/tests/fork.c"])
        self.expect_commands(
            read(WORLD, mark(41)), diff(["test/vkckpt/tests/fork.c"]),
            read(KERNEL, mark(42)),
            ExpectStat(file=f"{KDIR}/kernel.debug", log_environ=False).exit(0),
            diff(["test/vkckpt/tests/fork.c"]),
            read(IMAGE, mark(42)),
            ExpectStat(file=f"{BUILDDIR}/vkckpt-root.img", log_environ=False).exit(0),
            diff(["test/vkckpt/tests/fork.c"]))
        self.expect_outcome(result=SUCCESS, state_string=(
            "plan: tests; world reused from build 41; kernel and image reused from build 42"))
        self.expect_property("vkckpt_build_image", False)
        self.expect_property("vkckpt_run_tests", True)
        return self.run_step()

    def test_missing_world_brings_back_the_image_it_would_have_reused(self):
        self.start(["test/vkckpt/tests/fork.c"])
        self.expect_commands(
            read(WORLD, None), read(KERNEL, mark(42)),
            ExpectStat(file=f"{KDIR}/kernel.debug", log_environ=False).exit(0),
            diff(["test/vkckpt/tests/fork.c"]),
            ExpectRmfile(path=WORLD, log_environ=False).exit(0),
            ExpectRmfile(path=IMAGE, log_environ=False).exit(0))
        self.expect_outcome(result=SUCCESS, state_string=(
            "plan: world + image + tests; kernel reused from build 42"))
        return self.run_step()


class TestRecordStage(TestReactorMixin, TestBuildStepMixin, unittest.TestCase):
    def setUp(self):
        self.setup_test_reactor()
        return self.setup_test_build_step()

    def start(self, stage):
        self.setup_step(RecordStage(stage, objdir=OBJ))
        self.build.builder.name = "bldr"
        self.build.setProperty("builddir", BUILDDIR, "test")
        self.build.setProperty("buildnumber", 43, "test")
        self.build.setProperty("got_revision", "f00d", "test")

    def test_writes_the_world_marker(self):
        self.start("world")
        written = []
        self.expect_commands(
            ExpectDownloadFile(workerdest=WORLD, workdir="wkdir", mode=0o644, maxsize=None,
                               blocksize=16 * 1024,
                               reader=ExpectRemoteRef(remotetransfer.StringFileReader))
            .download_string(written.append).exit(0))
        self.expect_outcome(result=SUCCESS, state_string="world of build 43 recorded for reuse")
        d = self.run_step()
        d.addCallback(lambda _: self.assertEqual(
            json.loads(written[0]), {"stage": "world", "builder": "bldr", "build": 43,
                                     "revision": "f00d", "branch": None}))
        return d

    def test_write_failure_warns(self):
        self.start("kernel")
        self.expect_commands(
            ExpectDownloadFile(workerdest=KERNEL, workdir="wkdir", mode=0o644, maxsize=None,
                               blocksize=16 * 1024,
                               reader=ExpectRemoteRef(remotetransfer.StringFileReader)).exit(1))
        self.expect_outcome(result=WARNINGS)
        return self.run_step()


class FakeStep:
    def __init__(self, props, source="BuildPlan"):
        self.props = Properties()
        for name, value in props.items():
            self.props.setProperty(name, value, source)
        self.build = self

    def getProperties(self):
        return self.props


def test_planned_runs_without_a_plan_and_follows_one():
    assert planned("world")(FakeStep({})) is True
    assert planned("world")(FakeStep({"vkckpt_build_world": False})) is False
    assert planned("tests")(FakeStep({"vkckpt_run_tests": True})) is True


def test_a_plan_property_from_a_change_is_ignored():
    # a change (or a forced build's form) may carry any property: it never skips a stage
    for source in ("Change", "Scheduler", "Force Build Form", "plan"):
        assert planned("world")(FakeStep({"vkckpt_build_world": False}, source)) is True


def test_summary_of_nothing_and_of_one_source():
    nothing = changes.classify_paths(["bin/ls/ls.1"])
    assert summary(nothing, {}) == "plan: nothing (documentation only)"
    plan = changes.classify_paths(["sys/kern/kern_exec.c"])
    assert summary(plan, {"world": {"build": 41}}) == \
        changes.reuse_note(plan, 41)
