"""BuildWorld and BuildKernel on a real Buildbot master and worker against the simulated host."""
import io

import pytest

from buildbot_vkckpt.demo.runner import DemoRun
from buildbot_vkckpt.demo.scenarios import SCENARIOS

from .pipeline import SHORT

pytestmark = pytest.mark.integration


def run_scenario(tmp_path, name):
    out = io.StringIO()
    demo = DemoRun(tmp_path / name, SCENARIOS[name], out=out, live=True, factory_params=SHORT)
    try:
        ok = demo.execute(timeout=180)
        build = demo.bb.builds("vkckpt")[-1]
        steps = {s["name"]: s for s in demo.bb.steps(build["buildid"])}
        sets = {name: demo.bb.test_result_sets(s["stepid"]) for name, s in steps.items()}
        props = demo.bb.properties(build["buildid"])
        results = {ts["test_result_setid"]: demo.bb.test_results(ts["test_result_setid"])
                   for step_sets in sets.values() for ts in step_sets}
        return ok, out.getvalue(), steps, sets, props, results
    finally:
        assert demo.bb.stop() == []


def test_clean_build_reports_stages_and_warnings(tmp_path):
    ok, text, steps, sets, props, results = run_scenario(tmp_path, "ok")
    assert ok, text
    assert steps["buildworld"]["results"] == 0
    assert steps["buildkernel"]["results"] == 0
    world_sets = {s["category"]: s for s in sets["buildworld"]}
    assert set(world_sets) == {"code_issue", "performance"}
    perf = results[world_sets["performance"]["test_result_setid"]]
    assert any(r["test_name"] == "stage 4b" for r in perf)
    assert all(isinstance(r["value"], str) for r in perf)
    assert props["vkckpt_world_state"] == "succeeded"
    assert props["vkckpt_kernel_state"] == "succeeded"
    assert "buildworld" in text and "test results" in text


def test_stage_failure_is_named(tmp_path):
    ok, text, steps, sets, props, results = run_scenario(tmp_path, "world-fail")
    assert ok, text
    assert steps["buildworld"]["results"] == 2
    assert "stage 4b" in steps["buildworld"]["state_string"]
    assert "buildkernel" not in steps
    assert props["vkckpt_world_state"] == "failed"
