"""A real pipeline on the simulated host whose restored vkernel panics: the mail that reaches
the SMTP server on 127.0.0.1 leads with the failing step, the panic line and the first frames
the steps recorded as properties."""
import pytest

from buildbot_vkckpt.notify.mailbox import LocalMailbox

from ..simmaster import sim_master

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

BUILDER = "vkckpt-sim"


def test_a_restore_panic_is_mailed_with_its_panic_line_and_frames(tmp_path):
    with LocalMailbox() as smtp:
        extra = (f"from buildbot_vkckpt.notify import notifiers\n"
                 f"c['services'] = notifiers({{'mail': {{'to': ['kernel@example.org'], "
                 f"'fromaddr': 'bb@example.org', 'relayhost': '127.0.0.1', "
                 f"'port': {smtp.port}}}}}, [{BUILDER!r}])\n")
        with sim_master(tmp_path, BUILDER, """
f.addStep(VkernelCheckpointCycle(cycles=1, timeouts={"checkpoint": 30, "restore": 30}))
""", image_args='image_size="64m", ', boot_args='memory="128m", ', extra=extra) as bb:
            bb.host.set_faults({"restore-panics": ""})
            build = bb.wait_build(bb.force(BUILDER, reason="restore panics"), timeout=150)
            props = bb.properties(build["buildid"])
            failed = [s["name"] for s in bb.steps(build["buildid"]) if s["results"] == 2]
            mail, = smtp.wait(1)

    assert build["results"] == 2 and failed, build
    panic, frames = props["vkckpt_panic"], props["vkckpt_backtrace"].splitlines()
    assert panic.startswith("panic") and frames, props
    assert mail["subject"].startswith(f"[buildbot-vkckpt] {BUILDER} #{build['number']} red: "
                                      f"{failed[0]}: "), mail["subject"]
    lines = mail["body"].splitlines()
    assert lines[2] == f"step:     {failed[0]}"
    head = "\n".join(lines[:12])
    assert f"panic:    {panic}" in head and f"    {frames[0]}" in head, mail["body"]
    # kind, cause and fix are the agent's typed result event (its agent-events log), not the
    # step's summary
    assert lines[3] == "kind:     kernel" and lines[4].startswith("cause:    "), mail["body"]
    assert "summary:" not in head
