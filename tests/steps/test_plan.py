"""BuildPlan and RecordStage with Buildbot's step-testing mixin (fake worker, real step code)."""
import json
import os
from types import SimpleNamespace

from buildbot.process.results import SUCCESS, WARNINGS
from buildbot.test.reactor import TestReactorMixin
from buildbot.process.properties import Properties
from buildbot.test.steps import (ExpectDownloadFile, ExpectRemoteRef, ExpectRmfile, ExpectShell,
                                 ExpectStat, ExpectUploadFile, TestBuildStepMixin)
from twisted.trial import unittest

from buildbot.process import remotetransfer

from buildbot_vkckpt.steps import plan as plan_step
from buildbot_vkckpt.steps.plan import (BuildPlan, RecordStage, name_status_paths, planned,
                                        summary)
from buildbot_vkckpt import changes
from buildbot_vkckpt.treerules import TreeRulesCache

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


def diff(paths=(), revision="abc1234", rc=0, raw=None):
    """The ``git diff`` between a marker's revision and the checkout: ``paths`` are modified
    files, or ``raw`` is the exact ``--name-status -z`` output."""
    out = raw if raw is not None else "".join(f"M\0{p}\0" for p in paths)
    return ExpectShell(workdir="wkdir", log_environ=False, timeout=300,
                       command=["git", "-c", "core.quotepath=off", "diff", "--name-status",
                                "-z", "-M", revision, "HEAD", "--"]) \
        .log("git-diff", stdout=out).exit(rc)


HEAD = "c0ffee" * 6 + "c0ff"   # 40 hex digits


def git(args, stdout="", rc=0):
    return ExpectShell(workdir="wkdir", log_environ=False, timeout=300,
                       command=["git", "-c", "core.quotepath=off", *args]).update("stdout", stdout).exit(rc)


def tree(hits=None, texts=None, revision=HEAD):
    """The tree-rule passes: rev-parse, then (when not cached) the two git greps."""
    expects = [git(["rev-parse", "--verify", "HEAD^{commit}"], revision + "\n")]
    if hits is None:
        return expects
    from buildbot_vkckpt import treerules
    expects.append(git(["grep", "-l", "-z", "-I", "-E", "-e", treerules.REACHES_SYS, revision,
                        "--", ":(glob)**/Makefile", ":(glob)**/Makefile.inc",
                        ":(glob)**/makefile"],
                       "".join(f"{revision}:{h}\0" for h in hits), 0 if hits else 1))
    specs = treerules.wanted_makefiles(hits)
    out = "".join(f"{revision}:{path}\0{n}\0{line}\n"
                  for path, text in (texts or {}).items()
                  for n, line in enumerate(text.splitlines(), 1))
    expects.append(git(["grep", "-z", "-n", "-I", "-e", "", revision, "--", *specs], out))
    return expects


class TestBuildPlan(TestReactorMixin, TestBuildStepMixin, unittest.TestCase):
    def setUp(self):
        self.setup_test_reactor()
        return self.setup_test_build_step()

    def start(self, *file_lists, tree_rules=False):
        plan_step.TREE_RULES = TreeRulesCache()
        self.setup_step(BuildPlan(objdir=OBJ, tree_rules=tree_rules))
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

    def test_the_marker_names_the_checked_out_revision_not_the_changes(self):
        self.setup_step(RecordStage("world", objdir=OBJ))
        self.build.builder.name = "bldr"
        self.build.setProperty("builddir", BUILDDIR, "test")
        self.build.setProperty("buildnumber", 43, "test")
        self.build.setProperty("revision", "0123456789abcdef", "Change")
        written = []
        self.expect_commands(
            ExpectDownloadFile(workerdest=WORLD, workdir="wkdir", mode=0o644, maxsize=None,
                               blocksize=16 * 1024,
                               reader=ExpectRemoteRef(remotetransfer.StringFileReader))
            .download_string(written.append).exit(0))
        self.expect_outcome(result=SUCCESS)
        d = self.run_step()
        d.addCallback(lambda _: self.assertIsNone(json.loads(written[0])["revision"]))
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


# --- issue 13: changed paths from git, tree-derived rules, untested host paths -----------------
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benchmarks",
                       "data", "dragonfly-makefiles.json"), encoding="utf-8") as _f:
    MAKEFILES = json.load(_f)["files"]
NO_MARKERS = [ExpectRmfile(path=WORLD, log_environ=False).exit(0),
              ExpectRmfile(path=KERNEL, log_environ=False).exit(0),
              ExpectRmfile(path=IMAGE, log_environ=False).exit(0)]


