"""The few lines that run on the test host around every command (standard library only).

sshd does not signal a command whose channel closes unless it has a pty, so a closed channel
(build stopped, timeout, master gone) would leave the command running. This wrapper runs argv in
its own process group with stdin from /dev/null and watches the channel's stdin: at EOF it sends
SIGHUP to the group, then SIGKILL after a grace period. stdout and stderr are inherited, so the
output never passes through it. argv travels base64-encoded as JSON, so no remote shell (sh or
root's csh on DragonFly) ever parses change data; the whole command line is in [A-Za-z0-9+/=].
"""
import base64
import json
import os
import shlex
import select
import signal
import sys

GRACE_SECONDS = 5


def _status(wait_status):
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.WEXITSTATUS(wait_status)


def _start(argv):
    pid = os.fork()
    if pid:
        return pid
    try:
        os.setpgid(0, 0)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.execvp(argv[0], argv)
    except OSError as e:
        os.write(2, f"vkckpt: cannot run {argv[0]}: {e.strerror}\n".encode())
        os._exit(127 if isinstance(e, FileNotFoundError) else 126)
    os._exit(126)


def main(encoded):
    argv = json.loads(base64.b64decode(encoded).decode("utf-8"))
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    pid = _start(argv)
    watched = [0, wake_r]
    deadline = None
    while True:
        done, wait_status = os.waitpid(pid, os.WNOHANG)
        if done:
            sys.exit(_status(wait_status))
        wait = None if deadline is None else max(0.0, deadline - _now())
        readable = select.select(watched, [], [], wait)[0]
        if wake_r in readable:
            os.read(wake_r, 512)
        if 0 in readable and not os.read(0, 65536):
            # The channel closed: stop the whole group, then insist.
            watched.remove(0)
            _signal_group(pid, signal.SIGHUP)
            deadline = _now() + GRACE_SECONDS
        if deadline is not None and _now() >= deadline:
            _signal_group(pid, signal.SIGKILL)
            deadline = None


def _signal_group(pid, sig):
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def _now():
    return os.times().elapsed


def command_line(python, argv):
    """The remote command line that runs ``argv`` through this wrapper with ``python``."""
    payload = base64.b64encode(json.dumps([str(a) for a in argv]).encode("utf-8")).decode()
    program = base64.b64encode(_SOURCE.encode("utf-8")).decode()
    bootstrap = f'import base64;exec(base64.b64decode("{program}"))'
    return " ".join([shlex.quote(python), "-c", shlex.quote(bootstrap), shlex.quote(payload)])


def _source():
    with open(__file__, encoding="utf-8") as f:
        text = f.read()
    # Ship the code between the docstring and command_line(), plus the call to main().
    head = "import" + text.split("\nimport", 1)[1].split("\ndef command_line(", 1)[0]
    return head + "\nmain(sys.argv[1])\n"


_SOURCE = _source()
