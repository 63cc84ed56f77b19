"""``exec -- CMD`` (agent/execcmd.py): the guest command line, and a later command after a
crash told why the vkernel is down instead of "no supervisor answers"."""
import pytest

from buildbot_vkckpt.agent import execcmd
from buildbot_vkckpt.agent.events import Outcome
from buildbot_vkckpt.agent.session import Session


def test_one_word_is_a_shell_line_several_are_quoted():
    assert execcmd.command_line(["--", "uname -a; echo hi"]) == "uname -a; echo hi"
    assert execcmd.command_line(["sh", "-c", "exit 7"]) == "sh -c 'exit 7'"
    assert execcmd.command_line(["--", "echo", "$(rm -rf /)", "a'b"]) == \
        "echo '$(rm -rf /)' 'a'\"'\"'b'"
    with pytest.raises(Outcome) as caught:
        execcmd.command_line(["--"])
    assert caught.value.summary == "no guest command given"


def test_after_a_crash_the_next_command_is_told_why(tmp_path):
    session = Session(tmp_path)
    assert execcmd.vkernel_gone(session) is None                 # never booted: no verdict
    session.write_state({"alive": False, "crash": {"what": "panic: vm_fault"}})
    gone = execcmd.vkernel_gone(session)
    assert (gone["kind"], gone["summary"]) == ("kernel",
                                               "the vkernel is down: kernel: panic: vm_fault")
    session.write_state({"alive": False, "failure": "boot failed: mountroot prompt"})
    assert execcmd.vkernel_gone(session)["summary"] == (
        "the vkernel is down: boot failed: mountroot prompt")
    session.write_state({"alive": True, "crash": {"what": "panic: x"}})
    assert execcmd.vkernel_gone(session) is None
