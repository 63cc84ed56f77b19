"""SSHTransport's Twisted-facing side, driven by a fake step whose reactor records every
callFromThread crossing; the network side is the real sshd."""
import hashlib
import queue
import threading
from pathlib import Path

import pytest
from buildbot import config
from buildbot.process.properties import Properties
from buildbot.plugins import util
from twisted.internet import defer
from twisted.python.failure import Failure

from buildbot_vkckpt.transports import (AuthenticationFailed, CommandInterrupted, HostLost,
                                        HostKeyRejected, SSHTransport, redact)
from buildbot_vkckpt.transports.ssh import REGISTRY
from tests.transports.helpers import alive, read_pid, wait_for
from tests.transports.sshd_fixture import keygen


class RecordingReactor:
    """Stands in for step.master.reactor: queues callFromThread calls for the test thread."""

    def __init__(self):
        self.calls = queue.Queue()
        self.crossings = 0

    def callFromThread(self, fn, *args):
        self.crossings += 1
        self.calls.put((fn, args))

    def callLater(self, delay, fn, *args):
        self.calls.put((fn, args))      # no clock: due at once

    def drive(self, coroutine, timeout=20, until=None):
        d = defer.ensureDeferred(coroutine)
        outcome = []
        d.addBoth(outcome.append)
        while not outcome:
            fn, args = self.calls.get(timeout=timeout)
            fn(*args)
            if until is not None and until():
                until = None
        if isinstance(outcome[0], Failure):
            outcome[0].raiseException()
        return outcome[0]


class FakeBuild:
    def __init__(self, secrets):
        self.properties = Properties()
        self._secrets = secrets

    def render(self, value):
        # Like _SecretRenderer: the value is registered for redaction when rendered.
        if hasattr(value, "secret_name"):
            secret = self._secrets[value.secret_name].strip()
            self.properties.useSecret(secret, value.secret_name)
            return defer.succeed(secret)
        return defer.succeed(value)


class FakeStep:
    def __init__(self, secrets):
        self.master = type("Master", (), {})()
        self.master.reactor = RecordingReactor()
        self.build = FakeBuild(secrets)


@pytest.fixture
def setup(sshd):
    step = FakeStep({"ssh_key": sshd.client_key})
    transport = SSHTransport(sshd.host, sshd.port, sshd.user, key=util.Secret("ssh_key"),
                             known_hosts=sshd.known_hosts, keepalive=2)
    yield step, transport
    step.master.reactor.drive(transport.close())


def collect(step):
    out, err, threads = [], [], set()

    def on_out(text):
        threads.add(threading.get_ident())
        out.append(text)

    def on_err(text):
        threads.add(threading.get_ident())
        err.append(text)
    return out, err, threads, on_out, on_err


def test_run_streams_output_through_the_reactor(setup):
    step, transport = setup
    out, err, threads, on_out, on_err = collect(step)
    rc = step.master.reactor.drive(transport.run(
        step, ["sh", "-c", "echo one; echo two >&2; printf partial; exit 2"], on_out, on_err))
    assert rc == 2
    assert "".join(out) == "one\npartial" and "".join(err) == "two\n"
    # every callback ran in the thread that pumps the reactor, never on a network thread
    assert threads == {threading.get_ident()}
    assert step.master.reactor.crossings >= 3


def test_connection_is_shared_across_steps(setup, sshd):
    step, transport = setup
    other_step = FakeStep({"ssh_key": sshd.client_key})
    other = SSHTransport(sshd.host, sshd.port, sshd.user, key=util.Secret("ssh_key"),
                         known_hosts=sshd.known_hosts, keepalive=2)
    _, _, _, on_out, on_err = collect(step)
    step.master.reactor.drive(transport.run(step, ["true"], on_out, on_err))
    first = REGISTRY.get(transport.address)._transport
    other_step.master.reactor.drive(other.run(other_step, ["true"], on_out, on_err))
    assert REGISTRY.get(transport.address)._transport is first


