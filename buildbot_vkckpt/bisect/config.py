"""``add_to_config(bisect=...)``: per watched builder, a bisect builder (the same factory and
host lock) and a controller builder, each started by its own Triggerable scheduler."""
import posixpath

from buildbot import config as bb_config
from buildbot.plugins import schedulers, steps as bb_steps, util

from buildbot_vkckpt.bisect.controller import BisectStart, Settings
from buildbot_vkckpt.bisect.watch import WatchRegression

LIMITS = {"max_builds": 1, "max_range": 2}     # key -> smallest value allowed
KEYS = tuple(LIMITS) + ("workers",)


def _error(owner, text):
    bb_config.error(f"{owner}: {text}")


def options(value, owner="add_to_config"):
    """``bisect=`` as a dict (limits and ``workers``), or None when off. Errors name the
    parameter (``buildbot checkconfig`` shows them)."""
    if value is False or value is None:
        return None
    if value is True:
        return {}
    if not isinstance(value, dict):
        _error(owner, f"bisect must be True, False or a dict with keys {', '.join(KEYS)}, "
                      f"not {value!r}")
        return None
    good = {}
    for key, given in value.items():
        if key not in KEYS:
            _error(owner, f"bisect has unknown key {key!r} (known: {', '.join(KEYS)})")
        elif key == "workers":
            if isinstance(given, str) or not isinstance(given, (list, tuple)) or not given \
                    or not all(isinstance(w, str) and w for w in given):
                _error(owner, f"bisect['workers'] must be a non-empty list of worker names, "
                              f"not {given!r}")
            else:
                good[key] = list(given)
        elif isinstance(given, bool) or not isinstance(given, int) or given < LIMITS[key]:
            _error(owner, f"bisect[{key!r}] must be a whole number >= {LIMITS[key]}, "
                          f"not {given!r}")
        else:
            good[key] = given
    return good


def check_slots(all_workers, control_workers, probe_workers, owner="add_to_config"):
    """The controller holds a worker slot while its probes run: on a worker limited to one
    build that is also a probe worker, the probe would wait for it forever."""
    limited = {getattr(w, "workername", None) for w in all_workers or []
               if getattr(w, "max_builds", None) == 1}
    stuck = [w for w in control_workers if w in limited and w in probe_workers]
    if stuck:
        _error(owner, f"bisect: the bisection controller would run on {stuck[0]!r}, which "
                      f"takes one build at a time (max_builds=1), and wait there for probe "
                      f"builds that need that slot: give bisect={{'workers': [...]}} a worker "
                      f"that only runs git (e.g. one on the master's machine), or raise "
                      f"max_builds (the host lock already keeps one vkernel per host)")


def names(builder):
    """(bisect builder, controller builder) names of a watched builder."""
    return f"{builder}-bisect", f"{builder}-bisect-control"


PROBE_OBJDIR = "vkckpt-bisect"


def probe_kwargs(factory_kwargs):
    """The watched builder's factory arguments for the bisect builder: the same, but world
    and kernel go to their own objdir under the watched one, so probes at older revisions
    never replace the world the watched builder reuses."""
    kwargs = dict(factory_kwargs)
    objdir = kwargs.get("objdir", "/usr/obj")
    if isinstance(objdir, str) and objdir.startswith("/"):
        kwargs["objdir"] = posixpath.join(objdir, PROBE_OBJDIR)
    return kwargs


def probe_plan_from_tree(factory):
    """A probe build has no changes: its plan starts from the tests and adds what the tree
    needs since each stage was built (a forced build's plan is everything). The factory is
    the watched builder's own, so its BuildPlan step's arguments are set here."""
    from buildbot_vkckpt.steps.plan import BuildPlan
    for step in factory.steps:
        if getattr(step, "step_class", None) is BuildPlan:
            step.kwargs["without_changes"] = "tree"


def control_factory(repourl, branch, settings):
    factory = util.BuildFactory()
    # a full clone: rev-list needs the history between the two builds
    factory.addStep(bb_steps.Git(repourl=repourl, branch=branch, mode="incremental",
                                 name="checkout", haltOnFailure=True))
    factory.addStep(BisectStart(settings))
    return factory


def add_bisection(watched, probe_factory, repourl, branch, workers, locks, tags, settings,
                  all_workers=()):
    """Builders and schedulers that bisect ``watched``; the caller's factory gets the watch
    step. ``settings`` is what :func:`options` returned. Returns (builders, schedulers,
    watch step)."""
    probe, control = names(watched)
    probe_plan_from_tree(probe_factory)
    settings = dict(settings)
    control_workers = settings.pop("workers", None) or list(workers)
    check_slots(all_workers, control_workers, workers)
    builders = [
        util.BuilderConfig(name=probe, workernames=list(workers), factory=probe_factory,
                           locks=locks, tags=tags + ["bisect"]),
        util.BuilderConfig(name=control, workernames=list(control_workers),
                           factory=control_factory(repourl, branch,
                                                   Settings(probe, **settings)),
                           tags=tags + ["bisect"])]
    scheds = [schedulers.Triggerable(name=probe, builderNames=[probe]),
              schedulers.Triggerable(name=control, builderNames=[control])]
    return builders, scheds, WatchRegression(control_scheduler=control)
