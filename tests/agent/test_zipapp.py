"""The agent's zipapp (agent/zipapp.py): the same bytes every build, and it runs."""
import hashlib
import subprocess
import sys

from buildbot_vkckpt.agent.zipapp import build_zipapp


def test_zipapp_is_deterministic_and_runs(tmp_path):
    h1 = build_zipapp(tmp_path / "a.pyz")
    h2 = build_zipapp(tmp_path / "b.pyz")
    assert h1 == h2 == hashlib.sha256((tmp_path / "a.pyz").read_bytes()).hexdigest()
    p = subprocess.run([sys.executable, str(tmp_path / "a.pyz"), "status", "--session",
                        str(tmp_path / "s")], stdout=subprocess.PIPE, cwd=tmp_path, timeout=30)
    assert p.returncode == 0
    assert b'@@vkckpt {"ev":"result","status":"ok"' in p.stdout
