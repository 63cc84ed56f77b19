"""Small helpers shared by the transport tests."""
import os
import subprocess
import sys
import threading
import time

from buildbot_vkckpt.transports.command import CommandRun, Sink
from buildbot_vkckpt.transports.connection import Address, ConnectSpec, HostConnection
from buildbot_vkckpt.transports.hostkeys import HostKeyPolicy
from buildbot_vkckpt.transports.keys import load_private_key
from buildbot_vkckpt.transports import remote_exec


class RecordingSink(Sink):
    def __init__(self, on_first=None):
        self.out, self.err, self.times = [], [], []
        self._on_first = on_first
        self.first = threading.Event()

    def stdout(self, text):
        self.out.append(text)
        self.times.append(time.monotonic())
        if not self.first.is_set():
            self.first.set()
            if self._on_first:
                self._on_first()

    def stderr(self, text):
        self.err.append(text)

    @property
    def text(self):
        return "".join(self.out)


def connect(sshd, keepalive=15, keepalive_count=3, policy=None, key_text=None):
    connection = HostConnection(Address(sshd.host, sshd.port, sshd.user))
    spec = ConnectSpec.make(load_private_key(key_text or sshd.client_key),
                            policy or HostKeyPolicy(known_hosts=sshd.known_hosts),
                            connect_timeout=5, keepalive=keepalive,
                            keepalive_count=keepalive_count)
    return connection, spec


# the test host's python3: the interpreter binary, as the demo's SSH host has it (this
# machine's python3 on PATH may be a version manager's shim, a dozen processes per start)
HOST_PYTHON = os.path.realpath(sys.executable)


def start(connection, spec, argv, sink=None, **kwargs):
    sink = sink or RecordingSink()
    channel = connection.open_command(spec, remote_exec.command_line(HOST_PYTHON, argv)) \
        .result(10)
    run = CommandRun(channel, connection, sink, **kwargs)
    return run, run.start(), sink


def run(connection, spec, argv, **kwargs):
    _, result, sink = start(connection, spec, argv, **kwargs)
    return result.result(30), sink


def alive(pid):
    """True while the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _text(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        return ""


def read_pid(path, timeout=10.0):
    assert wait_for(lambda: _text(path), timeout), path
    return int(_text(path))


def fingerprint(public_key_path):
    out = subprocess.run(["ssh-keygen", "-lf", public_key_path], check=True,
                         capture_output=True, text=True).stdout
    return out.split()[1]          # "SHA256:..."
