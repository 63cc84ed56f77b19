"""Flake or regression on a real master and worker in front of the simulated host: a guest
test that fails its first run only (``guest-test-flaky``) and a restore that loses a guest
process once (``restore-loses-process-flaky``) are re-run, called flaky (WARNINGS), every
attempt recorded, and ``vkckpt_flaky`` names both."""
import pytest

pytestmark = pytest.mark.integration

BUILDER = "flakes"


@pytest.fixture(scope="module")
def bb(sim_builder):
    return sim_builder(BUILDER, """
f.addStep(GuestCheckpointSuite(only=["memory", "files"],
                               timeouts={"suite_build": 120, "suite": 120}))
f.addStep(VkernelCheckpointCycle(cycles=2, timeouts={"checkpoint": 60, "restore": 60}))
""")


def test_flaky_guest_test_and_flaky_cycle_are_warnings_naming_them(bb):
    bb.host.set_faults({"guest-test-flaky": "memory", "restore-loses-process-flaky": "1"})
    try:
        build = bb.wait_build(bb.force(BUILDER, reason="flakes"), timeout=240)
    finally:
        bb.host.set_faults({})
    steps = {s["name"]: s for s in bb.steps(build["buildid"])}
    suite, cycle = steps["guest-suite"], steps["checkpoint-cycle"]
    assert suite["results"] == 1, suite["state_string"]            # WARNINGS
    assert suite["state_string"].endswith("memory: flaky (1/3 failed)"), suite["state_string"]
    assert cycle["results"] == 1, cycle["state_string"]
    assert cycle["state_string"].startswith("1/2 cycles ok"), cycle["state_string"]
    assert cycle["state_string"].endswith("cycle: workload-alive: flaky (1/3 failed)"), \
        cycle["state_string"]
    assert build["results"] == 1 and steps["shutdown"]["results"] == 0

    attempts = {}
    for step in (suite, cycle):
        for ts in bb.test_result_sets(step["stepid"]):
            if ts["description"].endswith("attempts"):
                attempts[ts["description"]] = [
                    (r["test_name"], r["line"], r["value"])
                    for r in bb.test_results(ts["test_result_setid"])]
    assert attempts == {
        "guest checkpoint suite attempts": [("memory", 1, "0"), ("memory", 2, "1"),
                                            ("memory", 3, "1")],
        "vkernel checkpoint cycle attempts": [("cycle: workload-alive", 1, "0"),
                                              ("cycle: workload-alive", 2, "1"),
                                              ("cycle: workload-alive", 3, "1")]}
    flaky = bb.properties(build["buildid"])["vkckpt_flaky"]
    assert flaky == [{"test": "memory", "verdict": "flaky (1/3 failed)"},
                     {"test": "cycle: workload-alive", "verdict": "flaky (1/3 failed)"}]
