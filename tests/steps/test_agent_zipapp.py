"""The agent zipapp is kept in the master's basedir, one folder per version: a master start
leaves no temporary directory behind, and a second start reuses the file."""
import glob
import os
import tempfile

from buildbot_vkckpt.steps.agentfile import agent_zipapp


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



def test_builds_writing_it_at_once_each_get_it(tmp_path, monkeypatch):
    # builds of several builders start together, each in a thread of the same master: all
    # of them find no file and write one before any of them puts it in place
    import threading
    from concurrent.futures import ThreadPoolExecutor

    writers = 4
    barrier = threading.Barrier(writers, timeout=30)
    replace = os.replace

    def replace_together(src, dst):
        barrier.wait()
        return replace(src, dst)

    agent_zipapp()      # the bytes are built once per process, before the race
    monkeypatch.setattr(os, "replace", replace_together)
    with ThreadPoolExecutor(writers) as pool:
        answers = list(pool.map(lambda _: agent_zipapp(str(tmp_path)), range(writers)))
    assert len(set(answers)) == 1
    folder = os.path.dirname(answers[0][0])
    assert os.listdir(folder) == ["vkckpt-agent.pyz"]
