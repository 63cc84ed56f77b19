"""BuildPlan, the first step of a build, and RecordStage, which marks a stage as reusable.

BuildPlan turns the build's changes into a plan (:func:`buildbot_vkckpt.changes.plan_for_changes`)
and publishes it as properties (``vkckpt_plan``, ``vkckpt_build_world``, ...). The build steps
read those through :func:`planned` in their ``doStepIf``, so a stage the plan leaves out shows
as *skipped*.

A stage may only be left out when its output from an earlier build really is on the worker.
Each stage's output carries a small JSON *marker*, written by RecordStage right after the stage
succeeded and deleted by BuildPlan before the stage is rebuilt — so a failed or interrupted
rebuild leaves no marker, and a directory wiped by hand takes its marker with it:

``world``   ``<objdir>/world_x86_64/.vkckpt-world.json`` (inside the world stage directory;
            the marker names its builder, because builders may share an objdir)
``kernel``  ``<objdir><srcdir>/sys/<KERNCONF>/.vkckpt-kernel.json`` next to ``kernel.debug``
``image``   ``<builddir>/vkckpt-root.img.vkckpt.json`` next to the root image

When a marker is missing or belongs to another builder, BuildPlan puts the stage back into the
plan and says why.

The changes alone never decide a reuse: a push whose ``buildbot sendchange`` failed, or a
change whose file list is wrong, would otherwise let a world built before it pass for one built
after it. BuildPlan runs after the checkout, and reuses a stage only when ``git diff`` between
the marker's revision and the checked-out tree, classified by the same rules, does not need
that stage either.

The rules are the hand table of :mod:`buildbot_vkckpt.changes` plus rules derived from the
checked-out tree (:mod:`buildbot_vkckpt.treerules`: world Makefiles' ``.PATH``/``SRCS`` into
``sys/``, what the vkernel build takes from ``include/``, ``lib/csu``, ...), read with two
``git grep`` passes on the worker and cached per tree revision. Changed paths come from
``git diff --name-status -z -M``: both sides of a rename and deleted paths count, and names
travel NUL-separated, so no name is lost or split.

A change that touches host-side vkernel code (``changes.HOST_RULES``) is tested only inside
the guest; the plan says so in its reasons and in ``vkckpt_untested_host_paths``.

The plan's properties are set with the source ``PLAN_SOURCE``; a property of the same name from
a change, a scheduler or a forced build has another source, and :func:`plan_property` (which
every reader of the plan uses) ignores it: nobody who can send a change steers what is reused.
"""
import json
import posixpath
import re

from buildbot.process import buildstep, remotecommand, remotetransfer
from buildbot.process.results import SKIPPED, SUCCESS, WARNINGS

from buildbot_vkckpt import changes, treerules
from buildbot_vkckpt.agent.image import kernel_path
from buildbot_vkckpt.steps.agent import IMAGE_NAME
from buildbot_vkckpt.steps.report import FinalSummaryMixin

WORLD_DIR = "world_x86_64"  # DragonFly's WORLDDEST under MAKEOBJDIRPREFIX (x86_64 only)
STAGES = ("world", "kernel", "image")
PLAN_PROPERTY = {"world": "vkckpt_build_world", "kernel": "vkckpt_build_kernel",
                 "image": "vkckpt_build_image", "tests": "vkckpt_run_tests"}
MARKER_MAX_BYTES = 64 * 1024
PLAN_SOURCE = "BuildPlan"   # the source of every property BuildPlan sets
REVISION = re.compile(r"[0-9a-fA-F]{7,64}\Z")
FULL_REVISION = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?\Z")
# derived rules per tree revision, shared by the master's builds
TREE_RULES = treerules.TreeRulesCache()
# git grep's pathspecs for the first pass: every Makefile, Makefile.inc and makefile
MAKEFILE_SPECS = list(treerules.MAKEFILE_SPECS)


