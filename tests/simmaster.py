"""A real Buildbot master and worker in front of a fresh simulated DragonFly host, running a
hand-made pipeline (checkout, world, kernel, image, boot, the steps under test, shutdown) —
for integration tests that exercise particular steps rather than the ready-made factory."""
from contextlib import contextmanager

from buildbot_vkckpt.demo.localbb import LocalBuildbot
from buildbot_vkckpt.simhost import tree
from buildbot_vkckpt.simhost.host import SimHost


def pipeline_body(host, builder, test_steps, image_args="", boot_args="", extra=""):
    """master.cfg text. ``test_steps``: lines such as ``f.addStep(...)`` run after boot;
    ``extra``: more master.cfg text (imports of the steps used included)."""
    session = f"objdir={str(host.obj)!r}"
    return f"""
from buildbot_vkckpt.steps import *  # noqa: F401,F403 - the pipeline names its steps
f = util.BuildFactory()
f.addStep(steps.Git(repourl={f"file://{host.src}"!r}, branch="master", mode="incremental",
                    name="checkout", haltOnFailure=True))
f.addStep(BuildWorld(jobs=2, {session}, haltOnFailure=True))
f.addStep(BuildKernel(jobs=2, {session}, haltOnFailure=True))
f.addStep(MakeRootImage({image_args}{session}, haltOnFailure=True))
f.addStep(BootVkernel(boot_timeout=20, {boot_args}{session}, haltOnFailure=True))
{test_steps.strip()}
f.addStep(ShutdownVkernel())
c['builders'].append(util.BuilderConfig(name={builder!r},
                     workernames=[w.name for w in c['workers']], factory=f))
c['schedulers'].append(schedulers.ForceScheduler(name='force', builderNames=[{builder!r}]))
{extra}
"""


@contextmanager
def sim_master(base, builder, test_steps, **body_args):
    """Yields a started LocalBuildbot (``.host`` is the simulated host); stops it after and
    asserts that everything stopped."""
    host = SimHost(base / "host")
    host.create()
    tree.create_source_tree(host)
    bb = LocalBuildbot(base / "bb", worker_env=host.env())
    bb.create(pipeline_body(host, builder, test_steps, **body_args))
    bb.start()
    bb.host = host
    try:
        yield bb
    finally:
        assert bb.stop() == []
