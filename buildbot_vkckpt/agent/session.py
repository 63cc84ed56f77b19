"""The files of one vkernel session directory, and how to reach its supervisor."""
import json
import os
import socket

CONSOLE_LOG = "console.log"
CONSOLE_TIMES = "console.times"
EVENTS = "events.jsonl"
SOCKET = "supervisor.sock"
PIDFILE = "vkernel.pid"
RESULTS_IMG = "results.img"
STATE = "state.json"
SUPERVISOR_LOG = "supervisor.log"


class Session:
    def __init__(self, path):
        self.dir = os.path.abspath(os.fspath(path))

    def file(self, name):
        return os.path.join(self.dir, name)

    @property
    def console_log(self):
        return self.file(CONSOLE_LOG)

    @property
    def events(self):
        return self.file(EVENTS)

    @property
    def socket_path(self):
        return self.file(SOCKET)

    @property
    def pidfile(self):
        return self.file(PIDFILE)

    @property
    def results_img(self):
        return self.file(RESULTS_IMG)

    @property
    def state_file(self):
        return self.file(STATE)

    def ensure(self):
        os.makedirs(self.dir, exist_ok=True)
        return self

    def read_state(self):
        try:
            with open(self.state_file, encoding="utf-8") as fh:
                data = json.load(fh)
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def write_state(self, state):
        tmp = self.state_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(state, fh, sort_keys=True, default=str)
        os.replace(tmp, self.state_file)


def _short_address(path):
    """Unix socket paths are limited (104 bytes on the BSDs): fall back to a /dev/fd-free
    relative name resolved from the socket's directory."""
    return path if len(path.encode()) < 100 else None


def bind_socket(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if _short_address(path):
        sock.bind(path)
    else:
        _in_dir(os.path.dirname(path), lambda: sock.bind(os.path.basename(path)))
    return sock


def connect_socket(path, timeout=5.0):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        if _short_address(path):
            sock.connect(path)
        else:
            _in_dir(os.path.dirname(path), lambda: sock.connect(os.path.basename(path)))
    except OSError:
        sock.close()
        raise
    return sock


def _in_dir(directory, action):
    old = os.getcwd()
    os.chdir(directory)
    try:
        action()
    finally:
        os.chdir(old)
