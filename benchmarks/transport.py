"""Throughput and master CPU of the SSH transport against the OpenSSH client, same sshd, same run.

Starts a throwaway sshd on 127.0.0.1 (tests/transports/sshd_fixture.py), writes a file of
``--megabytes`` of agent-like text (base64 lines), then streams it with ``cat FILE``

* through the transport's thread layer (HostConnection + CommandRun, output decoded to str and
  handed to a counting sink, which is what a step's log callback receives), and
* through the whole SSHTransport.run() on a real Twisted reactor (callbacks in the reactor
  thread, redaction, bounded window) while a 10 ms timer measures how late the reactor runs —
  a stand-in for how quickly the master's web UI could answer during the stream, and
* through the OpenSSH client, ``ssh -p PORT ... cat FILE > /dev/null``.

Prints MB/s and CPU seconds per MB (this process's CPU for paramiko; the ssh child's CPU for
OpenSSH), the throughput ratio and PASS/FAIL against the target (ratio >= 0.5, worst reactor
delay < 100 ms). Exit status is 0 either way unless --strict is given.
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tests.transports.sshd_fixture import SSHServer  # noqa: E402

from buildbot_vkckpt.transports.command import CommandRun, Sink  # noqa: E402
from buildbot_vkckpt.transports.connection import Address, ConnectSpec, HostConnection  # noqa
from buildbot_vkckpt.transports.hostkeys import HostKeyPolicy  # noqa: E402
from buildbot_vkckpt.transports.keys import load_private_key  # noqa: E402
from buildbot_vkckpt.transports import remote_exec  # noqa: E402

TARGET_RATIO = 0.5
TARGET_REACTOR_DELAY = 0.100


class CountingSink(Sink):
    def __init__(self):
        self.chars = 0

    def stdout(self, text):
        self.chars += len(text)

    def stderr(self, text):
        self.chars += len(text)


def make_data(path, megabytes):
    with open(path, "wb") as f:
        subprocess.run(f"head -c {megabytes * 750000} /dev/urandom | base64",
                       shell=True, stdout=f, check=True)
    return os.path.getsize(path)


def measure(fn):
    wall, cpu = time.monotonic(), time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    count = fn()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    child_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    return count, time.monotonic() - wall, time.process_time() - cpu, child_cpu


def thread_layer(server, data_path):
    connection = HostConnection(Address(server.host, server.port, server.user))
    spec = ConnectSpec.make(load_private_key(server.client_key),
                            HostKeyPolicy(known_hosts=server.known_hosts))
    # connect first: the handshake is not part of the stream
    connection.open_command(spec, remote_exec.command_line("python3", ["true"])).result(10)

    def stream():
        sink = CountingSink()
        channel = connection.open_command(
            spec, remote_exec.command_line("python3", ["cat", data_path])).result(10)
        assert CommandRun(channel, connection, sink).start().result(600) == 0
        return sink.chars
    try:
        return measure(stream)
    finally:
        connection.close().result(10)


def full_transport(server, data_path):
    """SSHTransport.run on a real reactor; returns the measurement and the worst timer delay."""
    from twisted.internet import defer, reactor, task

    from buildbot.process.properties import Properties
    from buildbot_vkckpt.transports import SSHTransport

    step = type("Step", (), {})()
    step.master = type("Master", (), {"reactor": reactor})()
    step.build = type("Build", (), {"properties": Properties(),
                                    "render": staticmethod(defer.succeed)})()
    transport = SSHTransport(server.host, server.port, server.user, key=server.client_key,
                             known_hosts=server.known_hosts)
    counted, delays, outcome = [0], [0.0], {}

    def on_output(text):
        counted[0] += len(text)

    expected = [time.monotonic()]

    def tick():
        now = time.monotonic()
        delays[0] = max(delays[0], now - expected[0])
        expected[0] = now + 0.010

    async def scenario():
        await transport.run(step, ["true"], on_output, on_output)       # connect
        counted[0] = 0
        probe = task.LoopingCall(tick)
        expected[0] = time.monotonic()
        probe.start(0.010)
        result = await defer.ensureDeferred(_measured(transport, step, data_path, on_output,
                                                      counted))
        probe.stop()
        await transport.close()
        return result

    def done(result):
        outcome["result"] = result
        reactor.stop()

    reactor.callWhenRunning(lambda: defer.ensureDeferred(scenario()).addBoth(done))
    reactor.run()
    if isinstance(outcome["result"], Exception) or hasattr(outcome["result"], "raiseException"):
        outcome["result"].raiseException()
    return outcome["result"], delays[0]


async def _measured(transport, step, data_path, on_output, counted):
    wall, cpu = time.monotonic(), time.process_time()
    rc = await transport.run(step, ["cat", data_path], on_output, on_output)
    assert rc == 0, rc
    return counted[0], time.monotonic() - wall, time.process_time() - cpu, 0.0


def openssh(server, data_path):
    argv = ["ssh", "-q", "-p", str(server.port), "-i", os.path.join(server.dir, "client_ed25519"),
            "-o", f"UserKnownHostsFile={server.known_hosts}", "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-F", "/dev/null",
            f"{server.user}@{server.host}", "cat", data_path]

    def stream():
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
        return os.path.getsize(data_path)
    return measure(stream)


def report(name, count, wall, cpu):
    megabytes = count / 1e6
    print(f"{name:<34} {megabytes:8.1f} MB {wall:7.2f} s {megabytes / wall:8.1f} MB/s "
          f"{cpu / megabytes * 1000:7.2f} ms CPU/MB")
    return megabytes / wall


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vkckpt-bench-") as tmp:
        server = SSHServer(tmp).start()
        try:
            data = os.path.join(tmp, "agent-output.txt")
            size = make_data(data, args.megabytes)
            print(f"streaming {size / 1e6:.1f} MB of base64 lines through sshd on "
                  f"127.0.0.1:{server.port}")
            count, wall, cpu, _ = thread_layer(server, data)
            layer = report("paramiko thread layer", count, wall, cpu)
            (count, wall, cpu, _), delay = full_transport(server, data)
            full = report("SSHTransport.run (real reactor)", count, wall, cpu)
            count, wall, _, child_cpu = openssh(server, data)
            ssh = report("OpenSSH client (ssh ... cat)", count, wall, child_cpu)
        finally:
            server.stop()
    ratio = full / ssh
    print(f"ratio SSHTransport/OpenSSH {ratio:.2f} (thread layer {layer / ssh:.2f}); "
          f"target >= {TARGET_RATIO}")
    print(f"worst reactor delay during the stream {delay * 1000:.0f} ms; "
          f"target < {TARGET_REACTOR_DELAY * 1000:.0f} ms")
    ok = ratio >= TARGET_RATIO and delay < TARGET_REACTOR_DELAY
    print("PASS" if ok else "FAIL")
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