def plan_property(step, name, default=None):
    """The plan's value of property ``name``; ``default`` when BuildPlan did not set it (a
    change, scheduler or forced build may carry a property of that name: it is ignored)."""
    props = step.build.getProperties()
    if not props.hasProperty(name) or props.getPropertySource(name) != PLAN_SOURCE:
        return default
    return props.getProperty(name)


def planned(stage):
    """``doStepIf`` for a step of ``stage``: run unless the plan says it is not needed.

    Without a plan property (no BuildPlan step in the factory) the step runs."""
    prop = PLAN_PROPERTY[stage]

    def do_step_if(step):
        return plan_property(step, prop, True) is not False

    do_step_if.__name__ = f"planned_{stage}"
    return do_step_if


def reused_description(stage):
    """``descriptionDone`` of a build step: shown only when the plan skipped it."""
    from buildbot.process.properties import Interpolate
    return Interpolate(f"{stage} reused from build %(prop:vkckpt_{stage}_from_build:-?)s")


def hide_when_skipped(results, step):
    return results == SKIPPED


class _StageFiles:
    """Where a stage's marker and output live on the worker, for one build."""

    def __init__(self, step, objdir, kernconf):
        self.step = step
        self.objdir = objdir
        self.kernconf = kernconf

    def builddir(self):
        return self.step.getProperty("builddir") or "."

    def srcdir(self):
        return posixpath.join(self.builddir(), self.step.workdir or "build")

    def output(self, stage):
        """The file whose presence the stage's reuse needs (None: the marker is enough)."""
        if stage == "kernel":
            return kernel_path(self.objdir, self.srcdir(), self.kernconf)
        if stage == "image":
            return posixpath.join(self.builddir(), IMAGE_NAME)
        return None

    def kernel_dir(self):
        return posixpath.dirname(kernel_path(self.objdir, self.srcdir(), self.kernconf))

    def marker(self, stage):
        if stage == "world":
            return posixpath.join(self.objdir, WORLD_DIR, ".vkckpt-world.json")
        if stage == "kernel":
            return posixpath.join(self.kernel_dir(), ".vkckpt-kernel.json")
        return posixpath.join(self.builddir(), IMAGE_NAME + ".vkckpt.json")


class _MarkerStep(FinalSummaryMixin, buildstep.CommandMixin, buildstep.BuildStep):
    renderables = ["objdir", "kernconf"]

    def __init__(self, objdir="/usr/obj", kernconf="VKERNEL64", **kwargs):
        self.objdir = objdir
        self.kernconf = kernconf
        super().__init__(**kwargs)

    def files(self):
        return _StageFiles(self, str(self.objdir), str(self.kernconf))

    async def read_marker(self, path):
        """The marker's JSON object, or None when it is missing or garbage."""
        writer = remotetransfer.StringFileWriter()
        cmd = remotecommand.RemoteCommand("uploadFile", {
            "workersrc": path, "workdir": self.workdir or "build", "writer": writer,
            "maxsize": MARKER_MAX_BYTES, "blocksize": 16 * 1024, "keepstamp": False})
        await self.runCommand(cmd)
        if cmd.didFail():
            return None
        try:
            data = json.loads(writer.buffer)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    async def remove(self, path):
        cmd = remotecommand.RemoteCommand("rmfile", {"path": path, "logEnviron": False})
        await self.runCommand(cmd)
        return not cmd.didFail()


