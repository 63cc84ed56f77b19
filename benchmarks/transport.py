"""Throughput and master CPU of the SSH transport against the OpenSSH client, same sshd, same run.

Starts a throwaway sshd on 127.0.0.1 (tests/transports/sshd_fixture.py), writes a file of
``--megabytes`` of agent-like text (base64 lines), then streams it with ``cat FILE``

* through the transport's thread layer (HostConnection + CommandRun, output decoded to str and
  handed to a counting sink, which is what a step's log callback receives), and
* through the whole SSHTransport.run() on a real Twisted reactor (callbacks in the reactor
  thread, redaction, bounded window) while a 10 ms timer measures how late the reactor runs —
  a stand-in for how quickly the master's web UI could answer during the stream, and
* through the OpenSSH client, ``ssh -p PORT ... cat FILE > /dev/null``, and
* inside a real Buildbot master (demo/localbb.py: master + worker on 127.0.0.1): a build whose
  step is an AgentStep over SSHTransport running ``cat FILE`` instead of the agent, so the
  output takes the vkernel steps' own path (redaction, the agent-event observer, the ``stdio``
  log in the master's database). While it streams, the benchmark GETs ``/api/v2/builders`` and
  the build's step every 50 ms and records how long each answer takes.

Prints MB/s and CPU seconds per MB (this process's CPU for paramiko; the ssh child's CPU for
OpenSSH; the master process's CPU for the in-master stream), the throughput ratio, the REST
latency (median, p99, max) and PASS/FAIL against the targets (ratio >= 0.5, worst reactor delay
< 100 ms, REST p99 < 100 ms). Exit status is 0 either way unless --strict is given.
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
TARGET_REST_P99 = 0.100
POLL_INTERVAL = 0.050
BUILDER = "stream"
KEY_SECRET = "bench_ssh_key"


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


# master.cfg text: the stream step is the SSH path of AgentStep (stdio log, agent-event
# observer, redaction of the build's secrets) with ``cat FILE`` where the agent would run.
MASTER_CFG = """
import time
from buildbot.plugins import secrets
from buildbot.process import logobserver
from buildbot.process.results import FAILURE, SUCCESS
from twisted.internet import task
from buildbot_vkckpt.steps.agent import AgentStep
from buildbot_vkckpt.transports import SSHTransport

c['secretsProviders'] = [secrets.SecretInAFile(dirname={secrets_dir!r})]
transport = SSHTransport({host!r}, port={port}, user={user!r}, key=util.Secret({secret!r}),
                         known_hosts={known_hosts!r}, workdir={workdir!r},
                         remote_dir={workdir!r} + '/agent', python={python!r})


class CountingObserver(logobserver.LogObserver):
    chars = largest = 0

    def outReceived(self, data):
        self.chars += len(data)
        self.largest = max(self.largest, len(data))

    errReceived = outReceived


class StreamAgentOutput(AgentStep):
    console_log = False

    def __init__(self, argv, **kwargs):
        self.argv = argv
        super().__init__(**kwargs)
        self.counter = CountingObserver()
        self.addLogObserver('stdio', self.counter)

    async def ensure_agent(self):
        return None                 # cat needs no agent on the host

    def agent_argv(self, *args, **kwargs):
        return list(self.argv)

    async def run_agent(self):
        # cat and true print no agent result: the exit code is the verdict
        command = await self.run_agent_command(None, [])
        return SUCCESS if command.rc == 0 and command.failure is None else FAILURE

    async def run(self):
        # how late the master's reactor runs a 10 ms timer while this step streams
        late, expected = [0.0], [time.monotonic()]

        def tick():
            now = time.monotonic()
            late[0] = max(late[0], now - expected[0])
            expected[0] = now + 0.010
        probe = task.LoopingCall(tick)
        probe.start(0.010)
        start = time.monotonic()
        try:
            result = await super().run()
        finally:
            probe.stop()
        seconds = time.monotonic() - start
        self.setProperty(f'{{self.name}}_reactor_late', late[0], 'benchmark')
        self.setProperty(f'{{self.name}}_seconds', seconds, 'benchmark')
        self.setProperty(f'{{self.name}}_chars', self.counter.chars, 'benchmark')
        self.setProperty(f'{{self.name}}_largest_write', self.counter.largest, 'benchmark')
        self.final_summary = f'{{self.counter.chars}} chars in {{seconds:.2f}} s'
        return result


factory = util.BuildFactory()
# connect first: the handshake is not part of the stream
factory.addStep(StreamAgentOutput(['true'], name='connect', transport=transport))
factory.addStep(StreamAgentOutput(['cat', {data!r}], name='stream', transport=transport))
c['builders'].append(util.BuilderConfig(name={builder!r},
                                        workernames=[w.name for w in c['workers']],
                                        factory=factory))
