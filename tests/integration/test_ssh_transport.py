"""The vkernel steps over SSH on a real master and worker, through a real sshd in front of the
simulated host: a clean run, a host lost during boot, the host coming back (the next build's
cleanup-stale releases what the lost session left), a refused key; the key and its passphrase
appear nowhere in the REST API's view of the build or in the master's log."""
import io
import re

import pytest

from buildbot_vkckpt.agent.ledger import Ledger
from buildbot_vkckpt.demo import sshd as sshd_module
from buildbot_vkckpt.demo.runner import BUILDER, DemoRun
from buildbot_vkckpt.demo.scenarios import SCENARIOS

from .pipeline import SHORT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

VKERNEL_STEPS = ("cleanup-stale", "preflight", "root-image", "boot", "guest-command",
                 "guest-suite", "checkpoint-cycle", "shutdown", "collect")


def secrets_of(demo):
    """The passphrase, the whole key text, and each base64 line of the key body."""
    key = demo.sshd.client_key
    body = [line for line in key.splitlines() if len(line) >= 16 and "PRIVATE KEY" not in line]
    assert body and demo.passphrase
    return [demo.passphrase, key.strip()] + body


def rest_view(demo, build):
    """Everything the REST API says about the build: itself, its steps, every log's full
    text, its properties."""
    parts = [repr(demo.bb.get(f"builds/{build['buildid']}")),
             repr(demo.bb.get(f"builds/{build['buildid']}/properties"))]
    for step in demo.bb.steps(build["buildid"]):
        parts.append(repr(step))
        for log in demo.bb.logs(step["stepid"]):
            parts.append(repr(log))
            parts.append(demo.bb.log_text(log["logid"]))
    return "\n".join(parts)


def assert_no_secrets(demo, build):
    seen = rest_view(demo, build)
    master_log = (demo.bb.master_dir / "twistd.log").read_text(errors="replace")
    for secret in secrets_of(demo):
        assert secret not in seen, f"secret in the REST view: {secret[:8]}..."
        assert secret not in master_log, f"secret in twistd.log: {secret[:8]}..."
    return seen


def test_vkernel_steps_run_over_ssh(tmp_path):
    out = io.StringIO()
    demo = DemoRun(tmp_path / "ok", SCENARIOS["ok"], out=out, live=False, transport="ssh",
                   factory_params=SHORT)
    try:
        assert demo.execute(timeout=180), out.getvalue()
        build = demo.bb.builds(BUILDER)[-1]
        steps = {s["name"]: s for s in demo.bb.steps(build["buildid"])}
        for name in VKERNEL_STEPS:
            assert steps[name]["results"] == 0, steps[name]
            logs = {lg["name"]: lg for lg in demo.bb.logs(steps[name]["stepid"])}
            stdio = demo.bb.log_text(logs["stdio"]["logid"])
            # the header names the SSH host, not the worker
            assert f"ssh {demo.sshd.user}@127.0.0.1:{demo.sshd.port}" in stdio, (name, stdio)
        # builds stay on the worker: their logs have no SSH header
        logs = {lg["name"]: lg for lg in demo.bb.logs(steps["buildworld"]["stepid"])}
        assert "ssh " not in demo.bb.log_text(logs["stdio"]["logid"]).splitlines()[0]
        # the session lived under the transport's workdir; collect fetched it over SFTP
        session = tmp_path / "ok" / "sshhost" / "vkckpt" / "vkckpt-sessions" / "build-1"
        assert (session / "collect" / "console.log").exists()
        assert "uploaded console.log" in steps["collect"]["state_string"]
        props = demo.bb.properties(build["buildid"])
        assert props["vkckpt_session"] == str(session)
        assert (tmp_path / "ok" / "bb" / "master" / "artifacts" / BUILDER / "1" /
                "console.log").read_text()
        # one connection served every vkernel step
        assert demo.sshd.log().count("Accepted publickey") == 1
        assert_no_secrets(demo, build)
    finally:
        assert demo.stop() == []
    assert demo.leaks() == []


@pytest.fixture(scope="module")
def lost(tmp_path_factory):
    """The host-lost scenario's build on its own master and sshd: the host crashes during
    boot and the demo reboots it afterwards. The next test builds again on it."""
    base = tmp_path_factory.mktemp("lost")
    out = io.StringIO()
    demo = DemoRun(base, SCENARIOS["host-lost"], out=out, live=False, factory_params=SHORT)
    try:
        assert demo.execute(timeout=180), out.getvalue()
        yield demo, demo.bb.builds(BUILDER)[-1], base
    finally:
        assert demo.stop() == []
    assert demo.leaks() == []


