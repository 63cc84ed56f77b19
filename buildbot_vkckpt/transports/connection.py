"""One SSH connection to one test host, owned by one dedicated thread (no Twisted here).

Everything that blocks on the network — connecting, authenticating, opening channels, SFTP —
runs as a job on the connection's own thread; callers get ``concurrent.futures.Future``s. A
pinger thread sends ``keepalive@openssh.com`` requests that want a reply, so a host that stops
answering (crashed, frozen, cable pulled) is noticed in ``keepalive * keepalive_count`` seconds
even while TCP itself still looks healthy. Buildbot's ``ConnectableThreadQueue`` is not used: it
retries failed connections with backoff for up to an hour, where a rejected host key or a dead
test host must fail the step at once.
"""
import concurrent.futures
import contextlib
import dataclasses
import logging
import os
import queue
import socket
import stat
import threading
import time

import paramiko

from buildbot_vkckpt.transports.errors import (AuthenticationFailed, HostLost, HostUnreachable,
                                               TransportError)

# Faster per byte than paramiko's default aes128-ctr + hmac in pure-Python framing: GCM has no
# separate MAC pass. Others stay as fallbacks.
PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr",
                     "aes256-ctr")
WINDOW_SIZE = 8 * 1024 * 1024
# paramiko reports a dropped connection on its logger; without a handler Python would print it
# to the master's stderr. We report it ourselves as HostLost.
logging.getLogger("paramiko").addHandler(logging.NullHandler())
MAX_PACKET_SIZE = 256 * 1024


@dataclasses.dataclass(frozen=True)
class Address:
    host: str
    port: int
    user: str

    def __str__(self):
        return f"{self.user}@{self.host}:{self.port}"


@dataclasses.dataclass(frozen=True)
class ConnectSpec:
    """How to connect. A live connection made with a different spec is replaced."""
    pkey: paramiko.PKey = dataclasses.field(compare=False)
    key_fingerprint: str
    host_keys: object = dataclasses.field(compare=False)     # hostkeys.HostKeyPolicy
    host_key_identity: tuple
    connect_timeout: float = 10
    keepalive: float = 15
    keepalive_count: int = 3

    @classmethod
    def make(cls, pkey, host_keys, connect_timeout=10, keepalive=15, keepalive_count=3):
        return cls(pkey, pkey.fingerprint, host_keys, host_keys.identity(), connect_timeout,
                   keepalive, keepalive_count)

    @property
    def dead_after(self):
        return self.keepalive * self.keepalive_count


class _Pinger(threading.Thread):
    """Asks the server for a reply every ``interval`` s and remembers how long one is overdue."""

    def __init__(self, transport, interval):
        super().__init__(name="vkckpt-ssh-keepalive", daemon=True)
        self._transport = transport
        self._interval = interval
        self._stop = threading.Event()
        self._waiting_since = None

    def run(self):
        while not self._stop.wait(self._interval) and self._transport.is_active():
            self._waiting_since = time.monotonic()
            # Returns when the reply (success or failure) arrives or the transport closes.
            self._transport.global_request("keepalive@openssh.com", wait=True)
            self._waiting_since = None

    def overdue(self):
        since = self._waiting_since
        return 0.0 if since is None else time.monotonic() - since

    def stop(self):
        self._stop.set()