def test_interrupt_from_the_step_stops_the_command(setup, tmp_path):
    step, transport = setup
    pidfile = tmp_path / "sleep.pid"
    out, _, _, on_out, on_err = collect(step)
    with pytest.raises(CommandInterrupted):
        step.master.reactor.drive(
            transport.run(step, ["sh", "-c", f"sleep 60 & echo $! > {pidfile}; echo up; wait"],
                          on_out, on_err),
            until=lambda: out and (transport.interrupt(step) or True))
    assert wait_for(lambda: not alive(read_pid(str(pidfile))), 5)
    transport.interrupt(step)        # nothing running: a no-op


def test_secrets_never_reach_the_callbacks(setup, sshd, tmp_path):
    step, transport = setup
    key_file = tmp_path / "leak"
    key_file.write_text(sshd.client_key)
    out, err, _, on_out, on_err = collect(step)
    step.master.reactor.drive(transport.run(
        step, ["sh", "-c", f"cat {key_file}; cat {key_file} >&2"], on_out, on_err))
    body = sshd.client_key.strip().splitlines()[1]
    text = "".join(out) + "".join(err)
    assert "<ssh_key>" in text
    assert body not in text and "PRIVATE KEY-----\n" not in text
    assert body not in transport.describe() + repr(transport)


def test_redact_without_a_build_and_with_extra_strings():
    step = type("S", (), {"build": None})()
    assert redact("a hunter2 b", step, extra=("hunter2",)) == "a <ssh key> b"
    assert redact("plain", step) == "plain"


def test_key_errors_do_not_show_the_passphrase(sshd, tmp_path):
    private, _ = keygen(tmp_path / "locked", passphrase="correct horse")
    step = FakeStep({"k": private, "p": "wrong battery"})
    transport = SSHTransport(sshd.host, sshd.port, sshd.user, key=util.Secret("k"),
                             passphrase=util.Secret("p"), known_hosts=sshd.known_hosts)
    with pytest.raises(AuthenticationFailed) as e:
        step.master.reactor.drive(transport.run(step, ["true"], print, print))
    assert "wrong battery" not in str(e.value) and "PRIVATE" not in str(e.value).replace(
        "'PRIVATE KEY'", "")


def test_encrypted_key_with_its_passphrase_connects(sshd, tmp_path):
    private, public = keygen(tmp_path / "locked", key_type="rsa", passphrase="correct horse")
    with open(sshd.authorized_keys, "a") as f:
        f.write(public + "\n")
    step = FakeStep({"k": private, "p": "correct horse"})
    transport = SSHTransport(sshd.host, sshd.port, sshd.user, key=util.Secret("k"),
                             passphrase=util.Secret("p"), host_key=sshd.host_key)
    try:
        assert step.master.reactor.drive(transport.run(step, ["true"], print, print)) == 0
    finally:
        step.master.reactor.drive(transport.close())


def test_host_key_error_reaches_the_step(sshd, tmp_path):
    step = FakeStep({"ssh_key": sshd.client_key})
    transport = SSHTransport(sshd.host, sshd.port, sshd.user, key=util.Secret("ssh_key"),
                             known_hosts=str(tmp_path / "none"))
    with pytest.raises(HostKeyRejected, match="SHA256:"):
        step.master.reactor.drive(transport.run(step, ["true"], print, print))
    step.master.reactor.drive(transport.close())


def test_ensure_file_is_content_addressed(setup, tmp_path):
    step, transport = setup
    transport.remote_dir = str(tmp_path / "remote")
    local = tmp_path / "vkckpt-agent.pyz"
    local.write_bytes(b"zipapp v1")
    digest = hashlib.sha256(local.read_bytes()).hexdigest()
    path = step.master.reactor.drive(transport.ensure_file(step, str(local), digest))
    assert path == f"{tmp_path}/remote/vkckpt-agent-{digest[:12]}.pyz"
    assert Path(path).read_bytes() == b"zipapp v1"
    with pytest.raises(ValueError):
        step.master.reactor.drive(transport.ensure_file(step, str(local), "abc"))


KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n"


