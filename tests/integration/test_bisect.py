"""Bisection end to end: a real master and worker, a push of three commits whose second plants
a regression in the tree (a restore that loses a guest process), the red build, the probe
builds and the culprit."""
import pytest

from buildbot_vkckpt.demo.bisect import CULPRIT_AUTHOR, BisectRig

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

SUCCESS, WARNINGS, FAILURE, SKIPPED = 0, 1, 2, 3


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    # one re-run of a failed cycle is enough to call it deterministic, and halves its cost
    rig = BisectRig(tmp_path_factory.mktemp("bisect"), retries=1)
    try:
        rig.prepare()
        seed = rig.force(reason="the last green build")
        assert seed["results"] == SUCCESS, rig.steps(seed)
        rig.seed_revision = rig.bb.properties(seed["buildid"])["got_revision"]
        yield rig
    finally:
        assert rig.stop() == []


def test_a_planted_regression_is_bisected_to_its_commit(rig):
    known = {r["buildrequestid"] for r in rig.build_requests()}
    revisions, subjects = rig.push_commits(3, planted_at=1)
    red = rig.wait_for_build_of(revisions[-1], known, rig.tree_stable_timer + 6, timeout=180)
    assert red is not None and red["results"] == FAILURE
    steps = rig.steps(red)
    assert steps["checkpoint-cycle"]["results"] == FAILURE
    assert "deterministic" in steps["checkpoint-cycle"]["state_string"]
    assert steps["bisect-watch"]["results"] == SUCCESS, steps["bisect-watch"]
    assert steps["bisect-watch"]["state_string"] == (
        f"bisecting {rig.seed_revision[:10]}..{revisions[-1][:10]} for checkpoint-cycle")

    control = rig.wait_for_bisection(timeout=400)
    assert control is not None and control["results"] == SUCCESS, control
    props = rig.bb.properties(control["buildid"])
    culprit = props["vkckpt_culprit"]
    assert culprit["revision"] == revisions[1]
    assert culprit["author"] == f"{CULPRIT_AUTHOR[0]} <{CULPRIT_AUTHOR[1]}>"
    assert culprit["subject"] == subjects[1]
    assert culprit["check"].startswith("checkpoint-cycle")
    assert culprit["builder"] == rig.builder("master") and culprit["build"] == red["number"]
    assert control["state_string"].endswith(f"culprit {revisions[1][:10]} {subjects[1]} — "
                                              f"{culprit['author']} ({culprit['check']})")
    # two probes for three candidates: the first is good, the second bad
    probes = [s for s in rig.bb.steps(control["buildid"]) if s["name"].startswith("probe")]
    assert [(p["name"], p["state_string"].split(":")[0]) for p in probes] == [
        (f"probe 1: {revisions[0][:10]}", "good"), (f"probe 2: {revisions[1][:10]}", "bad")]
    # ceil(log2(3)) = 2 probes; the bound would allow 4
    assert [v["verdict"] for v in props["vkckpt_bisect_verdicts"]] == ["good", "bad"]
    # the probes are builds of their own builder, and the second reused the first's world
    probe_builds = rig.bb.builds(f"{rig.builder('master')}-bisect")
    assert len(probe_builds) == 2
    second = rig.steps(probe_builds[1])
    assert second["buildworld"]["results"] == 3, second["plan"]["state_string"]   # SKIPPED
    # the first red build carries the culprit too
    assert rig.bb.properties(red["buildid"])["vkckpt_culprit"]["revision"] == revisions[1]
    red_now = rig.bb.get(f"builds/{red['buildid']}")["builds"][0]
    assert f"culprit {revisions[1][:10]}" in red_now["state_string"]


def test_red_after_red_starts_no_second_bisection(rig):
    known = {r["buildrequestid"] for r in rig.build_requests()}
    # a kernel change on top: still red, the planted line stays
    revision, _ = rig.push({"sys/kern/kern_exit.c": "/* again */\n"}, "kern_exit: again")
    red = rig.wait_for_build_of(revision, known, rig.tree_stable_timer + 6, timeout=180)
    assert red is not None and red["results"] == FAILURE
    watch = rig.steps(red)["bisect-watch"]
    assert watch["results"] == SKIPPED and not watch["hidden"], watch
    assert watch["state_string"] == f"not bisected: build {red['number'] - 1} was already red"
    assert "bisect" not in rig.steps(red)
    assert len(rig.control_builds()) == 1
