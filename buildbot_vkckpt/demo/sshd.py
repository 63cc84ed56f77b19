"""A real OpenSSH server on a free 127.0.0.1 port, with a throwaway configuration.

It generates its own host key and a client key (authorized for the current user) in a directory
and runs ``sshd -D -e -f CONF`` as a subprocess. Used by the SSH transport tests and by
``vkckpt demo --transport ssh`` (which stands the simulated DragonFly host behind it: ``env``
becomes ``SetEnv`` so commands see the simulated host's tools). A missing sshd is an error, never
a skip: CI must install ``openssh-server``.
"""
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time

INSTALL_HINT = ("OpenSSH server (sshd) is not installed; the SSH transport tests need it: "
                "apt-get install -y openssh-server")


class SSHDMissing(RuntimeError):
    pass


def find_sshd():
    path = os.pathsep.join(["/usr/sbin", "/usr/local/sbin", "/sbin", os.environ.get("PATH", "")])
    sshd = shutil.which("sshd", path=path)
    if sshd is None or shutil.which("ssh-keygen") is None:
        raise SSHDMissing(INSTALL_HINT)
    return sshd


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path, key_type="ed25519", passphrase=""):
    subprocess.run(["ssh-keygen", "-q", "-t", key_type, "-N", passphrase, "-C", "vkckpt-test",
                    "-f", str(path)], check=True)
    with open(f"{path}.pub") as f:
        public = f.read().strip()
    with open(path) as f:
        private = f.read()
    return private, public


class SSHServer:
    """``env``: variables every session gets (sshd ``SetEnv``, which overrides its defaults);
    ``passphrase``: encrypt the generated client key with it."""

    def __init__(self, directory, env=None, passphrase=""):
        self.sshd = find_sshd()
        self.dir = str(directory)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.user = getpass.getuser()
        self.host_key_path = os.path.join(self.dir, "host_ed25519")
        _, public = keygen(self.host_key_path)
        self.host_key = " ".join(public.split()[:2])          # "ssh-ed25519 AAAA..."
        self.env = dict(env or {})
        self.passphrase = passphrase
        self.client_key, self.client_public = keygen(os.path.join(self.dir, "client_ed25519"),
                                                     passphrase=passphrase)
        self.authorized_keys = os.path.join(self.dir, "authorized_keys")
        with open(self.authorized_keys, "w") as f:
            f.write(self.client_public + "\n")
        self.known_hosts = os.path.join(self.dir, "known_hosts")
        with open(self.known_hosts, "w") as f:
            f.write(f"[{self.host}]:{self.port} {self.host_key}\n")
        self.config = os.path.join(self.dir, "sshd_config")
        self.log_path = os.path.join(self.dir, "sshd.log")
        with open(self.config, "w") as f:
            f.write(self._config_text())
        self.process = None

    def _config_text(self):
        return "\n".join([
            f"Port {self.port}",
            f"ListenAddress {self.host}",
            f"HostKey {self.host_key_path}",
            f"PidFile {os.path.join(self.dir, 'sshd.pid')}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            "UsePAM no",
            "StrictModes no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "Subsystem sftp internal-sftp",
            "MaxStartups 100",
            "MaxSessions 100",
            "LogLevel INFO",
            # one SetEnv line: sshd takes only the first SetEnv directive
            *(["SetEnv " + " ".join(f'"{k}={v}"' for k, v in sorted(self.env.items()))]
              if self.env else []),
            "",
        ])

    def start(self):
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)    # privilege separation dir
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen([self.sshd, "-D", "-e", "-f", self.config],
                                        stdout=log, stderr=log, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.process.returncode}:\n{self.log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"sshd did not answer on port {self.port}:\n{self.log()}")

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.process is None:
            return
        self.resume_sessions()
        self.kill_sessions()
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    def crash(self):
        """The whole server dies at once, listener included: the host is down, new
        connections are refused until ``start()``."""
        if self.process is None:
            return
        self.kill_sessions()
        self.process.kill()
        self.process.wait(5)
        self.process = None

    def restart(self):
        self.stop()
        return self.start()

    def session_pids(self):
        """Per-connection sshd processes (children of the listener and their sshd children),
        not the commands they run."""
        if self.process is None:
            return []
        children = _children()
        found, todo = [], [self.process.pid]
        while todo:
            for pid in children.get(todo.pop(), []):
                if _command_name(pid) == "sshd":
                    found.append(pid)
                    todo.append(pid)
        return found

    def _signal_sessions(self, sig):
        for pid in self.session_pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def kill_sessions(self):
        """The server side of every connection dies at once (what a host crash looks like to
        TCP once the host is back: reset)."""
        self._signal_sessions(signal.SIGKILL)

    def freeze_sessions(self):
        """Stop answering without closing anything (a hung host: only keepalives notice)."""
        self._signal_sessions(signal.SIGSTOP)

    def resume_sessions(self):
        self._signal_sessions(signal.SIGCONT)


def _children():
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            table.setdefault(int(fields[1]), []).append(int(entry))
    return table


def _command_name(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None