c['schedulers'].append(schedulers.ForceScheduler(name='force', builderNames=[{builder!r}]))
"""


def master_cpu(bb):
    """CPU seconds the master process has used so far."""
    pid = int((bb.master_dir / "twistd.pid").read_text().strip())
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_get(bb, path):
    """(answer, seconds); the answer is None for 404 (the step does not exist yet)."""
    import urllib.error

    start = time.monotonic()
    try:
        answer = bb.get(path)
    except urllib.error.HTTPError as e:
        if e.code != 404:
            raise
        answer = None
    return answer, time.monotonic() - start


def in_master(server, data_path, tmp):
    """The stream inside a real master while its REST API is polled; returns (chars, seconds,
    master CPU seconds, [(latency, seconds into the stream)] of the answers given during the
    stream, largest single write into the log, worst lateness of the master's reactor)."""
    from buildbot_vkckpt.demo.localbb import LocalBuildbot

    secrets_dir = os.path.join(tmp, "secrets")
    os.makedirs(secrets_dir, mode=0o700)
    key_file = os.path.join(secrets_dir, KEY_SECRET)
    with open(os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(server.client_key)
    bb = LocalBuildbot(os.path.join(tmp, "bb"))
    bb.create(MASTER_CFG.format(
        secrets_dir=secrets_dir, host=server.host, port=server.port, user=server.user,
        secret=KEY_SECRET, known_hosts=server.known_hosts, workdir=os.path.join(tmp, "sshhost"),
        python=sys.executable, data=data_path, builder=BUILDER))
    try:
        return _stream_and_poll(bb, os.path.getsize(data_path))
    except Exception:
        log = bb.master_dir / "twistd.log"
        if log.exists():
            print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    finally:
        bb.stop()


def _stream_and_poll(bb, size):
    bb.start()
    cpu_before = master_cpu(bb)
    brid = bb.force(BUILDER)
    latencies, build, tick, first = [], None, time.monotonic(), None
    while build is None or not build["complete"]:
        # every 50 ms; after a slow answer, the next GET goes out at once (no burst)
        tick = max(tick + POLL_INTERVAL, time.monotonic())
        time.sleep(max(0.0, tick - time.monotonic()))
        if build is None:
            build = bb.build_for_request(brid)
            continue
        _, builders_latency = timed_get(bb, "builders")
        answer, step_latency = timed_get(bb, f"builds/{build['buildid']}/steps/stream")
        step = answer["steps"][0] if answer and answer["steps"] else None
        if step and step["started_at"] and not step["complete"]:
            first = first or time.monotonic()
            when = time.monotonic() - first
            latencies += [(builders_latency, when), (step_latency, when)]
        build = bb.get(f"builds/{build['buildid']}")["builds"][0]
    cpu = master_cpu(bb) - cpu_before
    steps = {s["name"]: s for s in bb.steps(build["buildid"])}
    if build["results"] != 0:
        raise RuntimeError(f"the stream build failed: {steps}")
    props = bb.properties(build["buildid"])
    if props["stream_chars"] != size:
        raise RuntimeError(f"the step log got {props['stream_chars']} of {size} characters")
    return (props["stream_chars"], props["stream_seconds"], cpu, latencies,
            props["stream_largest_write"], props["stream_reactor_late"])


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(name, count, wall, cpu):
    megabytes = count / 1e6
    print(f"{name:<34} {megabytes:8.1f} MB {wall:7.2f} s {megabytes / wall:8.1f} MB/s "
          f"{cpu / megabytes * 1000:7.2f} ms CPU/MB")
    return megabytes / wall


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--no-master", action="store_true",
                        help="skip the stream inside a Buildbot master and the REST latency")
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
            latencies = None
            if not args.no_master:
                count, wall, cpu, latencies, largest, late = in_master(server, data, tmp)
                report("step log in a Buildbot master", count, wall, cpu)
                print(f"{'':<34} (master CPU includes answering the REST polls; largest "
                      f"single write into the log {largest / 1e6:.2f} MB; the master's "
                      f"reactor ran up to {late * 1000:.0f} ms late)")
        finally:
            server.stop()
    ratio = full / ssh
    print(f"ratio SSHTransport/OpenSSH {ratio:.2f} (thread layer {layer / ssh:.2f}); "
          f"target >= {TARGET_RATIO}")
    print(f"worst reactor delay during the stream {delay * 1000:.0f} ms; "
          f"target < {TARGET_REACTOR_DELAY * 1000:.0f} ms")
    ok = ratio >= TARGET_RATIO and delay < TARGET_REACTOR_DELAY
    if latencies is not None:
        if not latencies:
            print("REST API: no answer arrived while the stream ran (stream too short?)")
            ok = False
        else:
            seconds = [latency for latency, _ in latencies]
            worst, worst_at = max(latencies)
            p99 = percentile(seconds, 0.99)
            print(f"REST API during the in-master stream: {len(seconds)} GETs (builders, the "
                  f"step) every {POLL_INTERVAL * 1000:.0f} ms: median "
                  f"{percentile(seconds, 0.5) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max "
                  f"{worst * 1000:.0f} ms ({worst_at:.1f} s into the stream); target p99 < "
                  f"{TARGET_REST_P99 * 1000:.0f} ms {'PASS' if p99 < TARGET_REST_P99 else 'FAIL'}")
            ok = ok and p99 < TARGET_REST_P99
    print("PASS" if ok else "FAIL")
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