class HostConnection:
    """The connection to one (host, port, user); thread-safe; reconnects when asked to and dead."""

    def __init__(self, address):
        self.address = address
        self._jobs = queue.SimpleQueue()
        self._transport = None
        self._spec = None
        self._pinger = None
        self._lost = None           # why the current connection is considered dead
        self._thread = threading.Thread(target=self._serve, daemon=True,
                                        name=f"vkckpt-ssh {address}")
        self._thread.start()

    # --- public, callable from any thread -------------------------------------------------

    def submit(self, fn, *args):
        """Run ``fn(*args)`` on the connection thread; return a Future of its result."""
        future = concurrent.futures.Future()
        self._jobs.put((future, fn, args))
        return future

    def open_command(self, spec, command_line):
        """Future of a paramiko Channel running ``command_line`` (connecting if needed)."""
        return self.submit(self._open_command, spec, command_line)

    def put_file_if_absent(self, spec, local_path, remote_dir, remote_name, timeout):
        """Future of the remote absolute path; copies over SFTP only when the name is absent."""
        return self.submit(self._put_file_if_absent, spec, local_path, remote_dir, remote_name,
                           timeout)

    def get_file(self, spec, remote_path, local_path, maxsize, timeout):
        """Future of the size copied from ``remote_path`` to ``local_path`` over SFTP."""
        return self.submit(self._get_file, spec, remote_path, local_path, maxsize, timeout)

    def close(self):
        """Future that resolves once the connection is closed and the thread has ended."""
        future = self.submit(self._disconnect, None)
        self._jobs.put(None)
        return future

    def lost_reason(self):
        """None while the connection looks healthy, else a one-line reason."""
        transport, spec, pinger = self._transport, self._spec, self._pinger
        if self._lost:
            return self._lost
        if transport is None:
            return None
        if not transport.is_active():
            error = transport.get_exception()
            detail = str(error or "").strip()
            return f"connection to {self.address} closed" + (f" ({detail})" if detail else "")
        if pinger is not None and pinger.overdue() > spec.dead_after:
            return (f"{self.address} has not answered keepalives for "
                    f"{pinger.overdue():.0f} s")
        return None

    def declare_lost(self, reason):
        """Mark the connection dead and close its socket so every user fails fast."""
        self._lost = self._lost or reason
        transport = self._transport
        if transport is not None:
            # Safe from any thread; the connection thread replaces it at the next job.
            transport.close()

    # --- connection thread ------------------------------------------------------------------

    def _serve(self):
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, fn, args = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as e:    # noqa: B902 - handed to the caller, never swallowed
                future.set_exception(e)

    def _ensure(self, spec):
        if self._transport is not None and self._spec == spec and self.lost_reason() is None:
            return self._transport
        self._disconnect(None)
        self._connect(spec)
        return self._transport

    def _connect(self, spec):
        host, port = self.address.host, self.address.port
        try:
            sock = socket.create_connection((host, port), timeout=spec.connect_timeout)
        except OSError as e:
            raise HostUnreachable(f"cannot connect to {self.address}: "
                                  f"{e.strerror or e}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport = paramiko.Transport(sock, default_window_size=WINDOW_SIZE,
                                       default_max_packet_size=MAX_PACKET_SIZE)
        options = transport.get_security_options()
        options.ciphers = [c for c in PREFERRED_CIPHERS if c in options.ciphers] + \
            [c for c in options.ciphers if c not in PREFERRED_CIPHERS]
        known_types = spec.host_keys.preferred_key_types(host, port)
        if known_types:
            options.key_types = [t for t in known_types if t in options.key_types] + \
                [t for t in options.key_types if t not in known_types]
        try:
            try:
                transport.start_client(timeout=spec.connect_timeout)
            except (paramiko.SSHException, OSError, EOFError) as e:
                raise HostUnreachable(f"SSH handshake with {self.address} failed: {e}") from None
            spec.host_keys.check(host, port, transport.get_remote_server_key())
            try:
                transport.auth_publickey(self.address.user, spec.pkey)
            except paramiko.AuthenticationException:
                raise AuthenticationFailed(
                    f"{self.address} refused the ssh key {spec.key_fingerprint} for user "
                    f"{self.address.user!r}; add its public key to that user's "
                    f"authorized_keys") from None
            except (paramiko.SSHException, OSError, EOFError) as e:
                raise HostLost(f"{self.address} dropped the connection during "
                               f"authentication: {e}") from None
        except BaseException:
            transport.close()
            raise
        self._transport, self._spec, self._lost = transport, spec, None
        if spec.keepalive:
            self._pinger = _Pinger(transport, spec.keepalive)
            self._pinger.start()

    def _disconnect(self, _):
        if self._pinger is not None:
            self._pinger.stop()
        if self._transport is not None:
            self._transport.close()
        self._transport = self._spec = self._pinger = None
        self._lost = None

    def _open_command(self, spec, command_line):
        reused = self._transport is not None
        try:
            return self._start_channel(spec, command_line)
        except HostLost:
            if not reused:
                raise
        # The server may have dropped an idle connection before we noticed: nothing has run
        # yet, so one fresh connection is safe to try.
        self._disconnect(None)
        return self._start_channel(spec, command_line)

    def _start_channel(self, spec, command_line):
        transport = self._ensure(spec)
        try:
            channel = transport.open_session(timeout=spec.connect_timeout)
            channel.exec_command(command_line)
        except (paramiko.SSHException, OSError, EOFError) as e:
            reason = self.lost_reason() or f"cannot start a command on {self.address}: {e}"
            self.declare_lost(reason)
            raise HostLost(reason) from None
        return channel

    @contextlib.contextmanager
    def _sftp(self, spec, timeout, direction):
        """An SFTP session whose failures mean what they mean for the host: a timeout or a
        broken session is the host lost; a local or remote file error is not."""
        transport = self._ensure(spec)
        try:
            sftp = paramiko.SFTPClient.from_transport(transport)
        except (paramiko.SSHException, OSError, EOFError) as e:
            raise HostLost(f"cannot open SFTP on {self.address}: {e}") from None
        try:
            # A frozen host must not hang the copy forever.
            sftp.get_channel().settimeout(timeout)
            yield sftp
        except (socket.timeout, TimeoutError):
            self.declare_lost(f"{self.address} stopped answering during an SFTP copy")
            raise HostLost(self._lost) from None
        except (paramiko.SSHException, EOFError) as e:
            raise HostLost(self.lost_reason()
                           or f"SFTP {direction} {self.address} failed: {e}") from None
        finally:
            sftp.close()

    def _put_file_if_absent(self, spec, local_path, remote_dir, remote_name, timeout):
        with self._sftp(spec, timeout, "to") as sftp:
            try:
                return _copy_if_absent(sftp, local_path, remote_dir, remote_name)
            except (socket.timeout, TimeoutError, paramiko.SSHException, EOFError):
                raise
            except OSError as e:
                raise TransportError(f"SFTP to {self.address} failed: {e}") from None

    def _get_file(self, spec, remote_path, local_path, maxsize, timeout):
        with self._sftp(spec, timeout, "from") as sftp:
            size = sftp.stat(remote_path).st_size
            if maxsize is not None and size > maxsize:
                raise ValueError(f"{remote_path} is {size} bytes, more than {maxsize}")
            sftp.get(remote_path, local_path)
            return size


def _makedirs(sftp, path):
    """``mkdir -p`` over SFTP (new directories 0700)."""
    try:
        sftp.stat(path)
        return
    except FileNotFoundError:
        pass
    parent = path.rstrip("/").rsplit("/", 1)[0] if "/" in path.rstrip("/") else ""
    if parent:
        _makedirs(sftp, parent)
    sftp.mkdir(path, mode=0o700)


def _copy_if_absent(sftp, local_path, remote_dir, remote_name):
    _makedirs(sftp, remote_dir)
    directory = sftp.normalize(remote_dir)
    target = f"{directory}/{remote_name}"
    try:
        if stat.S_ISREG(sftp.stat(target).st_mode):
            return target
    except FileNotFoundError:
        pass
    # Copy under a temporary name and rename, so a dropped connection never leaves a truncated
    # file under the content-addressed name.
    partial = f"{directory}/.{remote_name}.partial-{os.getpid()}"
    sftp.put(local_path, partial, confirm=True)
    sftp.chmod(partial, os.stat(local_path).st_mode & 0o777)
    sftp.posix_rename(partial, target)
    return target