@pytest.mark.parametrize("kwargs,parameter", [
    ({"host": ""}, "host"), ({"port": 0}, "port"), ({"port": "22"}, "port"),
    ({"user": "a b"}, "user"), ({"key": None}, "key"), ({"key": "~/.ssh/id_ed25519"}, "key"),
    ({"host_key": "ssh-ed25519 not-base64!"}, "host_key"), ({"keepalive": 0}, "keepalive"),
    ({"connect_timeout": -1}, "connect_timeout"), ({"trust_on_first_use": True},
                                                   "trust_on_first_use"),
    ({"remote_dir": ""}, "remote_dir"), ({"python": None}, "python")])
def test_bad_configuration_names_the_parameter(kwargs, parameter):
    arguments = {"host": "test-host", "key": KEY, **kwargs}
    with pytest.raises(config.ConfigErrors) as e:
        SSHTransport(**arguments)
    assert f"SSHTransport: {parameter} " in str(e.value)


def test_describe():
    assert SSHTransport("dfly-test", 2222, "vk", key=util.Secret("k")).describe() == \
        "ssh vk@dfly-test:2222"


def test_host_lost_mid_command_reaches_the_step_and_the_next_run_reconnects(setup, sshd):
    step, transport = setup
    out, _, _, on_out, on_err = collect(step)
    with pytest.raises(HostLost, match="closed"):
        step.master.reactor.drive(
            transport.run(step, ["sh", "-c", "echo up; sleep 30"], on_out, on_err),
            until=lambda: out and (sshd.kill_sessions() or True))
    assert out == ["up\n"]
    assert step.master.reactor.drive(transport.run(step, ["true"], on_out, on_err)) == 0


def test_output_reaches_a_slow_log_in_bounded_slices_on_a_real_reactor(sshd, monkeypatch):
    """A log that costs 100 ms per MB (Buildbot's, measured): the reader waits instead of
    queueing megabytes, and a 10 ms timer on the same reactor never waits behind more than
    100 ms of log work."""
    import time

    from twisted.internet import task
    from twisted.internet.selectreactor import SelectReactor

    from buildbot_vkckpt.transports import ssh

    sinks, real = [], ssh._ReactorSink
    monkeypatch.setattr(ssh, "_ReactorSink", lambda *a: sinks.append(real(*a)) or sinks[-1])
    reactor = SelectReactor()
    step = FakeStep({"ssh_key": sshd.client_key})
    step.master.reactor = reactor
    transport = SSHTransport(sshd.host, sshd.port, sshd.user, key=util.Secret("ssh_key"),
                             known_hosts=sshd.known_hosts)
    out, err, pending, calls, held, since_tick = [], [], [0], [0], [0.0], [0.0]

    def on_out(text):
        pending[0] = max(pending[0], sinks[-1].pending)
        calls[0] = max(calls[0], len(text))
        out.append(text)
        cost = len(text) / 1e6 * 0.1
        since_tick[0] += cost
        time.sleep(cost)

    def tick():
        # the log's cost since the timer last ran, counted rather than timed: a loaded
        # machine delays the timer without the reactor having been held
        held[0] = max(held[0], since_tick[0])
        since_tick[0] = 0.0

    outcome = []

    async def scenario():
        probe = task.LoopingCall(tick)
        probe.clock = reactor
        probe.start(0.010)
        try:
            return await transport.run(
                step, ["sh", "-c", "seq 1 600000; seq 1 2000 >&2; printf end"], on_out,
                err.append)
        finally:
            probe.stop()
            await transport.close()

    def done(result):
        outcome.append(result)
        reactor.stop()

    reactor.callWhenRunning(lambda: defer.ensureDeferred(scenario()).addBoth(done))
    reactor.run(installSignalHandlers=False)
    if isinstance(outcome[0], Failure):
        outcome[0].raiseException()
    assert outcome == [0]
    text = "".join(out)
    assert len(text) > 4_000_000            # 4 MB at 100 ms/MB: the log is the bottleneck
    assert text == "".join(f"{i}\n" for i in range(1, 600001)) + "end"
    assert "".join(err) == "".join(f"{i}\n" for i in range(1, 2001))
    assert 0 < pending[0] <= ssh.IN_FLIGHT
    assert calls[0] <= ssh.SLICE + ssh.HOLD_LIMIT
    assert held[0] < 0.1, f"the log held the reactor for {held[0] * 1000:.0f} ms"
