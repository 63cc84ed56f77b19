"""The guest shell protocol (agent/guest.py): login, exec /bin/sh, a prompt of our own, and
each command wrapped with a sentinel carrying its exit status."""
import pytest

from buildbot_vkckpt.agent import guest


def test_guest_login_sequence_and_sentinel():
    g = guest.GuestShell(token="abcd")
    assert g.on_event("login_prompt") == b"root\r"
    assert g.on_event("shell_prompt") == b"exec /bin/sh\r"
    ps1 = g.on_event("shell_prompt").decode()
    assert ps1 == "PS1='[vk''ckpt-abcd]# '\r" and g.prompt not in ps1
    check = g.on_event("shell_prompt").decode()
    assert check == "echo VKS-abcd-1:$?:\r"
    assert g.on_line("[vkckpt-abcd]# echo VKS-abcd-1:$?:") is None and g.status is None
    g.on_line("VKS-abcd-1:0:")
    g.on_event("shell_prompt")
    assert g.ready
    g.command("ls /")
    assert g.on_line("[vkckpt-abcd]# ls /; echo VKS-abcd-2:$?:") is None
    assert g.on_line("bin") == "bin"
    assert g.on_line("kernel message interleaved") is not None
    g.on_line("etcVKS-abcd-2:3:")
    g.on_event("shell_prompt")
    assert g.ready and g.status == 3 and g.output == ["bin", "kernel message interleaved", "etc"]


def ready(g):
    g.on_event("shell_prompt"), g.on_event("shell_prompt"), g.on_event("shell_prompt")
    g.on_line(f"VKS-{g.token}-{g.serial}:0:")
    g.on_event("shell_prompt")
    assert g.ready
    return g


def test_a_command_is_one_line_and_only_when_ready():
    g = guest.GuestShell(token="t")
    with pytest.raises(RuntimeError, match=r"not ready \(booting\)"):
        g.command("true")
    ready(g)
    for bad in ("a\nb", "a\rb"):
        with pytest.raises(ValueError):
            g.command(bad)
    assert g.ready                                    # a refused command changes nothing


def test_interrupt_then_a_fresh_sentinel_before_ready_again():
    g = ready(guest.GuestShell(token="t"))
    g.command("sleep 30")
    assert g.interrupt() == b"\x03" and g.state == guest.INTERRUPTED
    assert g.on_line("VKS-t-2:130:") is None          # the old sentinel no longer counts
    check = g.on_event("shell_prompt")
    assert check == b"echo VKS-t-3:$?:\r" and g.state == guest.CHECK_SENT
    g.on_line("VKS-t-3:0:")
    g.on_event("shell_prompt")
    assert g.ready and g.status == 0


def test_a_reboot_starts_the_login_again():
    g = ready(guest.GuestShell(token="t", user="admin"))
    g.on_event("rebooting")
    assert g.state == guest.BOOTING
    assert g.on_event("login_prompt") == b"admin\r" and g.logins == 1
    assert g.on_event("login_prompt") == b"admin\r" and g.logins == 2   # Login incorrect
    assert g.on_event("shell_prompt") == b"exec /bin/sh\r"
    assert g.on_event("login_prompt") == b""          # a login: inside the shell is output
