"""preflight's optional host checks (agent/hostchecks.py): what ``-I`` needs on the host, and
whether the host kernel can dump a vkernel, on simulated hosts (their ifconfig, their sleep)."""
import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from buildbot_vkckpt.agent import hostchecks, hostckpt
from buildbot_vkckpt.simhost.host import SimHost


class Rep:
    """What preflight's report is told, in order."""

    def __init__(self):
        self.said = []

    def ok(self, check, text):
        self.said.append(("ok", check, text, None))

    def problem(self, check, text, fix):
        self.said.append(("problem", check, text, fix))

    def warning(self, check, text, fix):
        self.said.append(("warning", check, text, fix))


@pytest.fixture
def host(tmp_path, monkeypatch):
    """``host(kernel)``: a fresh simulated host with that host kernel, whose tools (and state
    dir) this process uses from then on."""
    def make(kernel="stock"):
        h = SimHost(tmp_path / f"host-{kernel}").create(host_kernel=kernel)
        for name, value in h.env().items():
            monkeypatch.setenv(name, value)
        return h
    return make


def net(net):
    rep = Rep()
    hostchecks.check_net(rep, net)
    (said,) = rep.said
    return said


def test_parse_net():
    assert hostchecks.parse_net("auto:bridge0") == ("auto", "bridge0")
    assert hostchecks.parse_net("tap3:10.0.0.1:10.0.0.2/24") == ("tap3", "10.0.0.1")
    assert hostchecks.parse_net("/var/run/vknet") == ("/var/run/vknet", "")


def test_a_tap_and_a_bridge_must_exist_first(host):
    h = host()
    kind, _, text, fix = net("auto:bridge0")
    assert (kind, text) == ("problem", "no bridge0 to add the vkernel's tap to")
    assert fix == "kldload if_bridge; ifconfig bridge0 create up"
    kind, _, text, fix = net("tap9")
    assert (kind, text, fix) == ("problem", "no tap interface tap9",
                                 "kldload if_tap; ifconfig tap9 create")
    with h.update_state() as st:
        st.setdefault("bridges", {})["bridge0"] = {"members": [], "up": True}
        st["taps"]["tap9"] = "the admin's"
    assert net("auto:bridge0") == ("ok", "network", "-I auto:bridge0: a tap is cloned at boot "
                                   "on bridge0", None)
    assert net("/dev/tap9:bridge0")[:3] == ("ok", "network",
                                            "-I /dev/tap9:bridge0: tap /dev/tap9 on bridge0")


@pytest.fixture
def outside_dev():
    """A directory outside /dev (the test's tmp_path may be on /dev/shm: scripts/test-basetemp)."""
    path = tempfile.mkdtemp(prefix="vkckpt-vknet-", dir="/tmp")
    yield Path(path)
    shutil.rmtree(path)


def test_a_vknetd_socket_works_but_does_not_survive_a_restore(outside_dev):
    path = outside_dev / "vknet"
    kind, _, text, fix = net(str(path))
    assert (kind, text) == ("problem", f"no vknetd socket at {path}")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    try:
        kind, _, text, fix = net(str(path))
    finally:
        sock.close()
    assert kind == "warning" and "a restored vkernel loses this link" in text
    assert fix == hostchecks.VKNETD_FIX


def test_no_ifconfig_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert net("auto:bridge0")[2] == "no ifconfig on PATH"


@pytest.mark.parametrize("kernel, kind", [("gsoc", "ok"), ("stock", "problem")])
def test_host_checkpoint_asks_a_helper_and_leaves_nothing(host, tmp_path, kernel, kind):
    host(kernel)
    work = tmp_path / "work"
    work.mkdir()
    rep = Rep()
    hostchecks.check_host_checkpoint(rep, str(work))
    ((got, check, text, fix),) = rep.said
    assert (got, check) == (kind, "host-checkpoint")
    if kind == "problem":
        assert text.startswith(hostckpt.NO_SUPPORT + ": ") and fix == hostckpt.NO_SUPPORT_FIX
    assert os.listdir(work) == []


def test_a_socket_under_dev_is_a_vknetd_link_not_a_tap():
    # the vkernel falls back to connecting when the path it opened is a socket (§2), wherever
    # it lives: /dev/shm is a directory under /dev on Linux
    path = f"/dev/shm/vkckpt-test-vknet-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(path)
    try:
        kind, _, text, _ = net(path)
    finally:
        sock.close()
        os.unlink(path)
    assert kind == "warning" and text.startswith(f"vknetd socket {path}:"), text
