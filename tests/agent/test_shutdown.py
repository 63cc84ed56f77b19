"""shutdown without a running supervisor (agent/shutdown.py): idempotent, releases what the
ledger holds, and names what it could not release. With a booted guest: test_simhost_session.py
and test_shutdown_workload.py."""
import io
import types

import pytest

from buildbot_vkckpt.agent import shutdown
from buildbot_vkckpt.agent.events import Emitter, Outcome
from buildbot_vkckpt.agent.ledger import Ledger


def run(session):
    return shutdown.run(types.SimpleNamespace(session=str(session), timeout=5),
                        Emitter(stream=io.StringIO()))


def test_no_session_dir_is_nothing_to_do(tmp_path):
    assert run(tmp_path / "never")["summary"] == "nothing to shut down (no session dir)"


def test_a_crashed_sessions_ledger_is_released_and_its_results_disk_kept(tmp_path,
                                                                        private_registry):
    led = Ledger(tmp_path)
    led.update(led.allocate("supervisor"), pid=999_999_999)        # long gone
    (tmp_path / "memimg").write_bytes(b"m")
    (tmp_path / "results.img").write_bytes(b"r")
    led.allocate("file", path=str(tmp_path / "memimg"))
    led.allocate("file", path=str(tmp_path / "results.img"), keep=True)
    res = run(tmp_path)
    assert res["status"] == "ok"
    assert res["summary"] == "no supervisor was running · released 3 resource(s)"
    assert not (tmp_path / "memimg").exists() and (tmp_path / "results.img").exists()
    assert Ledger(tmp_path).outstanding() == []
    assert run(tmp_path)["summary"] == "no supervisor was running"     # idempotent


def test_what_cannot_be_released_is_named_with_the_fix(tmp_path, private_registry):
    (tmp_path / "in-the-way").mkdir()
    led = Ledger(tmp_path)
    entry = led.allocate("file", path=str(tmp_path / "in-the-way"))
    with pytest.raises(Outcome) as caught:
        run(tmp_path)
    res = caught.value
    assert res.kind.value == "infrastructure" and "cleanup --stale" in res.fix
    assert res.summary.startswith(f"no supervisor was running; could not release 1 "
                                  f"resource(s): file #{entry}: ")
    assert [e["id"] for e in Ledger(tmp_path).outstanding()] == [entry]
