"""The post-receive hook of demo/push.py against a stand-in ``buildbot``: nothing a push
holds is dropped, and a change that cannot be sent is loud, recorded and fails the hook."""
import ast
import os
import subprocess
import sys

import pytest

from buildbot_vkckpt.demo.push import write_hook
from buildbot_vkckpt.simhost import tree

# records its argv (as bytes, one per line) and answers like buildbot sendchange would
FAKE_BUILDBOT = """#!{python}
import os, sys
with open({log!r}, "ab") as fh:
    fh.write(repr([os.fsencode(a) for a in sys.argv[1:]]).encode() + b"\\n")
if os.path.exists({fail!r}):
    print("change not sent:")
    print("Failure: twisted.internet.error.ConnectionRefusedError: Connection was refused")
    sys.exit(1)
for arg in sys.argv[1:]:
    arg.encode("utf-8")  # what sendchange does with every value: surrogates raise here
print("change sent successfully")
"""


@pytest.fixture
def repo(tmp_path, monkeypatch):
    fake = tmp_path / "buildbot"
    log, fail = tmp_path / "sendchange.log", tmp_path / "fail"
    fake.write_text(FAKE_BUILDBOT.format(python=sys.executable, log=str(log), fail=str(fail)))
    fake.chmod(0o755)
    src = tmp_path / "src"
    src.mkdir()
    tree.git(src, "init", "-q", "-b", "master")
    tree.commit_change(src, {"README": "dfly\n"}, "initial")
    bare = tmp_path / "dfly.git"
    tree.git(tmp_path, "clone", "-q", "--bare", str(src), str(bare))
    monkeypatch.setattr("buildbot_vkckpt.demo.push._bin", lambda name: str(fake))
    write_hook(bare, "127.0.0.1:1", f"file://{bare}")
    tree.git(src, "remote", "add", "origin", str(bare))
    return src, bare, log, fail


def push(src):
    return subprocess.run(["git", "push", "-q", "origin", "HEAD:refs/heads/master"],
                          cwd=str(src), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def sent(log):
    return [ast.literal_eval(line.decode()) for line in log.read_bytes().splitlines()]


def test_non_utf8_paths_and_message_are_sent_escaped(repo):
    src, bare, log, _ = repo
    revision = tree.commit_change(src, {"bin/ls/\udcff.c": "int a;\n"}, "ls: caf\udce9")
    done = push(src)
    assert b"change sent successfully" in done.stdout, done.stdout
    argv, = sent(log)
    assert argv[-1] == b"bin/ls/\\xff.c"          # still classified as userland
    # git may re-encode the message itself; either way it arrives, and as UTF-8
    assert any(a.startswith(b"--comments=ls: caf") for a in argv), argv
    assert all(a.decode("utf-8") for a in argv)
    assert b"--revision=" + revision.encode() in argv
    assert not (bare / "vkckpt-unsent-changes").exists()


def test_a_change_that_cannot_be_sent_is_loud_and_recorded(repo):
    src, bare, log, fail = repo
    fail.touch()
    revision = tree.commit_change(src, {"bin/ls/ls.c": "int b;\n"}, "ls: tidy")
    done = push(src)
    out = done.stdout.decode()
    assert f"CHANGE NOT SENT: master {revision}" in out, out
    assert "Connection was refused" in out
    record = (bare / "vkckpt-unsent-changes").read_text()
    assert f" master {revision} Failure: twisted.internet.error.ConnectionRefusedError" \
        in record


def test_the_hook_exits_1_when_a_change_is_not_sent(repo):
    src, bare, log, fail = repo
    fail.touch()
    new = tree.commit_change(src, {"bin/ls/ls.c": "int c;\n"}, "ls: more")
    old = tree.git(src, "rev-parse", "HEAD~1")
    tree.git(src, "push", "-q", "--no-verify", str(bare), f"{new}:refs/heads/side")
    hook = subprocess.run([str(bare / "hooks" / "post-receive")], cwd=str(bare),
                          input=f"{old} {new} refs/heads/master\n".encode(),
                          env=dict(os.environ, GIT_DIR=str(bare)),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert hook.returncode == 1
    assert b"CHANGE NOT SENT" in hook.stderr
