"""Can the host kernel dump a vkernel? (agent/hostckpt.py) Asked of a helper ``sleep`` on
simulated hosts of each host kernel: the GSoC one writes NT_DRAGONFLY_FILES for the helper's
open file, a stock one does not. Nothing the probe made may stay behind."""
import os

import pytest

from buildbot_vkckpt.agent import hostckpt, procs
from buildbot_vkckpt.agent.ledger import Ledger
from buildbot_vkckpt.agent.session import Session
from buildbot_vkckpt.simhost.host import SimHost


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostckpt")
    return {kernel: SimHost(root / kernel).create(host_kernel=kernel)
            for kernel in ("gsoc", "stock")}


@pytest.fixture
def on_host(hosts, monkeypatch, tmp_path):
    """Run as an agent on that simulated host would (its PATH, its state dir)."""
    def use(kernel):
        host = hosts[kernel]
        for name, value in host.env().items():
            if os.environ.get(name) != value:
                monkeypatch.setenv(name, value)
        session = tmp_path / "session"
        session.mkdir(exist_ok=True)
        return host, Session(str(session))
    return use


def left_behind(session):
    return sorted(set(os.listdir(session.dir)) - {"ledger.jsonl", hostckpt.CACHE})


def test_a_gsoc_host_kernel_records_the_helpers_file(on_host):
    _, session = on_host("gsoc")
    answer = hostckpt.check(session, "%N.ckpt")
    assert answer == {"supported": True, "layout": "gsoc", "reason":
                      "a helper's checkpoint carries NT_DRAGONFLY_FILES (GSoC host kernel)"}
    assert left_behind(session) == [] and Ledger(session.dir).outstanding() == []
    helper = [e for e in Ledger(session.dir).entries().values() if e["kind"] == "process"]
    assert helper and not procs.alive(helper[0]["pid"])


def test_a_stock_host_kernel_is_no_support_and_an_absolute_ckptfile_is_cleaned(on_host,
                                                                               tmp_path):
    host, session = on_host("stock")
    elsewhere = tmp_path / "dumps"
    elsewhere.mkdir()
    template = f"{elsewhere}/%N.%P.ckpt"
    with host.update_state() as st:
        old = st["sysctl"].get("kern.ckptfile")
        st["sysctl"]["kern.ckptfile"] = template
    try:
        answer = hostckpt.check(session, template)
    finally:
        with host.update_state() as st:
            st["sysctl"]["kern.ckptfile"] = old
    assert answer["supported"] is False and answer["layout"] == "stock"
    assert "no NT_DRAGONFLY_FILES note (stock layout)" in answer["reason"]
    assert os.listdir(elsewhere) == [] and left_behind(session) == []
    assert Ledger(session.dir).outstanding() == []


def test_the_answer_is_asked_once_per_session_unless_it_could_not_be_told(on_host,
                                                                          monkeypatch):
    _, session = on_host("gsoc")
    asked = []

    def check(sess, template):
        asked.append(template)
        return {"supported": None if len(asked) == 1 else True, "reason": "r"}
    monkeypatch.setattr(hostckpt, "check", check)
    assert hostckpt.cached(session, "%N.ckpt")["supported"] is None     # not kept
    assert hostckpt.cached(session, "%N.ckpt")["supported"] is True
    assert hostckpt.cached(session, "%N.ckpt")["supported"] is True
    assert len(asked) == 2
    hostckpt.cached(session, "%N.ckpt", fresh=True)
    assert len(asked) == 3


def test_no_sleep_on_path_cannot_tell(on_host, monkeypatch, tmp_path):
    _, session = on_host("gsoc")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    answer = hostckpt.check(session, "%N.ckpt")
    assert answer["supported"] is None and "no sleep(1) on PATH" in answer["reason"]
