"""One remote command's life on its own reader thread: output, deadlines, interruption, loss.

The reader waits on the channel (paramiko's pipe fd covers stdout and stderr) and on a wake-up
pipe, hands decoded text to a sink as it arrives, and ends the command with its exit status or
one of HostLost, TransportTimeout, CommandInterrupted. Closing the channel makes the remote
wrapper (remote_exec) stop the command's process group.
"""
import codecs
import concurrent.futures
import os
import select
import threading
import time

from buildbot_vkckpt.transports.errors import (CommandInterrupted, HostLost, TransportError,
                                               TransportTimeout)

CHUNK = 1024 * 1024
TICK = 0.25             # how often deadlines and the connection's health are checked


class Sink:
    """Receives the command's text; called on the reader thread."""

    def stdout(self, text):
        raise NotImplementedError

    def stderr(self, text):
        raise NotImplementedError

    def idle(self):
        """Called when no output came for a tick (flush partial lines)."""


class CommandRun:
    """Reads one channel to the end; ``result`` is a Future of the exit status."""

    def __init__(self, channel, connection, sink, timeout=None, max_time=None):
        self._channel = channel
        self._connection = connection
        self._sink = sink
        self._timeout = timeout
        self._max_time = max_time
        self._interrupted = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._decoders = {name: codecs.getincrementaldecoder("utf-8")("replace")
                          for name in ("stdout", "stderr")}
        self.result = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"vkckpt-ssh-reader {connection.address}")

    def start(self):
        self._thread.start()
        return self.result

    def interrupt(self):
        """Stop the command; safe from any thread, returns at once."""
        self._interrupted.set()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def _run(self):
        try:
            self.result.set_result(self._read())
        except BaseException as e:      # noqa: B902 - handed to the caller
            self.result.set_exception(e)
        finally:
            self._channel.close()
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _emit(self, name, data, final=False):
        text = self._decoders[name].decode(data, final)
        if text:
            getattr(self._sink, name)(text)

    def _read(self):
        channel = self._channel
        started = last_output = time.monotonic()
        watched = [channel.fileno(), self._wake_r]
        while True:
            readable = select.select(watched, [], [], TICK)[0]
            if self._wake_r in readable:
                os.read(self._wake_r, 64)
            if self._interrupted.is_set():
                raise CommandInterrupted("interrupted; the remote command was stopped")
            got = False
            while channel.recv_stderr_ready():
                self._emit("stderr", channel.recv_stderr(CHUNK))
                got = True
            if channel.recv_ready():
                self._emit("stdout", channel.recv(CHUNK))
                got = True
            now = time.monotonic()
            if got:
                last_output = now
            elif channel.eof_received or channel.closed:
                break
            else:
                self._sink.idle()
            self._check(now, started, last_output)
        self._emit("stdout", b"", final=True)
        self._emit("stderr", b"", final=True)
        return self._exit_status(started)

    def _check(self, now, started, last_output):
        reason = self._connection.lost_reason()
        if reason:
            self._connection.declare_lost(reason)
            raise HostLost(reason)
        if self._max_time is not None and now - started > self._max_time:
            raise TransportTimeout(f"command ran longer than max_time={self._max_time} s; "
                                   f"stopped")
        if self._timeout is not None and now - last_output > self._timeout:
            raise TransportTimeout(f"no output for timeout={self._timeout} s; stopped")

    def _exit_status(self, started):
        """After EOF the exit status follows; wait for it as carefully as for output."""
        channel = self._channel
        while not channel.status_event.wait(TICK):
            if self._interrupted.is_set():
                raise CommandInterrupted("interrupted; the remote command was stopped")
            now = time.monotonic()
            self._check(now, started, now)
        status = channel.exit_status
        if status == -1:
            reason = self._connection.lost_reason() or (
                f"{self._connection.address} closed the command's channel without an exit "
                f"status")
            if self._connection.lost_reason():
                self._connection.declare_lost(reason)
                raise HostLost(reason)
            raise TransportError(reason)
        return status
