"""The site the browser tests look at: ONE real Buildbot master with the demo's builds.

Two simulated DragonFly hosts, each behind its own worker and builder, build at the same time
when the site starts:

- ``vkckpt-master2020`` (stock DragonFly 2020): the vkernel has no checkpoint handler, so the
  cycle is NOT TESTED;
- ``vkckpt`` (master with the GSoC work): green builds, a baseline for the regression flag.

A test then asks for the page as it is right after a build of its scenario
(:meth:`DemoSite.latest`): the builder's newest build is then that scenario's, as after
``vkckpt demo --sim-fault NAME``. Every build is checked against its demo scenario
(:meth:`DemoRun.check`) before a page is looked at, so a browser test fails on what the page
shows, not on a build that went wrong.
"""
import io
import threading
from dataclasses import dataclass, field
from pathlib import Path

from buildbot_vkckpt.demo.localbb import LocalBuildbot
from buildbot_vkckpt.demo.runner import DemoRun, factory_source
from buildbot_vkckpt.demo.scenarios import SCENARIOS

from ..regression_rule import expected_flags

# the regression flag's scenario: every restore five times as slow as usual
SLOW = "restore-slow"
# green builds before any other: the regression flag needs two to compare with, and the
# third is judged against the first two (a green build must not be flagged)
BASELINE = 3
# small builds: one guest test (the one guest-test-fails breaks), no re-runs of a failed test
# or cycle (the pages show the first failure either way); three cycles, so a build's cycles
# after the first (what the regression flag compares) are two
FACTORY = {"guest_tests": ["memory"], "cycles": 3, "retries": 0}
# the stock host runs the tests that differ between flavours: they are xfail there
STOCK_FACTORY = {**FACTORY, "guest_tests": ["memory", "threads", "kqueue"]}
# world and kernel compile at once: they are not what the pages are about (the guest kernel
# keeps its pace, which the cycle times measure)
MAKE_SPEED = 0


class BuildFailed(AssertionError):
    """A build did not end as its demo scenario expects."""


@dataclass
class Lane:
    """One simulated host, its worker and its builder."""
    builder: str
    first: str                       # the scenario the host is made for
    factory: dict                    # VkernelCheckpointFactory arguments
    builds: list = field(default_factory=list)      # (scenario, build), oldest first
    demo: DemoRun = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def worker(self):
        return f"{self.builder}-worker"

    @property
    def scheduler(self):
        return f"force-{self.builder}"


class DemoSite:
    """``start()`` the master and workers and the first builds, ``latest(scenario)``,
    ``stop()``."""

    def __init__(self, basedir, timeout=240):
        self.basedir = Path(basedir)
        self.timeout = timeout
        # the host that cannot checkpoint first on the trends page: its section is one row
        self.stock = Lane("vkckpt-master2020", "stock-vkernel", STOCK_FACTORY)
        self.main = Lane("vkckpt", "ok", FACTORY)
        self.lanes = (self.stock, self.main)
        self.bb = LocalBuildbot(self.basedir / "bb", workers=[ln.worker for ln in self.lanes])
        for lane in self.lanes:
            lane.demo = self._demo(lane, lane.first)

    def _demo(self, lane, scenario):
        if scenario not in SCENARIOS:
            raise KeyError(f"demo/scenarios.py has no scenario {scenario!r}")
        demo = DemoRun(self.basedir / lane.builder, SCENARIOS[scenario], out=io.StringIO(),
                       live=False, factory_params=lane.factory)
        demo.bb = self.bb       # the shared master answers check()'s questions
        return demo

    @property
    def url(self):
        return self.bb.url

    def start(self):
        body = []
        for lane in self.lanes:
            self.bb.worker_envs[lane.worker] = lane.demo.prepare_host()
            with lane.demo.host.update_state() as state:
                state["sim_speed"] = MAKE_SPEED
            body.append(factory_source(lane.demo.host, builder=lane.builder,
                                       scheduler=lane.scheduler, workers=[lane.worker],
                                       dashboard=False, **lane.factory))
        body.append("from buildbot_vkckpt.www import add_dashboard\n"
                    f"add_dashboard(c, builders={[ln.builder for ln in self.lanes]!r})\n")
        self.bb.create("".join(body))
        self.bb.start()
        return self

    def build_first(self):
        """The stock host's build and the green baseline, at the same time."""
        errors = []

        def run(lane, count):
            try:
                for _ in range(count):
                    self._build(lane, lane.first)
            except Exception as exc:    # re-raised below, with the lane's name
                errors.append(f"{lane.builder}: {exc}")

        threads = [threading.Thread(target=run, args=(self.stock, 1), daemon=True),
                   threading.Thread(target=run, args=(self.main, BASELINE), daemon=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(self.timeout * BASELINE + 30)
            if t.is_alive():
                errors.append(f"builds still running after {self.timeout * BASELINE} s")
        if errors:
            raise BuildFailed("\n".join(errors))
        return self

    def _build(self, lane, scenario):
        demo = lane.demo if scenario == lane.first else self._demo(lane, scenario)
        demo.host.set_faults(demo.scenario.faults)
        brid = self.bb.force(lane.builder, scheduler=lane.scheduler,
                             reason=f"browser tests: {scenario}")
        build = self.bb.wait_build(brid, timeout=self.timeout)
        lane.builds.append((scenario, build))
        if not demo.check(build, self.bb.steps(build["buildid"])):
            raise BuildFailed(f"{lane.builder} build {build['number']} ({scenario}) did not "
                              f"end as the scenario expects:\n{demo.out.getvalue()}")
        return build

    def lane_of(self, scenario):
        return self.stock if scenario == self.stock.first else self.main

    def latest(self, scenario):
        """The newest build of the scenario's builder, run now unless it is of ``scenario``
        already: the pages then show what ``vkckpt demo --sim-fault NAME`` leaves."""
        lane = self.lane_of(scenario)
        with lane.lock:
            if lane.builds and lane.builds[-1][0] == scenario:
                return lane.builds[-1][1]
            return self._build(lane, scenario)

    def builds(self, scenario=None):
        """Every build so far (of ``scenario``), oldest first."""
        return [b for lane in self.lanes for s, b in lane.builds if scenario in (None, s)]

    def rule_flags(self, lane):
        """Numbers of the lane's builds the documented regression rule flags, from their
        own REST numbers (tests/regression_rule.py): on a loaded machine noise may flag a
        build, and then the page must say so too."""
        return {n for n, _metric in expected_flags(self.bb, [b for _s, b in lane.builds])}

    def build_url(self, build):
        return f"{self.url}#/builders/{build['builderid']}/builds/{build['number']}"

    def revision(self, build):
        return self.bb.properties(build["buildid"]).get("got_revision")

    def stop(self):
        return self.bb.stop()
