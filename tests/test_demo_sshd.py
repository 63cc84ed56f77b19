"""The throwaway sshd gives every session all the variables it was asked for (sshd takes only
the first SetEnv directive, so they must share one line)."""
import subprocess

import pytest

from buildbot_vkckpt.demo.sshd import SSHServer


@pytest.mark.integration
def test_every_variable_reaches_the_session(tmp_path):
    (tmp_path / "sshd").mkdir()
    env = {"PATH": "/usr/bin:/bin", "VKCKPT_SIMHOST": "/sim/root", "VKCKPT_STATE_DIR": "/sim/st"}
    server = SSHServer(tmp_path / "sshd", env=env).start()
    try:
        out = subprocess.run(
            ["ssh", "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={server.known_hosts}",
             "-i", str(tmp_path / "sshd" / "client_ed25519"), "-p", str(server.port),
             f"{server.user}@{server.host}", "env"],
            capture_output=True, text=True, timeout=30)
    finally:
        server.stop()
    assert out.returncode == 0, out.stderr
    assert "VKCKPT_SIMHOST=/sim/root" in out.stdout.splitlines()
    assert "VKCKPT_STATE_DIR=/sim/st" in out.stdout.splitlines()
