"""SSHTransport: run agent commands on a dedicated test host over SSH, from the master.

The Twisted-facing half. Network work happens on threads (``connection.HostConnection``: one
thread per host connection; ``command.CommandRun``: one reader thread per running command);
results and output come back to the master's reactor through ``step.master.reactor.callFromThread``
so a fake reactor in unit tests sees every crossing. Output is redacted (Buildbot does not redact
what a master-side step writes) and flows through a bounded queue that the reactor empties in
small slices, so a fast remote command can neither fill the master's memory faster than the logs
take it nor hold the reactor (and with it the web UI) for longer than a few milliseconds.
"""
import collections
import os
import posixpath
import re
import threading
import time

from buildbot import config
from twisted.internet import defer
from twisted.python import log

from buildbot_vkckpt import validate
from buildbot_vkckpt.transports import remote_exec
from buildbot_vkckpt.transports.base import StreamingTransport
from buildbot_vkckpt.transports.command import CommandRun, Sink
from buildbot_vkckpt.transports.connection import Address, ConnectSpec, HostConnection
from buildbot_vkckpt.transports.errors import CommandInterrupted, TransportError
from buildbot_vkckpt.transports.hostkeys import HostKeyFormatError, HostKeyPolicy, \
    parse_public_key
from buildbot_vkckpt.transports.keys import load_private_key

# Output towards the reactor (see _ReactorSink). Measured with benchmarks/transport.py: smaller
# slices cost the master's log path more per byte (one database append each), no pause between
# turns left the REST API waiting behind the log for 100-240 ms.
IN_FLIGHT = 512 * 1024      # characters handed to the reactor and not yet delivered
SLICE = 128 * 1024          # the most one output callback receives at once
TURN_BUDGET = 0.010         # seconds of output callbacks per reactor turn, then a pause
TURN_PAUSE = 0.005          # seconds the reactor has for everything else before the next turn
HOLD_LIMIT = 64 * 1024      # a partial line longer than this is passed on without its newline


def redact(text, step, extra=()):
    """``text`` with every secret the build has used replaced by ``<name>``, and with the
    literal strings in ``extra`` replaced by ``<ssh key>``."""
    build = getattr(step, "build", None)
    properties = getattr(build, "properties", None)
    if properties is not None:
        text = properties.cleanupTextFromSecrets(text)
    for secret in extra:
        if secret:
            text = text.replace(secret, "<ssh key>")
    return text


class _Registry:
    """Module-wide: one live connection per (host, port, user), shared by every build's steps."""

    def __init__(self):
        self._lock = threading.Lock()
        self._connections = {}

    def get(self, address):
        with self._lock:
            connection = self._connections.get(address)
            if connection is None:
                connection = self._connections[address] = HostConnection(address)
            return connection

    def pop(self, address):
        with self._lock:
            return self._connections.pop(address, None)


REGISTRY = _Registry()


