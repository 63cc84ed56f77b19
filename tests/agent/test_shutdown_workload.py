"""``shutdown`` stops verify's workload and removes its /tmp directory while the guest still
runs: builds that reuse a root image would otherwise pile up ``vkckpt-verify-*`` in it."""
import json
import os

from .test_cycle import booted


def shutdown(sim):
    """The agent's shutdown alone (test_cycle's helper also removes the workload itself)."""
    run = sim.agent("shutdown")
    assert run.returncode == 0, run


def test_shutdown_removes_the_verify_workload(sim):
    booted(sim)
    assert sim.agent("verify", "--prepare").returncode == 0
    rec = json.loads((sim.session / "verify.json").read_text())
    assert os.path.isfile(os.path.join(rec["dir"], "data"))
    shutdown(sim)
    assert not os.path.exists(rec["dir"]), os.listdir(rec["dir"])


def test_a_forged_record_removes_nothing(sim, tmp_path):
    booted(sim)
    victim = tmp_path / "keep"
    victim.mkdir()
    (sim.session / "verify.json").write_text(json.dumps({"dir": str(victim), "pid": 1}))
    shutdown(sim)
    assert victim.is_dir()