class BuildPlan(_MarkerStep):
    """Computes the plan from the build's changes and checks what can really be reused."""

    name = "plan"
    renderables = ["suite_prefix"]

    # a build without changes: "everything" (a forced build), or "tree": tests, plus what
    # the tree needs since each stage's marker (a bisection probe, docs/bisect.rst)
    WITHOUT_CHANGES = ("everything", "tree")

    def __init__(self, suite_prefix=changes.DEFAULT_SUITE_PREFIX, tree_rules=True,
                 without_changes="everything", **kwargs):
        self.suite_prefix = suite_prefix
        self.use_tree_rules = tree_rules
        if without_changes not in self.WITHOUT_CHANGES:
            from buildbot import config
            config.error(f"BuildPlan: without_changes must be one of "
                         f"{', '.join(self.WITHOUT_CHANGES)}, not {without_changes!r}")
        self.without_changes = without_changes
        self._diff_log = None
        self._tree_rules = ()
        self._notes = []
        self._diff_host = []
        kwargs.setdefault("haltOnFailure", True)
        super().__init__(**kwargs)

    def classify(self, paths):
        return changes.classify_paths(paths, self.suite_prefix, self._tree_rules)

    async def run(self):
        if self.use_tree_rules:
            self._tree_rules = await self.load_tree_rules()
        build_changes = list(self.build.allChanges())
        if not build_changes and self.without_changes == "tree":
            # check_reuse puts back every stage whose marker the git diff does not clear
            plan = changes.Plan.from_stages(changes.Stage.TESTS, (
                "no changes (bisection probe): what the tree needs since the last build "
                "here",))
        else:
            plan = changes.merge(self.classify(getattr(c, "files", None))
                                 for c in build_changes)
        files = self.files()
        reused_from = {}
        if plan.nothing():
            plan = await self.check_unannounced(plan, files)
        if not plan.nothing():
            plan, reused_from = await self.check_reuse(plan, files)
        # a stage that will be rebuilt loses its marker first: a failed rebuild leaves none
        for stage in STAGES:
            if getattr(plan, stage):
                await self.remove(files.marker(stage))

        for key, value in plan.to_properties().items():
            self.setProperty(key, value, PLAN_SOURCE)
        for stage, source in reused_from.items():
            self.setProperty(f"vkckpt_{stage}_from_build", source.get("build"), PLAN_SOURCE)
        if "world" in reused_from and reused_from["world"].get("revision"):
            self.setProperty("vkckpt_world_revision", reused_from["world"]["revision"],
                             PLAN_SOURCE)
        self.final_summary = summary(plan, reused_from)
        notes = "".join(f"note: {n}\n" for n in self._notes)
        await self.addCompleteLog(
            "plan", self.final_summary + "\n" + "".join(f"  {r}\n" for r in plan.reasons)
            + notes)
        return SUCCESS

    # --- rules derived from the checked-out tree --------------------------------------------
    async def load_tree_rules(self):
        """The checkout's derived rules (cached per revision); () when git cannot tell, with a
        note in the plan log (the hand rules still apply)."""
        out = await self.git(["rev-parse", "--verify", "HEAD^{commit}"])
        revision = (out or "").strip()
        if not FULL_REVISION.match(revision):
            self._notes.append("no tree rules: the checkout's revision is unknown "
                               "(hand rules only)")
            return ()
        cached = TREE_RULES.get(revision)
        if cached is not None:
            self._notes.append(f"tree rules of {revision[:10]}: {len(cached)} (cached)")
            return cached
        hits = await self.git(["grep", "-l", "-z", "-I", "-E", "-e", treerules.REACHES_SYS,
                               revision, "--", *MAKEFILE_SPECS], ok=(0, 1))
        if hits is None:
            self._notes.append("no tree rules: git grep failed (hand rules only)")
            return ()
        specs = treerules.wanted_makefiles(treerules.parse_name_list(hits, revision))
        text = await self.git(["grep", "-z", "-n", "-I", "-e", "", revision, "--", *specs],
                              ok=(0, 1))
        if text is None:
            self._notes.append("no tree rules: git grep failed (hand rules only)")
            return ()
        rules = treerules.derive(treerules.parse_grep(text, revision))
        TREE_RULES.put(revision, rules)
        self._notes.append(f"tree rules of {revision[:10]}: {len(rules)}")
        return rules

    async def git(self, args, ok=(0,)):
        """stdout of ``git args`` in the checkout, or None when it failed. An argv list:
        nothing reaches a shell; the output is not logged (it can be large)."""
        cmd = remotecommand.RemoteShellCommand(
            self.workdir or "build", ["git", "-c", "core.quotepath=off", *args],
            collectStdout=True, logEnviron=False, timeout=300, stdioLogName=None,
            decodeRC={rc: SUCCESS for rc in ok})
        await self.runCommand(cmd)
        if cmd.rc not in ok:
            return None
        return cmd.stdout

    async def check_unannounced(self, plan, files):
        """A plan of nothing still builds what the tree needs since the last tested image
        (a rename whose new name alone needs nothing, a push never announced)."""
        marker = await self.read_marker(files.marker("image"))
        revision = str((marker or {}).get("revision") or "")
        if marker is None or marker.get("builder") != self.build.builder.name \
                or not REVISION.match(revision):
            return plan
        paths = await self.changed_since(revision)
        if not paths:
            return plan
        needed = self.classify(paths)
        if needed.nothing():
            return plan
        reason = (f"the tree changed since build {marker.get('build')} ({revision[:10]}) in a "
                  f"way that needs it: {needed.reasons[0]}")
        return changes.merge([changes.Plan.from_stages(
            needed.stages, [reason], needed.untested_host_paths), plan])

    async def check_reuse(self, plan, files):
        """The plan with every stage whose earlier output is not usable put back in, and
        {stage: marker} for the stages that are reused."""
        stages, reasons, reused_from = plan.stages, list(plan.reasons), {}
        for stage in STAGES:  # world first: rebuilding it brings the image back in
            if getattr(changes.Plan.from_stages(stages), stage):
                continue
            marker, why = await self.reusable(stage, files)
            if marker is None:
                stages |= getattr(changes.Stage, stage.upper())
                reasons.insert(0, f"{stage} rebuilt anyway: {why}")
            else:
                reused_from[stage] = marker
        # the image check ran before a later stage could have brought the image back in
        host = list(plan.untested_host_paths)
        host += [p for p in self._diff_host if p not in host]
        notes = [r for r in reasons if r.endswith(changes.UNTESTED_HOST)][:1]
        if host and not notes:
            more = f" (+{len(host) - 1} more)" if len(host) > 1 else ""
            notes = [f"{host[0]}{more}: {changes.UNTESTED_HOST}"]
        others = [r for r in reasons if not r.endswith(changes.UNTESTED_HOST)]
        final = changes.Plan.from_stages(
            stages, others[:changes.MAX_REASONS - len(notes)] + notes, host)
        return final, {s: m for s, m in reused_from.items() if not getattr(final, s)}

    async def reusable(self, stage, files):
        """(marker, None) when ``stage``'s output from an earlier build can be reused here,
        else (None, why not)."""
        marker = await self.read_marker(files.marker(stage))
        if marker is None:
            return None, f"no finished {stage} from an earlier build on this worker"
        builder = self.build.builder.name
        if marker.get("builder") != builder:
            return None, (f"the {stage} in {self.objdir} was last built by builder "
                          f"{marker.get('builder')!r}, not {builder!r}")
        output = files.output(stage)
        if output and not await self.pathExists(output):
            return None, f"{output} is missing"
        why = await self.tree_needs(stage, marker)
        if why:
            return None, why
        return marker, None

    async def tree_needs(self, stage, marker):
        """Why the tree checked out now needs ``stage`` rebuilt although this build's changes
        do not (a push never announced, a wrong file list), or None."""
        revision = str(marker.get("revision") or "")
        since = f"build {marker.get('build')}"
        if not REVISION.match(revision):
            return f"{since} recorded no revision to compare this checkout with"
        paths = await self.changed_since(revision)
        if paths is None:
            return f"revision {revision[:10]} of {since} is not in this checkout's history"
        needed = self.classify(paths) if paths else None
        if needed is not None:
            self._diff_host.extend(p for p in needed.untested_host_paths
                                   if p not in self._diff_host)
        if needed is None or not getattr(needed, stage):
            return None
        return (f"the tree changed since {since} ({revision[:10]}) in a way that needs it: "
                f"{needed.reasons[0]}")

    async def changed_since(self, revision):
        """Paths that differ between ``revision`` and the checkout (HEAD), or None when git
        cannot tell: both sides of a rename or copy, deleted paths too. ``-z`` keeps every
        name whole (newlines, quotes, backslashes). An argv list: nothing reaches a shell."""
        cmd = remotecommand.RemoteShellCommand(
            self.workdir or "build", ["git", "-c", "core.quotepath=off", "diff",
                                      "--name-status", "-z", "-M", revision, "HEAD", "--"],
            collectStdout=True, logEnviron=False, timeout=300, stdioLogName="git-diff")
        if self._diff_log is None:
            self._diff_log = await self.addLog("git-diff")
        cmd.useLog(self._diff_log, False, "git-diff")
        await self.runCommand(cmd)
        if cmd.didFail():
            return None
        return name_status_paths(cmd.stdout)