class _ReactorSink(Sink):
    """Reader thread -> reactor thread, redacted line by line, without flooding the reactor.

    At most ``IN_FLIGHT`` characters wait for the reactor; the reader thread blocks above that
    (so paramiko stops reading and the SSH window closes on the host). The reactor takes the
    queue in ``SLICE``-sized pieces, at most ``TURN_BUDGET`` seconds' worth per turn, then
    leaves the reactor ``TURN_PAUSE`` seconds for everything else: Twisted runs every queued
    thread call in one iteration, so large crossings would hold the web UI as long as the log
    path takes to store them.
    Pieces keep their order (one queue for both streams); nothing is dropped while running.
    """

    def __init__(self, reactor, redactor, on_stdout, on_stderr):
        self._reactor = reactor
        self._redact = redactor
        self._callbacks = {"stdout": on_stdout, "stderr": on_stderr}
        self._held = {"stdout": "", "stderr": ""}
        self._queue = collections.deque()       # (name, text); name None: flush held lines
        self._lock = threading.Condition()
        self._scheduled = False                 # a _drain is queued on the reactor
        self.pending = 0                        # characters queued or being delivered
        self.closed = False

    # reader thread
    def stdout(self, text):
        self._send("stdout", text)

    def stderr(self, text):
        self._send("stderr", text)

    def idle(self):
        if self._held["stdout"] or self._held["stderr"]:
            with self._lock:
                if self._queue and self._queue[-1][0] is None:
                    return
            self._put(None, "")

    def _send(self, name, text):
        for start in range(0, len(text), SLICE):
            self._put(name, text[start:start + SLICE])

    def _put(self, name, text):
        with self._lock:
            while self.pending and self.pending + len(text) > IN_FLIGHT:
                if self.closed:
                    return
                self._lock.wait(0.25)
            self.pending += len(text)
            self._queue.append((name, text))
            if self._scheduled:
                return
            self._scheduled = True
        self._reactor.callFromThread(self._drain)

    def close(self):
        """The command is over: a reader still waiting gives up."""
        with self._lock:
            self.closed = True
            self._lock.notify_all()

    # reactor thread
    def _drain(self):
        deadline = time.monotonic() + TURN_BUDGET
        while True:
            with self._lock:
                if not self._queue:
                    self._scheduled = False
                    return
                name, text = self._queue[0]
            try:
                self._deliver(name, text)
            except Exception:       # noqa: BLE001 - a failing log must not stall the command
                log.err(None, "vkckpt: an output callback failed")
            finally:
                with self._lock:
                    self._queue.popleft()
                    self.pending -= len(text)
                    self._lock.notify_all()
            if time.monotonic() >= deadline:
                break
        self._reactor.callLater(TURN_PAUSE, self._drain)

    def _deliver(self, name, text):
        if name is None:
            self._flush_held()
            return
        held = self._held[name] + text
        cut = held.rfind("\n") + 1
        if len(held) - cut > HOLD_LIMIT:
            cut = len(held)
        # Whole lines only, so a secret split across two chunks is still recognised.
        self._held[name] = held[cut:]
        if cut:
            self._callbacks[name](self._redact(held[:cut]))

    def _flush_held(self):
        for name, held in self._held.items():
            if held:
                self._held[name] = ""
                self._callbacks[name](self._redact(held))

    def flush(self):
        """Deliver everything still queued, then the partial lines (the command has ended)."""
        while True:
            with self._lock:
                if not self._queue:
                    break
                name, text = self._queue.popleft()
                self.pending -= len(text)
                self._lock.notify_all()
            self._deliver(name, text)
        self._flush_held()


def _deferred_from_future(reactor, future):
    """A Deferred fired in the reactor thread when ``future`` completes."""
    d = defer.Deferred()

    def settle(done):
        error = done.exception()
        if error is not None:
            d.errback(error)
        else:
            d.callback(done.result())

    future.add_done_callback(lambda done: reactor.callFromThread(settle, done))
    return d