def test_host_lost_during_boot(lost):
    demo, build, _base = lost
    assert build["results"] == 2
    steps = {s["name"]: s for s in demo.bb.steps(build["buildid"])}
    boot = steps["boot"]
    assert boot["results"] == 2 and boot["state_string"].startswith("host lost:"), boot
    assert "last console lines:" in boot["state_string"]
    logs = {lg["name"]: lg for lg in demo.bb.logs(boot["stepid"])}
    tail = demo.bb.log_text(logs["last-console-lines"]["logid"])
    assert "vkd0" in tail, tail
    assert "guest-command" not in steps or steps["guest-command"]["results"] == 3
    for name in ("shutdown", "collect"):
        step = steps[name]
        # the vkernel had started: the lost host is "host lost" (docs/ssh-transport.rst)
        assert step["state_string"].startswith("host lost:"), step
        assert "Connection refused" in step["state_string"]
        # they did not wait out a timeout
        assert step["complete_at"] - step["started_at"] < 5, step
    assert_no_secrets(demo, build)


def outstanding(session):
    """What the session's ledger still holds: ``["vn vn0", "mount /...", ...]``."""
    entries = Ledger(session).outstanding()
    return [f"{e['kind']} {e.get('unit') or e.get('path') or e.get('pid') or ''}".strip()
            for e in entries]


def test_host_comes_back_and_cleanup_stale_releases_the_lost_session(lost):
    demo, first, base = lost
    sessions = base / "sshhost" / "vkckpt" / "vkckpt-sessions"
    crashed = sessions / "build-1"
    # build 1: the host crashed during boot; the demo rebooted it afterwards
    assert first["results"] == 2
    assert not demo.leaks()     # the reboot released the kernel state ...
    left = outstanding(crashed)
    # ... but the lost session's ledger still lists what it held
    kinds = {item.split()[0] for item in left}
    # (the image's vn unit and mount were released when root-image finished)
    assert {"supervisor", "vkernel", "file"} <= kinds, left
    assert demo.sshd.process is not None        # sshd answers again

    # build 2 on the healthy host: its cleanup-stale releases build 1's leftovers
    demo.host.set_faults({})
    build = demo.bb.wait_build(demo.bb.force(BUILDER, reason="after the reboot"),
                               timeout=180)
    steps = {s["name"]: s for s in demo.bb.steps(build["buildid"])}
    cleanup = steps["cleanup-stale"]
    assert cleanup["results"] == 0, cleanup
    summary = cleanup["state_string"]
    assert re.search(rf"released {len(left)} stale resource\(s\) from 1 session\(s\)",
                     summary), (summary, left)
    stdio = demo.bb.log_text(
        {lg["name"]: lg for lg in demo.bb.logs(cleanup["stepid"])}["stdio"]["logid"])
    # the log names each released resource and the session they came from
    for item in left:
        kind = item.split()[0]
        assert re.search(rf"released {kind}\b", stdio), (item, stdio)
    assert str(crashed) in stdio, stdio
    assert outstanding(crashed) == []
    released_by = [r for r in Ledger(crashed).records() if r.get("op") == "release"]
    assert {r.get("by") for r in released_by} == {"agent"}
    assert build["results"] == 0, [(s["name"], s["state_string"]) for s in steps.values()]
    # the new session shut down cleanly: nothing for the next build to release
    assert outstanding(sessions / "build-2") == []
    assert_no_secrets(demo, build)


def test_refused_key_is_an_infrastructure_exception(tmp_path):
    out = io.StringIO()
    demo = DemoRun(tmp_path / "key", SCENARIOS["ok"], out=out, live=False, transport="ssh",
                   factory_params=SHORT)
    try:
        demo.prepare()
        # the host no longer authorizes the master's key
        _, other = sshd_module.keygen(tmp_path / "other_ed25519")
        with open(demo.sshd.authorized_keys, "w") as f:
            f.write(other + "\n")
        build = demo.bb.wait_build(demo.bb.force(BUILDER), timeout=120)
        steps = {s["name"]: s for s in demo.bb.steps(build["buildid"])}
        first = steps["cleanup-stale"]
        assert first["results"] == 4, first
        assert first["state_string"].startswith("infrastructure:"), first
        assert "refused the ssh key" in first["state_string"]
        assert "authorized_keys" in first["state_string"]
        assert "buildworld" not in steps or steps["buildworld"]["results"] == 3
        assert build["results"] == 4
        assert_no_secrets(demo, build)
    finally:
        assert demo.stop() == []


def test_missing_sshd_fails_loudly(tmp_path, monkeypatch):
    monkeypatch.setattr(sshd_module.shutil, "which", lambda *a, **k: None)
    demo = DemoRun(tmp_path / "nosshd", SCENARIOS["ok"], out=io.StringIO(), live=False,
                   transport="ssh")
    with pytest.raises(sshd_module.SSHDMissing, match=re.escape("apt-get install -y "
                                                                "openssh-server")):
        demo.prepare()
    assert demo.bb.started == []
