"""A real Buildbot master and worker in front of a fresh simulated DragonFly host, running a
hand-made pipeline (checkout, world, kernel, image, boot, the steps under test, shutdown) —
for integration tests that exercise particular steps rather than the ready-made factory.

``sim_master`` starts one master for one builder. ``SharedMaster`` is one master, worker and
host for a whole test run, to which each test module adds its own builder (a reconfig, not a
new master): the ``shared_master`` and ``sim_builder`` fixtures of tests/conftest.py."""
import os
import signal
import time
from contextlib import contextmanager

from buildbot_vkckpt.demo.localbb import BuildbotError, LocalBuildbot
from buildbot_vkckpt.simhost import tree
from buildbot_vkckpt.simhost.host import SimHost

# master.cfg of the shared master: every builder a module added, one file each
BUILDERS_DIR = "builders.d"
LOAD_BUILDERS = f"""
import glob as _glob, os as _os
for _path in sorted(_glob.glob(_os.path.join(basedir, {BUILDERS_DIR!r}, '*.py'))):
    with open(_path) as _f:
        exec(compile(_f.read(), _path, 'exec'))
"""


def pipeline_body(host, builder, test_steps, image_args="", boot_args="", extra="",
                  scheduler="force"):
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
f.addStep(BootVkernel(timeouts={{"boot": 20}}, {boot_args}{session}, haltOnFailure=True))
{test_steps.strip()}
f.addStep(ShutdownVkernel())
c['builders'].append(util.BuilderConfig(name={builder!r},
                     workernames=[w.name for w in c['workers']], factory=f))
c['schedulers'].append(schedulers.ForceScheduler(name={scheduler!r}, builderNames=[{builder!r}]))
{extra}
"""


def sim_host(base):
    host = SimHost(base / "host")
    host.create()
    tree.create_source_tree(host)
    return host


@contextmanager
def sim_master(base, builder, test_steps, **body_args):
    """Yields a started LocalBuildbot (``.host`` is the simulated host); stops it after and
    asserts that everything stopped."""
    host = sim_host(base)
    bb = LocalBuildbot(base / "bb", worker_env=host.env())
    bb.create(pipeline_body(host, builder, test_steps, **body_args))
    bb.start()
    bb.host = host
    try:
        yield bb
    finally:
        assert bb.stop() == []


class SharedMaster:
    """One master, worker and simulated host; ``add_builder`` gives a module its own builder
    (and force scheduler ``force-<builder>``) by reconfiguring the running master."""

    def __init__(self, base, env=None):
        self.host = sim_host(base)
        self.bb = LocalBuildbot(base / "bb", worker_env=self.host.env(env))
        self.builders = {}

    def start(self):
        # a master needs a builder to start: a placeholder nobody forces
        self.bb.create(LOAD_BUILDERS + """
c['builders'].append(util.BuilderConfig(name='idle', workernames=[w.name for w in c['workers']],
                     factory=util.BuildFactory()))
c['schedulers'].append(schedulers.ForceScheduler(name='force-idle', builderNames=['idle']))
""")
        (self.bb.master_dir / BUILDERS_DIR).mkdir()
        self.bb.start()
        return self

    def stop(self):
        return self.bb.stop()

    def add_builder(self, builder, test_steps, timeout=120, **body_args):
        """A :class:`SharedBuilder` for ``builder``, once the worker serves it."""
        if builder in self.builders:
            raise ValueError(f"builder {builder!r} is already on the shared master")
        body = pipeline_body(self.host, builder, test_steps, scheduler=f"force-{builder}",
                             **body_args)
        (self.bb.master_dir / BUILDERS_DIR / f"{builder}.py").write_text(body)
        pid = int((self.bb.master_dir / "twistd.pid").read_text())
        os.kill(pid, signal.SIGHUP)       # what `buildbot reconfig` sends
        self._wait_served(builder, timeout)
        self.builders[builder] = SharedBuilder(self, builder)
        return self.builders[builder]

    def _wait_served(self, builder, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ids = {b["name"]: b["builderid"] for b in self.bb.get("builders")["builders"]}
            if builder in ids:
                workers = self.bb.get(f"builders/{ids[builder]}/workers")["workers"]
                if workers and all(w.get("connected_to") for w in workers):
                    return
            time.sleep(0.1)
        raise BuildbotError(f"builder {builder!r} not served {timeout} s after the reconfig; "
                            f"see {self.bb.master_dir / 'twistd.log'}")


class SharedBuilder:
    """A module's view of the shared master: the LocalBuildbot's REST helpers, ``host``, and
    ``force`` through this builder's own scheduler."""

    def __init__(self, shared, name):
        self._bb = shared.bb
        self.host = shared.host
        self.name = name

    def force(self, builder=None, scheduler=None, **kw):
        builder = builder or self.name
        return self._bb.force(builder, scheduler=scheduler or f"force-{builder}", **kw)

    def __getattr__(self, name):
        return getattr(self._bb, name)
