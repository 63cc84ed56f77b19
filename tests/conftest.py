"""Fixtures and rules for every test.

The suite runs on several pytest-xdist workers (``make test``, ``make test-fast``); each
worker is its own process with its own session fixtures and its own temporary directories.
A test that starts a real server (a Buildbot master or worker, sshd) is marked
``integration`` — ``make test-fast`` leaves those out — and this file fails one that is not.
"""
import os

import pytest

from buildbot_vkckpt.demo import localbb, sshd
from tests import speedups
from tests.simmaster import SharedMaster

# work the in-process tests would repeat around every test, done once per process
speedups.install()

# fixtures that start a real server: every test using one (directly or through another
# fixture) is marked integration at collection
SERVER_FIXTURES = {"sshd", "shared_master", "sim_builder"}

_current = {"item": None}


@pytest.fixture(scope="session", autouse=True)
def agent_state_dir(tmp_path_factory):
    """The agent's host-wide session registry (agent/ledger.py) for this test run only.

    Its default, ``~/.vkckpt``, is shared by every run of this user on the machine, and
    ``cleanup --stale`` stops every live session it finds there: without this, one run's
    cleanup would stop another run's vkernels. Masters, workers and agents started by the
    tests inherit it. Each xdist worker has its own (its own temporary base directory), and
    tests that run several simulated hosts at once give each its own."""
    path = tmp_path_factory.mktemp("vkckpt-state")
    old = os.environ.get("VKCKPT_STATE_DIR")
    os.environ["VKCKPT_STATE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("VKCKPT_STATE_DIR", None)
    else:
        os.environ["VKCKPT_STATE_DIR"] = old


@pytest.fixture(scope="session", autouse=True)
def own_working_directory(tmp_path_factory):
    """Every test process works in a directory of its own: Buildbot's test helpers (the fake
    master's ``basedir``, the agent zipapp kept there) write relative to the working
    directory, and xdist workers running them at once in the checkout trip over each other's
    files (and leave them in the checkout)."""
    old = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    os.chdir(old)


@pytest.fixture(scope="module")
def instant_simulation():
    """``VKCKPT_SIM_SPEED=0`` for a module: the simulated host builds and boots without the
    demo's pauses. Masters, workers and hosts the module's fixtures create inherit it (they
    copy ``os.environ``), so request it before them, e.g. with
    ``pytestmark = pytest.mark.usefixtures("instant_simulation")``. Every module under
    ``tests/integration`` has it; a module that measures the pacing sets its own speed in the
    host's environment. A speed set by whoever runs the tests (``VKCKPT_SIM_SPEED=1`` to
    watch at the demo's pace) is kept."""
    old = os.environ.get("VKCKPT_SIM_SPEED")
    if old is None:
        os.environ["VKCKPT_SIM_SPEED"] = "0"
    yield os.environ["VKCKPT_SIM_SPEED"]
    if old is None:
        os.environ.pop("VKCKPT_SIM_SPEED", None)


@pytest.fixture(scope="session")
def shared_master(tmp_path_factory):
    """One real master and worker in front of one simulated host, for the whole test run
    (:class:`tests.simmaster.SharedMaster`): each module that can share it adds its own
    builder through ``sim_builder`` instead of starting a master of its own (seconds each).
    The host runs without the demo's pauses unless ``VKCKPT_SIM_SPEED`` says otherwise.
    Tests using it are marked integration and run in one xdist worker (``xdist_group``), so
    there is one such master per run; they share the host, so a test that sets faults
    clears them in a ``finally``."""
    env = dict(os.environ)
    env.setdefault("VKCKPT_SIM_SPEED", "0")
    shared = SharedMaster(tmp_path_factory.mktemp("shared-master"), env=env)
    try:
        yield shared.start()
    finally:
        assert shared.stop() == []


@pytest.fixture(scope="session")
def sim_builder(shared_master):
    """``sim_builder(name, test_steps, image_args="", boot_args="", extra="")``: a builder of
    the hand-made pipeline (checkout, world, kernel, image, boot, ``test_steps``, shutdown;
    see ``tests.simmaster.pipeline_body``) added to the shared master; returns a
    :class:`tests.simmaster.SharedBuilder` — the LocalBuildbot's REST helpers, ``.host``, and
    ``force()`` through the builder's own scheduler. Call it from a module-scoped fixture::

        @pytest.fixture(scope="module")
        def bb(sim_builder):
            return sim_builder("cycle", 'f.addStep(VkernelCheckpointCycle(cycles=2))')
    """
    return shared_master.add_builder


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
        group = xdist_group(item)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))
    if getattr(config.option, "loadgroup", False):
        for item in items:
            _group_nodeid(item)
    # the long tests first (a master's group runs on one worker for a minute or more), then the
    # other groups; the short ones then fill the workers up to the end instead of one group
    # running alone
    items.sort(key=lambda item: (item.get_closest_marker("integration") is None,
                                 item.get_closest_marker("xdist_group") is None))


def xdist_group(item):
    """The xdist worker a test must share with others (``--dist loadgroup``), or None: the
    shared master's tests all go to one worker; an integration test using a session fixture
    of a directory's conftest (the browser tests' master) goes with that directory's, one
    using a module fixture (a module's master, sshd) with its module — else each worker
    would start its own. The agent tests on hosts of other flavours (``flavoured_host``) go
    together too, so each flavour is built once, and so do the tests of the compiled guest
    suite (``bindir``), so no other worker waits while one compiles it. Other tests go
    wherever a worker is free."""
    used = set(getattr(item, "fixturenames", ()))
    if "shared_master" in used:
        return "shared-master"
    if "flavoured_host" in used:    # each flavour's host is built once, not once per worker
        return "flavoured-hosts"
    if "bindir" in used:    # the guest suite is compiled once: its users would wait for it
        return "guest-suite"
    if item.get_closest_marker("integration") is None:
        return None
    defs = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    scopes = {name: defs[name][-1] for name in used if defs.get(name)}
    shared = sorted(d.baseid for d in scopes.values() if d.scope == "session" and d.baseid
                    and d.baseid != "tests")
    if shared:
        return shared[0]
    if any(d.scope == "module" for d in scopes.values()):
        return item.nodeid.split("::", 1)[0]
    return None


def _group_nodeid(item):
    # pytest-xdist 3.8 groups by an "@group" suffix it writes to item._nodeid, which pytest 9
    # no longer reads (the node id lives in item._id): write it where pytest reads it
    from _pytest.nodeid import NodeId
    names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                    for m in item.iter_markers("xdist_group")})
    if names and "@" not in item.nodeid.rsplit("]", 1)[-1] and hasattr(item, "_id"):
        item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(names)}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    # the test whose setup, call or teardown runs now: module fixtures start in the setup of
    # the module's first test
    _current["item"] = item
    try:
        yield
    finally:
        _current["item"] = None


def _only_in_integration_tests(start, what):
    def guarded(self, *args, **kwargs):
        item = _current["item"]
        if item is not None and item.get_closest_marker("integration") is None:
            pytest.fail(f"{item.nodeid} starts {what} but is not marked integration "
                        f"(pytestmark = pytest.mark.integration): make test-fast leaves "
                        f"out only marked tests", pytrace=False)
        return start(self, *args, **kwargs)
    guarded.__wrapped__ = start
    return guarded


localbb.LocalBuildbot.start = _only_in_integration_tests(localbb.LocalBuildbot.start,
                                                         "a real Buildbot master and worker")
sshd.SSHServer.start = _only_in_integration_tests(sshd.SSHServer.start, "a real sshd")
