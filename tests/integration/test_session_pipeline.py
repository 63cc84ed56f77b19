"""The vkernel session on a real master and worker: faults end with the right result and kind,
a build stopped in the middle of boot leaves nothing behind."""
import io
import time

import pytest

from buildbot_vkckpt.demo.runner import BUILDER, DemoRun
from buildbot_vkckpt.demo.scenarios import SCENARIOS

from .pipeline import SHORT
from .sessions import wait_for_live

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("name", ["boot-panic", "vkernel-disabled", "guest-command-fails"])
def test_fault_scenario(tmp_path, name):
    out = io.StringIO()
    demo = DemoRun(tmp_path / name, SCENARIOS[name], out=out, live=False,
                   factory_params=SHORT)
    try:
        assert demo.execute(timeout=180), out.getvalue()
        build = demo.bb.builds(BUILDER)[-1]
        steps = {s["name"]: s for s in demo.bb.steps(build["buildid"])}
        if name == "boot-panic":
            logs = {lg["name"]: lg for lg in demo.bb.logs(steps["boot"]["stepid"])}
            assert "backtrace" in logs and "console" in logs
            frames = demo.bb.log_text(logs["backtrace"]["logid"]).split()
            assert len(frames) >= 3, frames
    finally:
        assert demo.bb.stop() == []
    assert demo.leaks() == []


def test_stop_during_boot_leaves_nothing(tmp_path):
    out = io.StringIO()
    demo = DemoRun(tmp_path / "stop", SCENARIOS["boot-hang"], out=out, live=False,
                   factory_params=SHORT)
    try:
        demo.prepare()
        brid = demo.bb.force(BUILDER, reason="stop during boot")
        deadline = time.monotonic() + 120
        build = None
        while time.monotonic() < deadline:
            build = demo.bb.build_for_request(brid)
            if build:
                running = [s for s in demo.bb.steps(build["buildid"])
                           if s["name"] == "boot" and s["started_at"] and not s["complete_at"]]
                if running:
                    break
            time.sleep(0.2)
        else:
            pytest.fail("boot step never started:\n" + out.getvalue())
        # stop once the vkernel is up (and hanging) under the supervisor
        wait_for_live(demo.basedir, "vkernel")
        demo.bb.rpc(f"builds/{build['buildid']}", "stop", reason="stopped by test")
        build = demo.bb.wait_build(brid, timeout=120)
        steps = {s["name"]: s for s in demo.bb.steps(build["buildid"])}
        assert steps["boot"]["results"] in (4, 6), steps["boot"]   # exception or cancelled
        assert steps["shutdown"]["results"] == 0, steps["shutdown"]["state_string"]
    finally:
        assert demo.bb.stop() == []
    assert demo.leaks() == []
