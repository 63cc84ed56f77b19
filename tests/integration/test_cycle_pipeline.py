"""VkernelCheckpointCycle on a real master and worker against the simulated host: world,
kernel, image (with the suite the agent carries), boot, two checkpoint/restore/verify cycles,
shutdown. The results reach the master as test-result sets; the run's shared master serves
both builds (clean, then ``restore-thaw-fails``)."""
import re

import pytest

pytestmark = pytest.mark.integration

BUILDER = "cycle"
CHECKS = {"workload-alive", "workload-progressed", "uptime-continuous", "files-intact",
          "network"}


@pytest.fixture(scope="module")
def bb(sim_builder):
    return sim_builder(BUILDER, """
f.addStep(VkernelCheckpointCycle(cycles=2, timeouts={"checkpoint": 30, "restore": 30}))
""", image_args='image_size="64m", ', boot_args='memory="128m", ')


def run_build(bb):
    build = bb.wait_build(bb.force(BUILDER, reason="checkpoint cycles"), timeout=150)
    steps = {s["name"]: s for s in bb.steps(build["buildid"])}
    cycle = steps["checkpoint-cycle"]
    sets = {s["description"]: s for s in bb.test_result_sets(cycle["stepid"])}
    results = {d: {r["test_name"]: r["value"] for r in bb.test_results(s["test_result_setid"])}
               for d, s in sets.items()}
    logs = {lg["name"]: lg for lg in bb.logs(cycle["stepid"])}
    return build, steps, sets, results, logs


def test_cycles_reach_the_master_as_test_results(bb):
    build, steps, sets, results, logs = run_build(bb)
    cycle = steps["checkpoint-cycle"]
    assert cycle["results"] == 0, cycle["state_string"]
    assert re.fullmatch(r"2/2 cycles ok · ckpt [\d.]+ m?s / [\d.]+ [KMG]iB · "
                        r"restore [\d.]+ m?s",
                        cycle["state_string"]), cycle["state_string"]
    assert {d: (s["category"], s["value_unit"]) for d, s in sets.items()} == {
        "vkernel checkpoint cycle": ("pass_fail", "boolean"),
        "checkpoint time": ("performance", "seconds"),
        "restore time": ("performance", "seconds"),
        "time to responsive console": ("performance", "seconds"),
        "checkpoint file size": ("binary_size", "bytes")}
    expected = {f"cycle {n}: {what}" for n in (1, 2)
                for what in {"checkpoint", "restore"} | CHECKS}
    assert results["vkernel checkpoint cycle"] == {name: "1" for name in expected}
    assert sets["vkernel checkpoint cycle"]["tests_passed"] == len(expected)
    for description in ("checkpoint time", "restore time", "time to responsive console"):
        assert set(results[description]) == {"cycle 1", "cycle 2"}
        assert all(float(v) > 0 for v in results[description].values()), results
    sizes = results["checkpoint file size"]
    assert set(sizes) == {"cycle 1", "cycle 2"} and all(int(v) > 0 for v in sizes.values())
    assert {"stdio", "cycle 1", "cycle 2", "console", "cycle-report.html"} <= set(logs)
    assert "checkpoint-inspect" not in logs
    props = bb.get(f"builds/{build['buildid']}/properties")["properties"][0]
    assert props["vkckpt_cycles_ok"][0] == 2
    assert props["vkckpt_ckpt_bytes"][0] > 0
    assert steps["root-image"]["results"] == 0 and steps["shutdown"]["results"] == 0


def test_restore_thaw_fails_is_failure_with_the_inspection(bb):
    bb.host.set_faults({"restore-thaw-fails": None})
    try:
        build, steps, sets, results, logs = run_build(bb)
    finally:
        bb.host.set_faults({})
    cycle = steps["checkpoint-cycle"]
    assert cycle["results"] == 2, cycle["state_string"]
    # the action is named once, though the agent's own summary starts "restore failed:"
    assert cycle["state_string"].startswith("kernel: cycle 1/2 (restore): restore failed: thaw failed "
                                            "error 22 Invalid argument"), cycle["state_string"]
    assert results["vkernel checkpoint cycle"] == {"cycle 1: checkpoint": "1",
                                                   "cycle 1: restore": "0"}
    assert "checkpoint-inspect" in logs, sorted(logs)
    inspect = bb.log_text(logs["checkpoint-inspect"]["logid"])
    assert re.search(r"kernel\.debug\.ckpt: .*, \d+ threads?", inspect), inspect
    assert "notes:" in inspect and "mappings:" in inspect, inspect
    assert "last-console-lines" in logs
    assert build["results"] == 2 and steps["shutdown"]["results"] == 0