class TestBuildPlanFromGit(TestReactorMixin, TestBuildStepMixin, unittest.TestCase):
    def setUp(self):
        self.setup_test_reactor()
        return self.setup_test_build_step()

    start = TestBuildPlan.start

    def reasons(self):
        return self.get_nth_step(0).getProperty("vkckpt_plan_reasons")

    def test_a_rename_out_of_sys_sys_counts_the_old_name(self):
        # GitPoller and a hook's `git diff --name-only` report only where the header landed;
        # the diff since the world's revision has both sides
        self.start(["sys/platform/vkernel64/include/ckpt.h"])
        self.expect_commands(
            read(WORLD, mark(41)),
            diff(raw="R100\0sys/sys/ckpt.h\0sys/platform/vkernel64/include/ckpt.h\0"),
            *NO_MARKERS)
        self.expect_outcome(result=SUCCESS, state_string="plan: world + kernel + image + tests")
        d = self.run_step()
        d.addCallback(lambda _: self.assertEqual(
            self.reasons()[0],
            "world rebuilt anyway: the tree changed since build 41 (abc1234) in a way that "
            "needs it: sys/sys/ckpt.h: kernel header installed into /usr/include by buildworld"))
        return d

    def test_a_deleted_installed_header_needs_world(self):
        self.start(["sys/kern/kern_exec.c"])
        self.expect_commands(read(WORLD, mark(41)),
                             diff(raw="M\0sys/kern/kern_exec.c\0D\0sys/sys/ckpt.h\0"),
                             *NO_MARKERS)
        self.expect_outcome(result=SUCCESS, state_string="plan: world + kernel + image + tests")
        return self.run_step()

    def test_a_name_with_a_newline_is_kept_whole_and_builds_everything(self):
        self.start(["sys/kern/kern_exec.c"])
        self.expect_commands(read(WORLD, mark(41)),
                             diff(raw="M\0sys/kern/kern_exec.c\0A\0sys/dev/drm/x\nbin/ls/y.c\0"),
                             *NO_MARKERS)
        self.expect_outcome(result=SUCCESS, state_string="plan: world + kernel + image + tests")
        d = self.run_step()
        d.addCallback(lambda _: self.assertIn("unusual path name", self.reasons()[0]))
        return d

    def test_kern_kinfo_c_alone_rebuilds_world_from_the_libkvm_makefile(self):
        # commit 5deae5c64c touched sys/kern/kern_kinfo.c, which lib/libkvm compiles
        # (.PATH: ${SYSDIR}/kern); the hand rules alone said "kernel + image + tests"
        self.start(["sys/kern/kern_kinfo.c"], tree_rules=True)
        texts = {p: MAKEFILES[p] for p in ("lib/libkvm/Makefile", "Makefile.inc1",
                                           "sys/conf/kern.pre.mk",
                                           "sys/platform/vkernel64/conf/Makefile")}
        self.expect_commands(*tree(["lib/libkvm/Makefile"], texts), *NO_MARKERS)
        self.expect_outcome(result=SUCCESS, state_string="plan: world + kernel + image + tests")
        d = self.run_step()

        def check(_):
            self.assertEqual(self.reasons()[0], (
                "sys/kern/kern_kinfo.c: compiled into world by lib/libkvm/Makefile "
                "(.PATH: ${SYSDIR}/kern; SRCS)"))
            self.assertIsNotNone(plan_step.TREE_RULES.get(HEAD))
        d.addCallback(check)
        return d

    def test_tree_rules_are_cached_per_revision(self):
        self.start(["sys/kern/kern_kinfo.c"], tree_rules=True)
        from buildbot_vkckpt import treerules
        plan_step.TREE_RULES.put(HEAD, treerules.derive(
            {"lib/libkvm/Makefile": MAKEFILES["lib/libkvm/Makefile"]}))
        self.expect_commands(*tree(), *NO_MARKERS)   # rev-parse only
        self.expect_outcome(result=SUCCESS, state_string="plan: world + kernel + image + tests")
        return self.run_step()

    def test_without_a_revision_the_hand_rules_decide(self):
        self.start(["sys/kern/kern_exec.c"], tree_rules=True)
        self.expect_commands(git(["rev-parse", "--verify", "HEAD^{commit}"], "", rc=128),
                             read(WORLD, mark(41)), diff(["sys/kern/kern_exec.c"]),
                             ExpectRmfile(path=KERNEL, log_environ=False).exit(0),
                             ExpectRmfile(path=IMAGE, log_environ=False).exit(0))
        self.expect_outcome(
            result=SUCCESS,
            state_string="plan: kernel + image + tests; world reused from build 41")
        return self.run_step()

    def test_host_side_vkernel_code_is_named_untested(self):
        self.start(["sys/kern/kern_checkpoint.c"])
        self.expect_commands(read(WORLD, mark(41)), diff(["sys/kern/kern_checkpoint.c"]),
                             ExpectRmfile(path=KERNEL, log_environ=False).exit(0),
                             ExpectRmfile(path=IMAGE, log_environ=False).exit(0))
        self.expect_outcome(result=SUCCESS, state_string=(
            "plan: kernel + image + tests; world reused from build 41; host-side vkernel "
            "changes untested (the host runs its own kernel)"))
        self.expect_property("vkckpt_untested_host_paths", ["sys/kern/kern_checkpoint.c"],
                             source="BuildPlan")
        d = self.run_step()
        d.addCallback(lambda _: self.assertEqual(self.reasons()[-1], (
            "sys/kern/kern_checkpoint.c: host-side vkernel code, tested only inside the guest: "
            "the host keeps running its own kernel")))
        return d

    def test_a_changes_untested_property_is_replaced_by_the_plans(self):
        self.start(["sys/kern/kern_exec.c"])
        self.build.setProperty("vkckpt_untested_host_paths", [], "Change")
        self.expect_commands(read(WORLD, mark(41)),
                             diff(["sys/kern/kern_exec.c", "sys/vm/vm_vmspace.c"]),
                             ExpectRmfile(path=KERNEL, log_environ=False).exit(0),
                             ExpectRmfile(path=IMAGE, log_environ=False).exit(0))
        self.expect_outcome(result=SUCCESS)
        # a push never announced since build 41 changed host-side code: it is named too
        self.expect_property("vkckpt_untested_host_paths", ["sys/vm/vm_vmspace.c"],
                             source="BuildPlan")
        return self.run_step()

    def test_a_plan_of_nothing_still_builds_what_the_tree_changed_since_the_image(self):
        # the change names only the new side of a rename into share/doc (documentation)
        self.start(["share/doc/ckpt.h.txt"])
        self.expect_commands(
            read(IMAGE, mark(42)),
            diff(raw="R090\0sys/sys/ckpt.h\0share/doc/ckpt.h.txt\0"),
            *NO_MARKERS)
        self.expect_outcome(result=SUCCESS, state_string="plan: world + kernel + image + tests")
        return self.run_step()

    def test_a_plan_of_nothing_with_an_unchanged_tree_stays_nothing(self):
        self.start(["bin/ls/ls.1"])
        self.expect_commands(read(IMAGE, mark(42)), diff(["bin/ls/ls.1"]))
        self.expect_outcome(result=SUCCESS, state_string="plan: nothing (documentation only)")
        return self.run_step()


