"""Masters and workers start as ``buildbot start`` starts them, without its CLI
(demo/daemons.py): a master that cannot start says why at once, from its twistd.log, and a
second start of a running one is refused by twistd itself."""
import pytest

from buildbot_vkckpt.demo import daemons
from buildbot_vkckpt.demo.localbb import BuildbotError, LocalBuildbot

pytestmark = pytest.mark.integration

IDLE = """
c['builders'].append(util.BuilderConfig(name='idle', workernames=['vkckpt-worker'],
                     factory=util.BuildFactory()))
c['schedulers'].append(schedulers.ForceScheduler(name='force', builderNames=['idle']))
"""


def test_a_master_whose_config_fails_is_reported_from_its_log(tmp_path):
    bb = LocalBuildbot(tmp_path).create(IDLE + "raise RuntimeError('vkckpt-broken-config')\n")
    try:
        with pytest.raises(BuildbotError) as err:
            bb.start(timeout=120)
        # the failure line, not the start timeout
        assert "did not start: " in str(err.value) and "within" not in str(err.value)
        assert "vkckpt-broken-config" in (bb.master_dir / "twistd.log").read_text()
    finally:
        assert bb.stop() == []
    assert daemons.pid_of(bb.master_dir) is None or not daemons.alive(
        daemons.pid_of(bb.master_dir))


def test_a_running_master_is_started_once_and_stopped(tmp_path):
    bb = LocalBuildbot(tmp_path).create(IDLE)
    try:
        bb.start()
        pid = daemons.pid_of(bb.master_dir)
        assert daemons.alive(pid)
        assert bb.get("builders")["builders"][0]["name"] == "idle"
        with pytest.raises(BuildbotError) as err:
            daemons.start(bb.master_dir, timeout=60, started=daemons.MASTER_STARTED)
        assert "twistd in" in str(err.value) and str(pid) in str(err.value)
        assert daemons.pid_of(bb.master_dir) == pid and daemons.alive(pid)
    finally:
        assert bb.stop() == []
    assert not daemons.alive(pid)
