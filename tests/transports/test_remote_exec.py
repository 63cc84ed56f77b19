"""The host-side wrapper, run locally through /bin/sh exactly as sshd would run it."""
import subprocess
import time

import pytest

from buildbot_vkckpt.transports.remote_exec import command_line
from tests.transports.helpers import HOST_PYTHON, alive, read_pid, wait_for


def sh(argv):
    """Run like sshd does: stdin stays open (an EOF there means the channel closed)."""
    proc = subprocess.Popen(["sh", "-c", command_line(HOST_PYTHON, argv)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with proc.stdout, proc.stderr, proc.stdin:
        out, err = proc.stdout.read(), proc.stderr.read()
        status = proc.wait(20)
    return subprocess.CompletedProcess(argv, status, out, err)


def test_command_line_uses_only_shell_safe_characters():
    line = command_line("python3", ["sh", "-c", "$(reboot); `halt` 'x' \"y\" \\ \n !"])
    assert set(line) <= set("python3 -c'importbase64;exec(.b64decode\")") | set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


@pytest.mark.parametrize("argv,status", [(["true"], 0), (["sh", "-c", "exit 3"], 3),
                                         (["/nonexistent/tool"], 127),
                                         (["sh", "-c", "kill -KILL $$"], 137)])
def test_exit_status_is_passed_through(argv, status):
    assert sh(argv).returncode == status


def test_command_stdin_is_not_the_channel():
    # the command must not eat the channel's stdin (that is how the wrapper sees the close)
    line = command_line(HOST_PYTHON, ["sh", "-c", "cat; echo done"])
    proc = subprocess.Popen(["sh", "-c", line], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    proc.stdin.write("input for nobody\n")
    proc.stdin.flush()
    assert proc.stdout.read() == "done\n"
    assert proc.wait(10) == 0
    proc.stdin.close()
    proc.stdout.close()


def test_channel_close_stops_the_process_group(tmp_path):
    pidfile = tmp_path / "pid"
    proc = subprocess.Popen(["sh", "-c", command_line(
        HOST_PYTHON, ["sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait"])],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    pid = read_pid(str(pidfile))
    assert alive(pid)
    started = time.monotonic()
    proc.stdin.close()                          # what sshd does when the channel closes
    assert proc.wait(10) == 128 + 1             # the shell died of SIGHUP
    assert wait_for(lambda: not alive(pid), 5)
    assert time.monotonic() - started < 2


def test_a_command_ignoring_sighup_is_killed_after_the_grace_period(tmp_path, monkeypatch):
    from buildbot_vkckpt.transports import remote_exec
    monkeypatch.setattr(remote_exec, "_SOURCE",
                        remote_exec._SOURCE.replace("GRACE_SECONDS = 5", "GRACE_SECONDS = 0.3"))
    pidfile = tmp_path / "pid"
    proc = subprocess.Popen(["sh", "-c", remote_exec.command_line(
        HOST_PYTHON,
        ["sh", "-c", f"trap '' HUP; echo $$ > {pidfile}; while :; do sleep 0.05; done"])],
        stdin=subprocess.PIPE)
    pid = read_pid(str(pidfile))
    proc.stdin.close()
    assert proc.wait(10) == 128 + 9
    assert wait_for(lambda: not alive(pid), 5)
