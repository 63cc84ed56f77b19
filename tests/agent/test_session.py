"""The session directory's files and the supervisor's socket (agent/session.py). Booting,
commands and shutdown of a whole session run on the simulated host: test_simhost_session.py."""
import os
import threading

import pytest

from buildbot_vkckpt.agent.session import Session, bind_socket, connect_socket


def test_paths_are_absolute_and_inside_the_session(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = Session("rel")
    assert s.dir == str(tmp_path / "rel")
    assert s.console_log == str(tmp_path / "rel" / "console.log")
    assert s.pidfile.endswith("/rel/vkernel.pid") and s.socket_path.endswith("supervisor.sock")
    assert not os.path.exists(s.dir)
    assert s.ensure() is s and os.path.isdir(s.dir)


def test_state_round_trips_and_bad_state_reads_as_empty(tmp_path):
    s = Session(tmp_path)
    assert s.read_state() == {}                       # none yet
    s.write_state({"alive": True, "path": tmp_path})  # not JSON by itself: written as text
    assert s.read_state() == {"alive": True, "path": str(tmp_path)}
    assert not os.path.exists(s.state_file + ".tmp")
    for junk in ("{not json", "[1, 2]", ""):
        with open(s.state_file, "w") as fh:
            fh.write(junk)
        assert s.read_state() == {}, junk


@pytest.mark.parametrize("depth", [0, 12])  # the test's own dir, and far past the limit
def test_socket_binds_and_connects_even_past_the_unix_path_limit(tmp_path, depth):
    """BSD unix socket paths stop at 104 bytes; session dirs under a worker's builddir are
    often longer."""
    d = tmp_path.joinpath(*["a-long-directory-name"] * depth)
    d.mkdir(parents=True, exist_ok=True)
    path = str(d / "supervisor.sock")
    assert depth == 0 or len(path.encode()) > 104
    cwd = os.getcwd()
    server = bind_socket(path)
    server.listen(1)
    got = []
    t = threading.Thread(target=lambda: got.append(server.accept()[0].recv(5)))
    t.start()
    client = connect_socket(path, timeout=5)
    client.sendall(b"hello")
    t.join(5)
    client.close()
    server.close()
    assert got == [b"hello"] and os.getcwd() == cwd


def test_connecting_to_no_supervisor_raises_and_leaks_no_socket(tmp_path):
    with pytest.raises(OSError):
        connect_socket(str(tmp_path / "supervisor.sock"), timeout=1)
