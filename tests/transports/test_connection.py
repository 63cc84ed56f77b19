"""The thread layer (HostConnection + CommandRun) against a real sshd on 127.0.0.1."""
import os
import time
from pathlib import Path

import pytest

from buildbot_vkckpt.transports import remote_exec
from buildbot_vkckpt.transports.errors import (AuthenticationFailed, CommandInterrupted,
                                               HostKeyRejected, HostLost, HostUnreachable,
                                               TransportTimeout)
from buildbot_vkckpt.transports.hostkeys import HostKeyPolicy, parse_public_key
from tests.transports.helpers import (alive, connect, fingerprint, read_pid, run, start, wait_for)
from tests.transports.sshd_fixture import free_port, keygen


@pytest.fixture(scope="module")
def conn(sshd):
    """One connection shared by the module's tests, as steps share one per host."""
    connection, spec = connect(sshd)
    yield connection, spec
    connection.close().result(10)


def test_output_streams_before_the_command_ends(conn):
    _, result, sink = start(*conn, ["sh", "-c", "echo first; sleep 1; echo second"])
    assert sink.first.wait(5)
    assert sink.out[0] == "first\n" and not result.done()
    assert result.result(10) == 0
    assert sink.text == "first\nsecond\n"
    assert sink.times[-1] - sink.times[0] > 0.5


def test_stdout_and_stderr_stay_apart(conn):
    rc, sink = run(*conn, ["sh", "-c", "echo out; echo err >&2"])
    assert (rc, sink.text, "".join(sink.err)) == (0, "out\n", "err\n")


@pytest.mark.parametrize("argv,status", [
    (["true"], 0), (["false"], 1), (["sh", "-c", "exit 4"], 4),
    (["no-such-command-vkckpt"], 127), (["sh", "-c", "kill -TERM $$"], 128 + 15)])
def test_exit_status(conn, argv, status):
    rc, sink = run(*conn, argv)
    assert rc == status
    if status == 127:
        assert "cannot run no-such-command-vkckpt" in "".join(sink.err)


def test_argv_reaches_the_host_literally(conn, tmp_path):
    marker = tmp_path / "pwned"
    nasty = ["'$(touch %s)'; rm -rf" % marker, "$(touch %s)" % marker, "`touch %s`" % marker,
             "; touch %s #" % marker, "a b\tc", "*", "~", '"q"', "\\", "!", "日本語", "", "x\ny"]
    rc, sink = run(*conn, ["python3", "-c", "import sys, json; print(json.dumps(sys.argv[1:]))",
                           *nasty])
    import json
    assert rc == 0
    assert json.loads(sink.text) == nasty
    assert not marker.exists()


def test_interrupt_stops_the_remote_process_group(conn, tmp_path):
    pidfile = tmp_path / "sleep.pid"
    command, result, sink = start(*conn, ["sh", "-c", f"sleep 60 & echo $! > {pidfile}; "
                                                      f"echo ready; wait"])
    assert sink.first.wait(5)
    pid = read_pid(str(pidfile))
    assert alive(pid)
    started = time.monotonic()
    command.interrupt()
    with pytest.raises(CommandInterrupted):
        result.result(5)
    assert time.monotonic() - started < 1
    assert wait_for(lambda: not alive(pid), 5), "remote sleep survived the interrupt"


def test_timeout_without_output_stops_the_command(conn, tmp_path):
    pidfile = tmp_path / "sleep.pid"
    _, result, _ = start(*conn, ["sh", "-c", f"echo x; sleep 60 & echo $! > {pidfile}; wait"],
                         timeout=0.5)
    with pytest.raises(TransportTimeout, match="no output for timeout=0.5"):
        result.result(10)
    # stopped: by the wrapper's SIGHUP, or at worst its SIGKILL after the grace period (a
    # wait of just the grace period failed once on a loaded machine)
    assert wait_for(lambda: not alive(read_pid(str(pidfile))), remote_exec.GRACE_SECONDS + 5)


def test_max_time_bounds_a_chatty_command(conn):
    _, result, sink = start(*conn, ["sh", "-c", "while :; do echo tick; sleep 0.1; done"],
                            timeout=5, max_time=0.8)
    with pytest.raises(TransportTimeout, match="max_time=0.8"):
        result.result(10)
    assert "tick" in sink.text


def test_connection_is_reused_and_reconnects_after_the_server_drops_it(sshd, conn):
    assert run(*conn, ["true"])[0] == 0
    first = conn[0]._transport
    assert run(*conn, ["true"])[0] == 0
    assert conn[0]._transport is first                 # reused across commands
    sshd.kill_sessions()
    assert run(*conn, ["sh", "-c", "echo back"])[1].text == "back\n"
    assert conn[0]._transport is not first
    sshd.restart()
    assert run(*conn, ["sh", "-c", "echo again"])[1].text == "again\n"


