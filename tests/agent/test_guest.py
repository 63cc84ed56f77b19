"""The guest shell protocol (agent/guest.py): login, exec /bin/sh, a prompt of our own, and
each command wrapped with a sentinel carrying its exit status."""
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
