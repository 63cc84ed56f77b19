"""Running host tools with their output kept (agent/hostcmd.py)."""
import io
import os

import pytest

from buildbot_vkckpt.agent import hostcmd
from buildbot_vkckpt.agent.events import Emitter, Outcome


def emitter():
    out = io.StringIO()
    return Emitter(stream=out), out


def test_run_returns_the_output_and_says_what_ran():
    em, out = emitter()
    assert hostcmd.run(["sh", "-c", "echo one; echo two >&2"], emitter=em) == "one\ntwo\n"
    assert out.getvalue().splitlines() == ["vkckpt: $ sh -c echo one; echo two >&2",
                                           "vkckpt:   one", "vkckpt:   two"]


def test_a_failing_tool_keeps_its_last_line_and_a_missing_one_is_infrastructure():
    with pytest.raises(hostcmd.CommandFailed) as caught:
        hostcmd.run(["sh", "-c", "echo first; echo 'vnconfig: VNIOCATTACH: busy'; echo; "
                                 "exit 3"])
    assert caught.value.returncode == 3
    assert caught.value.last_line() == "vnconfig: VNIOCATTACH: busy"
    assert hostcmd.CommandFailed(["x"], 1, "").last_line() == "(no output)"
    assert hostcmd.run(["sh", "-c", "exit 1"], check=False) == ""
    for call in (lambda: hostcmd.run(["no-such-tool-vkckpt"]),
                 lambda: hostcmd.stream(["no-such-tool-vkckpt"], emitter()[0])):
        with pytest.raises(Outcome) as missing:
            call()
        assert missing.value.kind.value == "infrastructure"
        assert missing.value.summary == "host tool no-such-tool-vkckpt not found"


def test_stream_prints_as_it_goes_and_keeps_the_last_20_lines():
    em, out = emitter()
    rc, tail = hostcmd.stream(["sh", "-c", "i=0; while [ $i -lt 30 ]; do echo line $i; "
                                           "i=$((i+1)); done; exit 2"], em)
    assert rc == 2 and tail == [f"line {i}" for i in range(10, 30)]
    assert out.getvalue().splitlines()[1:] == [f"line {i}" for i in range(30)]   # every line


def test_sysctl_never_takes_an_error_message_for_a_value(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "sysctl").write_text(
        '#!/bin/sh\ncase "$2" in\n'
        '  kern.ckptfile) echo "%N.ckpt" ;;\n'
        '  kern.gone) echo "sysctl: unknown oid \'kern.gone\'" ; exit 0 ;;\n'
        '  *) echo "sysctl: $2: No such file or directory" >&2; exit 1 ;;\nesac\n')
    (bindir / "sysctl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    assert hostcmd.sysctl("kern.ckptfile") == "%N.ckpt"
    assert hostcmd.sysctl("kern.gone") is None and hostcmd.sysctl("vm.nothing") is None
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert hostcmd.sysctl("kern.ckptfile") is None            # no sysctl at all