def test_host_lost_when_the_connection_drops_mid_command(sshd):
    connection, spec = connect(sshd)
    try:
        _, result, sink = start(connection, spec, ["sh", "-c", "echo started; sleep 30"])
        assert sink.first.wait(5)
        sshd.kill_sessions()
        started = time.monotonic()
        with pytest.raises(HostLost, match="closed"):
            result.result(10)
        assert time.monotonic() - started < 3
    finally:
        connection.close().result(10)


def test_host_lost_when_the_host_stops_answering(sshd):
    connection, spec = connect(sshd, keepalive=0.3, keepalive_count=3)
    try:
        _, result, sink = start(connection, spec, ["sh", "-c", "echo started; sleep 30"])
        assert sink.first.wait(5)
        sshd.freeze_sessions()
        started = time.monotonic()
        with pytest.raises(HostLost, match="has not answered keepalives"):
            result.result(10)
        assert time.monotonic() - started < 3
    finally:
        sshd.resume_sessions()
        connection.close().result(10)


def test_unreachable_host(sshd):
    connection, spec = connect(sshd)
    connection.address = type(connection.address)("127.0.0.1", free_port(), sshd.user)
    try:
        with pytest.raises(HostUnreachable, match="cannot connect"):
            start(connection, spec, ["true"])
    finally:
        connection.close().result(10)


def test_unknown_host_key_is_rejected_by_default(sshd, tmp_path):
    policy = HostKeyPolicy(known_hosts=str(tmp_path / "empty_known_hosts"))
    connection, spec = connect(sshd, policy=policy)
    with pytest.raises(HostKeyRejected) as e:
        run(connection, spec, ["true"])
    message = str(e.value)
    assert fingerprint(sshd.host_key_path + ".pub") in message
    assert f"host_key='{sshd.host_key}'" in message
    assert f"[127.0.0.1]:{sshd.port} {sshd.host_key}" in message
    connection.close().result(10)


def test_trust_on_first_use_records_the_key(sshd, tmp_path):
    known = tmp_path / "ssh" / "known_hosts"
    policy = HostKeyPolicy(known_hosts=str(known), trust_on_first_use=True)
    connection, spec = connect(sshd, policy=policy)
    assert run(connection, spec, ["true"])[0] == 0
    connection.close().result(10)
    assert known.read_text() == f"[127.0.0.1]:{sshd.port} {sshd.host_key}\n"
    # recorded now: a strict policy on the same file accepts it
    connection, spec = connect(sshd, policy=HostKeyPolicy(known_hosts=str(known)))
    assert run(connection, spec, ["true"])[0] == 0
    connection.close().result(10)


def test_changed_host_key_is_rejected_even_with_trust_on_first_use(sshd, tmp_path):
    _, other = keygen(tmp_path / "other")
    other_key = " ".join(other.split()[:2])
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {other_key}\n")
    for policy in (HostKeyPolicy(pinned=[parse_public_key(other_key)]),
                   HostKeyPolicy(known_hosts=str(known), trust_on_first_use=True)):
        connection, spec = connect(sshd, policy=policy)
        with pytest.raises(HostKeyRejected, match="CHANGED") as e:
            run(connection, spec, ["true"])
        assert fingerprint(sshd.host_key_path + ".pub") in str(e.value)
        assert fingerprint(str(tmp_path / "other.pub")) in str(e.value)
        connection.close().result(10)
    assert known.read_text().count("\n") == 1


def test_pinned_host_key_is_accepted(sshd):
    connection, spec = connect(sshd, policy=HostKeyPolicy(pinned=[parse_public_key(sshd.host_key)]))
    assert run(connection, spec, ["true"])[0] == 0
    connection.close().result(10)


def test_wrong_client_key_is_rejected(sshd, tmp_path):
    stranger, _ = keygen(tmp_path / "stranger", key_type="ecdsa")
    connection, spec = connect(sshd, key_text=stranger)
    with pytest.raises(AuthenticationFailed, match="refused the ssh key SHA256:"):
        run(connection, spec, ["true"])
    connection.close().result(10)


def test_sftp_copies_only_when_absent(sshd, conn, tmp_path):
    local = tmp_path / "vkckpt-agent.pyz"
    local.write_bytes(b"PK\x03\x04 agent")
    os.chmod(local, 0o755)
    remote_dir = str(tmp_path / "remote")
    path = conn[0].put_file_if_absent(conn[1], str(local), remote_dir, "agent-0123.pyz",
                                      10).result(10)
    assert path == f"{remote_dir}/agent-0123.pyz"
    assert Path(path).read_bytes() == local.read_bytes()
    assert os.stat(path).st_mode & 0o777 == 0o755
    Path(path).write_bytes(b"already there")
    assert conn[0].put_file_if_absent(conn[1], str(local), remote_dir, "agent-0123.pyz",
                                      10).result(10) == path
    assert Path(path).read_bytes() == b"already there"
    assert [n for n in os.listdir(remote_dir) if "partial" in n] == []
