"""The agent zipapp is kept in the master's basedir, one folder per version: a master start
leaves no temporary directory behind, and a second start reuses the file."""
import glob
import os
import tempfile

from buildbot_vkckpt.steps.agent import agent_zipapp


def test_kept_once_per_version_in_the_masters_basedir(tmp_path):
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "vkckpt-agent-*")))
    path, sha, data = agent_zipapp(str(tmp_path))
    assert path == str(tmp_path / f"vkckpt-agent-{sha[:12]}" / "vkckpt-agent.pyz")
    assert open(path, "rb").read() == data and os.access(path, os.X_OK)
    mtime = os.stat(path).st_mtime_ns
    assert agent_zipapp(str(tmp_path)) == (path, sha, data)
    assert os.stat(path).st_mtime_ns == mtime                 # not written again
    assert os.listdir(tmp_path) == [f"vkckpt-agent-{sha[:12]}"]
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "vkckpt-agent-*"))) == before


def test_a_damaged_copy_is_replaced(tmp_path):
    path, sha, data = agent_zipapp(str(tmp_path))
    with open(path, "wb") as fh:
        fh.write(b"truncated")
    assert agent_zipapp(str(tmp_path))[0] == path
    assert open(path, "rb").read() == data