class SSHTransport(StreamingTransport):
    """Runs agent commands on ``user@host:port`` over SSH (see docs/ssh-transport.rst)."""

    def __init__(self, host, port=22, user="root", key=None, passphrase=None, known_hosts=None,
                 host_key=None, trust_on_first_use=False, keepalive=15, connect_timeout=10,
                 remote_dir=".vkckpt", python="python3", keepalive_count=3,
                 workdir="/var/tmp/vkckpt"):
        self.host, self.port, self.user = host, port, user
        self.key, self.passphrase = key, passphrase
        self.known_hosts = os.path.expanduser(known_hosts) if isinstance(known_hosts, str) \
            else known_hosts
        self.host_key = host_key
        self.trust_on_first_use = trust_on_first_use
        self.keepalive, self.keepalive_count = keepalive, keepalive_count
        self.connect_timeout = connect_timeout
        self.remote_dir, self.python = remote_dir, python
        self.workdir = workdir
        self._pinned = ()
        self._check_config()
        self._runs = {}             # id(step) -> CommandRun, or None while it is being started
        self._interrupted = set()   # id(step) interrupted before its command started
        self._reactor = None

    def _check_config(self):
        def error(parameter, why):
            config.error(f"SSHTransport: {parameter} {why}")

        if not isinstance(self.host, str) or not self.host or any(c.isspace() for c in self.host):
            error("host", f"must be a host name or address, not {self.host!r}")
        if not isinstance(self.port, int) or isinstance(self.port, bool) \
                or not 0 < self.port < 65536:
            error("port", f"must be an integer 1..65535, not {self.port!r}")
        if not isinstance(self.user, str) or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*",
                                                              self.user):
            error("user", f"must be a login name, not {self.user!r}")
        if self.key is None:
            error("key", "is required: the private key text, "
                  "e.g. key=util.Secret('vkckpt_ssh_key')")
        elif not isinstance(self.key, str) and not validate.renderable(self.key):
            error("key", "must be the private key text or a renderable such as util.Secret(...)")
        elif isinstance(self.key, str) and "PRIVATE KEY" not in self.key:
            error("key", "must hold the private key itself (use util.Secret(name) to read it from "
                  "a secrets provider), not a file name")
        if self.passphrase is not None and not isinstance(self.passphrase, str) \
                and not validate.renderable(self.passphrase):
            error("passphrase", "must be a string or a renderable such as util.Secret(...)")
        if self.known_hosts is not None and not isinstance(self.known_hosts, str):
            error("known_hosts", "must be the path of a known_hosts file")
        pins = [self.host_key] if isinstance(self.host_key, str) else self.host_key
        if pins is not None:
            try:
                self._pinned = tuple(parse_public_key(p) for p in pins)
            except HostKeyFormatError as e:
                error("host_key", f"is not a public key: {e}")
            except TypeError:
                error("host_key", "must be a string like 'ssh-ed25519 AAAA...' or a list of them")
        if not isinstance(self.trust_on_first_use, bool):
            error("trust_on_first_use", "must be True or False")
        elif self.trust_on_first_use and not self.known_hosts:
            error("trust_on_first_use", "needs known_hosts= (the file where the key is recorded)")
        elif self.trust_on_first_use and self.host_key:
            error("trust_on_first_use", "contradicts a pinned host_key; use one of them")
        for name in ("keepalive", "connect_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                error(name, f"must be a positive number of seconds, not {value!r}")
        if isinstance(self.keepalive_count, bool) or not isinstance(self.keepalive_count, int) \
                or self.keepalive_count < 1:
            error("keepalive_count", f"must be an integer >= 1, not {self.keepalive_count!r}")
        for name in ("remote_dir", "python"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value or "\n" in value:
                error(name, f"must be a non-empty string, not {value!r}")
        if not isinstance(self.workdir, str) or not self.workdir.startswith("/") \
                or "\n" in self.workdir:
            error("workdir", f"must be an absolute path on the host, not {self.workdir!r}")

    def describe(self):
        return f"ssh {self.user}@{self.host}:{self.port}"

    def __repr__(self):
        return f"SSHTransport({self.describe()!r})"

    @property
    def address(self):
        return Address(self.host, self.port, self.user)

    # --- paths: the agent's files live under ``workdir/<builder dir>`` on the test host, while
    # the source tree and objdir are the worker's paths, which the test host must see at the
    # same place (docs/ssh-transport.rst, "shared path")
    def builddir(self, step):
        config = getattr(step.build.builder, "config", None)
        name = getattr(config, "workerbuilddir", None) or step.build.builder.name
        return posixpath.join(self.workdir, re.sub(r"[^A-Za-z0-9_.-]", "_", name))

    def join(self, step, *parts):
        return posixpath.join(*parts)

    # --- per-step helpers (reactor thread) --------------------------------------------------

    async def _spec(self, step):
        """Render the key for this build and build the connection spec."""
        render = step.build.render
        key_text = await render(self.key)
        passphrase = await render(self.passphrase) if self.passphrase is not None else None
        secrets = (key_text, passphrase)
        try:
            pkey = load_private_key(key_text, passphrase)
        except TransportError as e:
            raise type(e)(self._redact(step, str(e), secrets)) from None
        policy = HostKeyPolicy(self.known_hosts, self._pinned, self.trust_on_first_use)
        spec = ConnectSpec.make(pkey, policy, self.connect_timeout, self.keepalive,
                                self.keepalive_count)
        return spec, secrets

    def _redact(self, step, text, secrets=()):
        return redact(text, step, secrets)

    async def _await(self, step, future, secrets):
        """Wait for a thread-layer Future; errors come back with secrets scrubbed."""
        try:
            return await _deferred_from_future(step.master.reactor, future)
        except TransportError as e:
            raise type(e)(self._redact(step, str(e), secrets)) from None

    # --- the interface steps use ------------------------------------------------------------

    async def run(self, step, argv, on_stdout, on_stderr, timeout=None, max_time=None):
        """Run ``argv`` on the host; stream its output; return its exit status."""
        token = id(step)
        self._reactor = step.master.reactor
        self._runs[token] = None
        sink = None
        try:
            spec, secrets = await self._spec(step)
            connection = REGISTRY.get(self.address)
            command_line = remote_exec.command_line(self.python, [str(a) for a in argv])
            channel = await self._await(step, connection.open_command(spec, command_line),
                                        secrets)
            sink = _ReactorSink(step.master.reactor,
                                lambda text: self._redact(step, text, secrets),
                                on_stdout, on_stderr)
            command = CommandRun(channel, connection, sink, timeout=timeout, max_time=max_time)
            self._runs[token] = command
            if token in self._interrupted:
                command.interrupt()
            try:
                return await self._await(step, command.start(), secrets)
            finally:
                sink.close()
                sink.flush()
        finally:
            self._runs.pop(token, None)
            if token in self._interrupted:
                self._interrupted.discard(token)
                if sink is None:
                    raise CommandInterrupted("interrupted before the command started")

    def interrupt(self, step):
        """Stop ``step``'s running command (from ``step.interrupt``); run() then raises
        CommandInterrupted."""
        token = id(step)
        if token not in self._runs:
            return
        self._interrupted.add(token)
        command = self._runs.get(token)
        if command is not None:
            command.interrupt()

    async def ensure_file(self, step, local_path, sha256hex, data=None):
        """Copy ``local_path`` to ``remote_dir/<name>-<sha12><ext>`` unless already there;
        return the remote path."""
        if not re.fullmatch(r"[0-9a-fA-F]{64}", str(sha256hex)):
            raise ValueError(f"sha256hex must be 64 hex digits, not {sha256hex!r}")
        self._reactor = step.master.reactor
        base = os.path.basename(local_path)
        stem, ext = os.path.splitext(base)
        if stem.endswith(".tar"):       # keep double extensions such as .tar.gz whole
            stem, ext = stem[:-4], ".tar" + ext
        remote_name = f"{stem}-{sha256hex[:12].lower()}{ext}"
        spec, secrets = await self._spec(step)
        connection = REGISTRY.get(self.address)
        future = connection.put_file_if_absent(spec, local_path, self.remote_dir, remote_name,
                                               timeout=spec.dead_after)
        return await self._await(step, future, secrets)

    async def fetch_file(self, step, remote_path, local_path, maxsize=None):
        """Copy ``remote_path`` from the host to ``local_path`` over SFTP; return the size.
        Raises FileNotFoundError when the remote file is absent, ValueError above ``maxsize``."""
        self._reactor = step.master.reactor
        spec, secrets = await self._spec(step)
        connection = REGISTRY.get(self.address)
        future = connection.get_file(spec, remote_path, local_path, maxsize,
                                     timeout=spec.dead_after)
        return await self._await(step, future, secrets)

    async def close(self):
        """Close this host's shared connection (the next run reconnects)."""
        connection = REGISTRY.pop(self.address)
        if connection is None:
            return
        future = connection.close()
        if self._reactor is not None:
            await _deferred_from_future(self._reactor, future)
