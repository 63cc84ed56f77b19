"""A full build on each real DragonFly flavour the simulated host can play (docs/flavours.rst),
with the agent running where /proc cannot be read, as on DragonFly."""
import io
import os

import pytest

from buildbot_vkckpt.demo import noproc
from buildbot_vkckpt.demo.runner import DemoRun
from buildbot_vkckpt.demo.scenarios import SCENARIOS

pytestmark = pytest.mark.integration


def hide_proc():
    """As root (CI is root) the agent must run without /proc; elsewhere it cannot be hidden."""
    if os.geteuid() == 0 or os.environ.get("CI"):
        assert noproc.available(), "root without unshare/mount namespaces: cannot hide /proc"
        return True
    return False


# what differs between flavours: threads and kqueue (pass only with the GSoC work), the cycle
SHORT = {"guest_tests": ["memory", "threads", "kqueue"], "cycles": 2}


def run(tmp_path, scenario, flavour=None):
    out = io.StringIO()
    demo = DemoRun(tmp_path / scenario, SCENARIOS[scenario], out=out, live=False,
                   flavour=flavour, hide_proc=hide_proc(), factory_params=SHORT)
    try:
        ok = demo.execute(timeout=180)
        build = demo.bb.builds("vkckpt")[-1]
        steps = {s["name"]: s for s in demo.bb.steps(build["buildid"])}
        return ok, out.getvalue(), steps, demo
    finally:
        assert demo.bb.stop() == []


@pytest.mark.parametrize("flavour", ["gsoc2013", "master-with-port"])
def test_checkpointable_flavour_builds_green_with_cycles(tmp_path, flavour):
    ok, text, steps, demo = run(tmp_path, "ok", flavour)
    assert ok, text
    assert demo.host.load_state()["flavour"] == flavour
    assert flavour in steps["boot"]["state_string"], text
    assert "2/2 cycles ok" in steps["checkpoint-cycle"]["state_string"], text
    # the GSoC work restores threads and kqueues: expected passes here
    assert steps["guest-suite"]["state_string"].startswith("3 passed, 0 failed, 0 xfail"), text


def test_master2020_is_not_tested_because_it_has_no_handler(tmp_path):
    ok, text, steps, demo = run(tmp_path, "stock-vkernel")
    assert ok, text
    assert demo.host.load_state()["flavour"] == "master2020"
    assert "master2020" in steps["boot"]["state_string"], text
    assert steps["guest-suite"]["results"] == 0, text
    # stock DragonFly restores neither threads nor kqueues: both stay xfail
    assert steps["guest-suite"]["state_string"].startswith("1 passed, 0 failed, 2 xfail"), text
    cycle = steps["checkpoint-cycle"]
    assert cycle["results"] == 1, text         # WARNINGS: NOT TESTED is never green
    assert "checkpoint NOT TESTED — the vkernel has no checkpoint handler" \
        in cycle["state_string"], text
    # the build's line (its result and summary, as the builder list shows them) says it too
    build_line = next(line for line in text.splitlines() if line.startswith("build "))
    assert "warnings" in build_line and "checkpoint NOT TESTED" in build_line, text


def test_gsoc_vkernel_on_a_stock_host_is_refused_before_any_signal(tmp_path):
    ok, text, steps, demo = run(tmp_path, "gsoc-on-stock-host")
    assert ok, text
    state = demo.host.load_state()
    assert (state["flavour"], state["host_kernel"]) == ("gsoc2013", "stock")
    cycle = steps["checkpoint-cycle"]
    assert cycle["results"] == 1, text
    assert "host kernel has no vkernel checkpoint support" in cycle["state_string"], text
    # the vkernel itself was never asked to checkpoint: no handler output on its console, and
    # no checkpoint file on the host (the host probe removes its own); the guest suite's
    # in-guest checkpoints live in the guest's filesystem (the image's .root tree)
    consoles = list(demo.basedir.rglob("console.log"))
    assert consoles, text
    assert not any("Checkpointing" in p.read_text(errors="replace") for p in consoles)
    assert not [p for p in demo.basedir.rglob("*.ckpt") if ".img.root" not in str(p)]