def name_status_paths(output):
    """The paths of ``git diff --name-status -z`` output: ``status NUL path NUL`` records,
    with two paths after a rename (``R100``) or copy (``C75``) status; both count."""
    fields = output.split("\0")
    paths, i = [], 0
    while i < len(fields):
        status = fields[i].strip("\n")
        i += 1
        if not status:
            continue
        count = 2 if status[:1] in ("R", "C") else 1
        paths.extend(p for p in fields[i:i + count] if p)
        i += count
    return paths


def summary(plan, reused_from):
    """``plan: kernel + image + tests; world reused from build 41`` (stages grouped by the
    build they come from)."""
    text = f"plan: {plan.describe()}"
    groups = {}
    for stage in STAGES:
        if stage in reused_from:
            groups.setdefault(reused_from[stage].get("build"), []).append(stage)
    parts = [f"{_join(names)} reused from build {number}" for number, names in groups.items()]
    if plan.untested_host_paths:
        parts.append("host-side vkernel changes untested (the host runs its own kernel)")
    return "; ".join([text] + parts)


def _join(names):
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


class RecordStage(_MarkerStep):
    """Writes a stage's marker after the stage was built successfully in this build."""

    def __init__(self, stage, **kwargs):
        if stage not in STAGES:
            from buildbot import config
            config.error(f"RecordStage: stage must be one of {', '.join(STAGES)}, not {stage!r}")
        self.stage = stage
        kwargs.setdefault("name", f"record-{stage}")
        kwargs.setdefault("doStepIf", planned(stage))
        kwargs.setdefault("hideStepIf", hide_when_skipped)
        kwargs.setdefault("flunkOnFailure", False)
        kwargs.setdefault("warnOnFailure", True)
        super().__init__(**kwargs)

    async def run(self):
        path = self.files().marker(self.stage)
        marker = {"stage": self.stage, "builder": self.build.builder.name,
                  "build": self.getProperty("buildnumber"),
                  # what the checkout really has: the change's own ``revision`` is only a
                  # claim, and a later plan diffs the tree from this one
                  "revision": self.getProperty("got_revision"),
                  "branch": self.getProperty("branch")}
        cmd = remotecommand.RemoteCommand("downloadFile", {
            "workerdest": path, "workdir": self.workdir or "build", "mode": 0o644,
            "reader": remotetransfer.StringFileReader(json.dumps(marker, sort_keys=True)),
            "maxsize": None, "blocksize": 16 * 1024})
        await self.runCommand(cmd)
        if cmd.didFail():
            self.final_summary = f"could not record {self.stage} at {path}: it will be rebuilt"
            return WARNINGS
        self.final_summary = f"{self.stage} of build {marker['build']} recorded for reuse"
        return SUCCESS

