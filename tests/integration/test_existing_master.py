"""The plugin added to a master that already has its own builders and schedulers."""
import pytest

from buildbot_vkckpt.demo.localbb import LocalBuildbot
from buildbot_vkckpt.simhost import tree
from buildbot_vkckpt.simhost.host import SimHost

from .pipeline import SHORT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

EXISTING = """
# what the master already had: a docs builder, its schedulers and a reporter service
docs = util.BuildFactory([steps.ShellCommand(name='make-docs', command=['echo', 'docs built'])])
c['builders'].append(util.BuilderConfig(name='docs', workernames=[c['workers'][0].name],
                                        factory=docs))
c['schedulers'].append(schedulers.SingleBranchScheduler(
    name='docs-push', builderNames=['docs'], change_filter=util.ChangeFilter(branch='main')))
c['schedulers'].append(schedulers.ForceScheduler(name='force', builderNames=['docs']))
c['services'] = []
"""


def test_unrelated_builders_and_ours_both_work(tmp_path):
    host = SimHost(tmp_path / "host")
    host.create()
    tree.create_source_tree(host)
    # poll=False protects the change hook with a password from the master's secrets
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "vkckpt_change_hook").write_text("hook-pw\n")
    (secrets / "vkckpt_change_hook").chmod(0o600)
    body = EXISTING + (
        "from buildbot.plugins import secrets\n"
        f"c['secretsProviders'] = [secrets.SecretInAFile(dirname={str(secrets)!r})]\n"
        "from buildbot_vkckpt.config import add_to_config\n"
        f"add_to_config(c, workers=[c['workers'][0].name], repourl={f'file://{host.src}'!r},\n"
        f"              poll=False, objdir={str(host.obj)!r}, jobs=2,\n"
        "              timeouts={'boot': 20, 'command': 30},\n"
        f"              guest_tests={SHORT['guest_tests']!r}, cycles={SHORT['cycles']})\n")
    bb = LocalBuildbot(tmp_path / "bb", worker_env=host.env())
    try:
        bb.create(body)
        assert "Config file is good!" in bb.checkconfig().stdout
        bb.start()
        names = {b["name"] for b in bb.get("builders")["builders"]}
        assert {"docs", "vkckpt-master"} <= names
        scheds = {s["name"] for s in bb.get("schedulers")["schedulers"]}
        assert {"docs-push", "force", "vkckpt-push-master", "vkckpt-force"} <= scheds

        docs = bb.wait_build(bb.force("docs", scheduler="force"), timeout=60)
        assert docs["results"] == 0
        ours = bb.wait_build(bb.force("vkckpt-master", scheduler="vkckpt-force"), timeout=120)
        steps = {s["name"]: s for s in bb.steps(ours["buildid"])}
        assert ours["results"] == 0, steps
        assert steps["plan"]["state_string"] == "plan: world + kernel + image + tests"
        assert steps["boot"]["results"] == 0
    finally:
        assert bb.stop() == []
