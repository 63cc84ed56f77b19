"""GuestCheckpointSuite on a real master and worker, inside the simulated vkernel: the suite is
built in the guest, checkpointed and restored there, and its per-test results reach the master
through the results disk. The run's shared master serves both builds (clean, then
``guest-test-fails``)."""
import pytest

from buildbot_vkckpt.suite import list_tests, suite_dir

pytestmark = pytest.mark.integration

BUILDER = "suite"
# what the simulated host's default flavour (master-with-port: master with the GSoC work)
# restores: stock DragonFly's list plus threads and kqueues (docs/guest-suite.rst)
PASSING = {"files", "fpu", "itimer", "memory", "mmap_private", "mmap_shared_anon",
           "mmap_shared_file", "selfckpt", "signals", "kqueue", "threads"}


@pytest.fixture(scope="module")
def bb(sim_builder):
    return sim_builder(BUILDER, """
f.addStep(GuestCheckpointSuite(iterations=2, timeouts={"suite_build": 120, "suite": 120}))
""", image_args=f"suite_dir={str(suite_dir())!r}, ")


def run_build(bb):
    build = bb.wait_build(bb.force(BUILDER, reason="guest suite"), timeout=120)
    steps = {s["name"]: s for s in bb.steps(build["buildid"])}
    suite = steps["guest-suite"]
    sets = bb.test_result_sets(suite["stepid"])
    results = {r["test_name"]: r for ts in sets for r in bb.test_results(ts["test_result_setid"])}
    logs = {lg["name"]: lg for lg in bb.logs(suite["stepid"])}
    return build, steps, sets, results, logs


def test_suite_results_reach_the_master_per_test(bb):
    build, steps, sets, results, logs = run_build(bb)
    suite = steps["guest-suite"]
    assert suite["results"] == 0, suite["state_string"]
    assert suite["state_string"] == "11 passed, 0 failed, 4 xfail · 2 iterations"
    assert [(s["category"], s["value_unit"]) for s in sets] == [("pass_fail", "boolean")]
    assert sets[0]["tests_passed"] == 15 and sets[0]["tests_failed"] == 0
    assert set(results) == {t.name for t in list_tests()}
    assert all(r["value"] == "1" and r["duration_ns"] for r in results.values())
    assert {"results.tap", "results.html", "build", "stdio", "results", "console"} <= set(logs)
    tap = bb.log_text(logs["results.tap"]["logid"])
    passed = {line.split(" - ")[1] for line in tap.splitlines() if line.startswith("ok ")}
    assert passed == PASSING
    assert "read from the pipe (fd 3): Bad file descriptor" in tap
    assert steps["shutdown"]["results"] == 0


def test_guest_test_fails_fault_names_the_test(bb):
    bb.host.set_faults({"guest-test-fails": "memory"})
    try:
        build, steps, sets, results, logs = run_build(bb)
    finally:
        bb.host.set_faults({})
    suite = steps["guest-suite"]
    assert suite["results"] == 2, suite["state_string"]
    assert "failed: memory" in suite["state_string"]
    assert "10 passed, 1 failed, 4 xfail" in suite["state_string"]
    assert results["memory"]["value"] == "0" and results["files"]["value"] == "1"
    assert "== memory/output.log" in bb.log_text(logs["test-logs"]["logid"])
    assert build["results"] == 2 and steps["shutdown"]["results"] == 0