def test_name_status_paths_counts_both_sides_and_keeps_odd_names():
    out = ("M\0a.c\0R100\0sys/sys/x.h\0include/x.h\0C075\0a\0b\0D\0gone.c\0"
           "A\0dir/new\nline.c\0T\0link\0")
    assert name_status_paths(out) == ["a.c", "sys/sys/x.h", "include/x.h", "a", "b", "gone.c",
                                      "dir/new\nline.c", "link"]
    assert name_status_paths("") == []


class TestBuildPlanWithoutChanges(TestReactorMixin, TestBuildStepMixin, unittest.TestCase):
    """``without_changes="tree"`` (the bisect builder's): a build without changes runs the
    tests and rebuilds what the git diff since each marker needs, not everything."""

    def setUp(self):
        self.setup_test_reactor()
        return self.setup_test_build_step()

    def start(self):
        plan_step.TREE_RULES = TreeRulesCache()
        self.setup_step(BuildPlan(objdir=OBJ, tree_rules=False, without_changes="tree"))
        self.build.builder.name = "bldr"
        self.build.setProperty("builddir", BUILDDIR, "test")
        self.build.sources[""] = SimpleNamespace(changes=[])

    def test_a_kernel_diff_reuses_world_and_rebuilds_the_kernel(self):
        self.start()
        self.expect_commands(
            read(WORLD, mark(41)), diff(["sys/kern/kern_exec.c"]),
            read(KERNEL, mark(42)),
            ExpectStat(file=f"{KDIR}/kernel.debug", log_environ=False).exit(0),
            diff(["sys/kern/kern_exec.c"]),
            ExpectRmfile(path=KERNEL, log_environ=False).exit(0),
            ExpectRmfile(path=IMAGE, log_environ=False).exit(0))
        self.expect_outcome(result=SUCCESS, state_string=(
            "plan: kernel + image + tests; world reused from build 41"))
        return self.run_step()

    def test_no_markers_build_everything(self):
        self.start()
        self.expect_commands(read(WORLD), read(KERNEL),
                             ExpectRmfile(path=WORLD, log_environ=False).exit(0),
                             ExpectRmfile(path=KERNEL, log_environ=False).exit(0),
                             ExpectRmfile(path=IMAGE, log_environ=False).exit(0))
        self.expect_outcome(result=SUCCESS, state_string="plan: world + kernel + image + tests")
        return self.run_step()


def test_without_changes_is_checked_at_config_time():
    import pytest
    from buildbot import config as bb_config
    with pytest.raises(bb_config.ConfigErrors, match="without_changes must be one of"):
        BuildPlan(without_changes="nothing")
