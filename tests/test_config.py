"""add_to_config: appends to an existing config without disturbing it; master.cfg.example."""
import subprocess
import sys
from pathlib import Path

import pytest
from buildbot import config as bb_config
from buildbot.changes.gitpoller import GitPoller
from buildbot.plugins import schedulers, steps, util
from buildbot.schedulers.basic import SingleBranchScheduler
from buildbot.schedulers.forcesched import ForceScheduler
from buildbot.schedulers.timed import Nightly

from buildbot_vkckpt import changes
from buildbot_vkckpt.config import add_to_config, builder_name
from buildbot_vkckpt.factory import HOST_LOCK, VkernelCheckpointFactory

ROOT = Path(__file__).resolve().parents[1]
BUILDBOT = str(Path(sys.executable).parent / "buildbot")
REPO = "https://gitweb.dragonflybsd.org/dragonfly.git"


def existing_config():
    other = util.BuildFactory([steps.ShellCommand(command=["true"])])
    return {
        "builders": [util.BuilderConfig(name="docs", workernames=["w1"], factory=other)],
        "schedulers": [schedulers.ForceScheduler(name="force", builderNames=["docs"])],
        "services": ["a reporter"],
        "www": {"port": 8010},
    }


def names(entries):
    return [e.name for e in entries]


def test_appends_and_keeps_what_the_master_has():
    c = existing_config()
    before = list(c["builders"]) + list(c["schedulers"])
    added = add_to_config(c, ["w1", "w2"], REPO, branches=["master", "DragonFly_RELEASE_6_4"],
                          nightly="03:15", objdir="/build/obj")
    assert c["builders"][0] is before[0] and c["schedulers"][0] is before[1]
    assert c["services"] == ["a reporter"]
    assert names(c["builders"]) == ["docs", "vkckpt-master", "vkckpt-DragonFly_RELEASE_6_4"]
    assert names(c["schedulers"]) == ["force", "vkckpt-push-master",
                                      "vkckpt-push-DragonFly_RELEASE_6_4", "vkckpt-force",
                                      "vkckpt-nightly"]
    assert added.builders == ["vkckpt-master", "vkckpt-DragonFly_RELEASE_6_4"]
    poller, = c["change_source"]
    assert isinstance(poller, GitPoller) and added.change_sources == ["vkckpt-poller"]


def test_builders_sharing_an_ssh_test_host_share_a_master_lock():
    from buildbot_vkckpt.transports import SSHTransport
    c = {}
    for prefix, worker in (("a", "w1"), ("b", "w2")):
        test_host = SSHTransport("dfly-test.example.org", key=util.Secret("vkckpt_key"),
                                 known_hosts="/kh")
        add_to_config(c, [worker], REPO, builder_prefix=prefix, poll=False, transport=test_host)
    ids = [[lock.lockid for lock in b.locks] for b in c["builders"]]
    assert ids[0][0] is HOST_LOCK and ids[1][0] is HOST_LOCK
    assert ids[0][1] is ids[1][1] and ids[0][1].name == "vkckpt-ssh-host-dfly-test.example.org:22"
    assert all(lock.mode == "exclusive" for b in c["builders"] for lock in b.locks)


def test_builders_have_the_host_lock_and_own_branch():
    c = {}
    add_to_config(c, ["w1"], REPO, branches=["master", "DragonFly_RELEASE_6_4"])
    for b, branch in zip(c["builders"], ["master", "DragonFly_RELEASE_6_4"]):
        assert [lock.lockid for lock in b.locks] == [HOST_LOCK]
        assert b.locks[0].mode == "exclusive"
        assert b.workernames == ["w1"]
        assert isinstance(b.factory, VkernelCheckpointFactory)
        checkout, = [s for s in b.factory.steps if s.kwargs.get("name") == "checkout"]
        assert checkout.kwargs["branch"] == branch


def test_schedulers_use_the_plan_and_tree_stable_timer():
    c = {}
    add_to_config(c, ["w1"], REPO, tree_stable_timer=2, nightly="03:00", project="dragonfly")
    push, force, nightly = c["schedulers"]
    assert isinstance(push, SingleBranchScheduler) and isinstance(force, ForceScheduler)
    assert isinstance(nightly, Nightly)
    kwargs = push._config_kwargs  # services keep their arguments until they start
    assert kwargs["treeStableTimer"] == 2
    important = kwargs["fileIsImportant"]

    class Change:
        def __init__(self, files):
            self.files = files
    assert important(Change(["sys/kern/kern_exec.c"])) is True
    assert important(Change(["bin/ls/ls.1"])) is False
    assert important(Change([])) is True  # no file list: everything
    assert changes.is_important(Change(["bin/ls/ls.1"])) is False


def test_poll_false_switches_on_the_base_hook_and_keeps_other_dialects():
    c = existing_config()
    c["www"]["change_hook_dialects"] = {"github": {"secret": "s"}}
    c["www"]["change_hook_auth"] = ["the master's own checker"]
    c["change_source"] = "a PBChangeSource"  # a single object, not a list
    add_to_config(c, ["w1"], REPO, poll=False)
    assert c["www"]["change_hook_dialects"] == {"github": {"secret": "s"}, "base": True}
    assert c["www"]["change_hook_auth"] == ["the master's own checker"]
    assert c["change_source"] == ["a PBChangeSource"]


def test_poll_false_protects_the_hook_with_a_secret_by_default():
    from buildbot_vkckpt.hookauth import HookAuthService, SecretPasswordChecker
    c = existing_config()
    c["secretsProviders"] = ["a provider"]
    add_to_config(c, ["w1"], REPO, poll=False)
    checker, = c["www"]["change_hook_auth"]
    assert isinstance(checker, SecretPasswordChecker)
    assert (checker.username, checker.secret_name) == ("vkckpt", "vkckpt_change_hook")
    assert c["services"][0] == "a reporter"
    assert isinstance(c["services"][1], HookAuthService)


@pytest.mark.parametrize("change, message", [
    (lambda c: None, "c['secretsProviders'] is empty"),
    (lambda c: c.update(secretsProviders=["p"], www={"change_hook_dialects": {"gitlab": {}}}),
     "would also apply to the gitlab hook(s) already configured"),
])
def test_an_open_hook_is_never_made_by_accident(change, message):
    c = existing_config()
    change(c)
    with pytest.raises(bb_config.ConfigErrors) as err:
        add_to_config(c, ["w1"], REPO, poll=False)
    assert any(message in e for e in err.value.errors), err.value.errors


def test_hook_secret_none_leaves_the_hook_open_on_purpose():
    c = existing_config()
    add_to_config(c, ["w1"], REPO, poll=False, hook_secret=None)
    assert c["www"]["change_hook_dialects"] == {"base": True}
    assert "change_hook_auth" not in c["www"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(branches="master"), "branches must be a non-empty list"),
    (dict(branches=["master", "master"]), "lists 'master' twice"),
    (dict(nightly="25:00"), "nightly must be None or a time"),
    (dict(tree_stable_timer=-1), "tree_stable_timer"),
    (dict(branch="master"), "pass branches=[...]"),
    (dict(builder_prefix="a b"), "builder_prefix"),
    (dict(jobs=0), "VkernelCheckpointFactory: jobs"),
])
def test_wrong_values_name_the_parameter(kwargs, message):
    with pytest.raises(bb_config.ConfigErrors) as err:
        add_to_config({}, ["w1"], REPO, **kwargs)
    assert any(message in e for e in err.value.errors), err.value.errors


def test_called_twice_or_clashing_name_is_a_clear_error():
    c = {}
    add_to_config(c, ["w1"], REPO)
    with pytest.raises(bb_config.ConfigErrors) as err:
        add_to_config(c, ["w1"], REPO)
    assert "a builder named 'vkckpt-master' already exists" in err.value.errors[0]
    c2 = {"schedulers": [schedulers.ForceScheduler(name="vkckpt-force", builderNames=["x"])]}
    with pytest.raises(bb_config.ConfigErrors) as err:
        add_to_config(c2, ["w1"], REPO)
    assert "a scheduler named 'vkckpt-force' already exists" in err.value.errors[0]
    # another prefix is fine
    add_to_config(c, ["w1"], REPO, builder_prefix="vkckpt2")
    assert "vkckpt2-master" in names(c["builders"])


def test_builder_names_from_odd_branches():
    assert builder_name("vkckpt", "feature/ckpt $x") == "vkckpt-feature_ckpt__x"


def checkconfig(tmp_path, text):
    master = tmp_path / "master"
    master.mkdir()
    (master / "master.cfg").write_text(text)
    return subprocess.run([BUILDBOT, "checkconfig", str(master)], capture_output=True,
                          text=True, timeout=60)


def test_master_cfg_example_passes_checkconfig(tmp_path):
    text = (ROOT / "master.cfg.example").read_text()
    assert "add_to_config(" in text and "DragonFly_RELEASE_6_4" in text
    done = checkconfig(tmp_path, text)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Config file is good!" in done.stdout


def test_checkconfig_names_a_wrong_parameter(tmp_path):
    text = (ROOT / "master.cfg.example").read_text().replace("cycles=3", "cycles=-2")
    done = checkconfig(tmp_path, text)
    assert done.returncode != 0
    assert "VkernelCheckpointFactory: cycles must be an integer >= 0" in done.stdout + done.stderr


def test_checkconfig_refuses_the_old_timeout_names_saying_what_to_write(tmp_path):
    text = (ROOT / "master.cfg.example").read_text()
    assert 'timeouts={"world": 3600' in text
    text = text.replace('timeouts={"world": 3600', 'timeouts={"cycle": 600, "world": 3600')
    text += (
        "from buildbot_vkckpt.steps import BootVkernel, VkernelCheckpointCycle\n"
        "c['builders'].append(util.BuilderConfig(\n"
        "    name='own-steps', workernames=['dfly-vk1'], factory=util.BuildFactory([\n"
        "        BootVkernel(boot_timeout=300),\n"
        "        VkernelCheckpointCycle(restore_timeout=60, timeouts={'boot': 10})])))\n")
    done = checkconfig(tmp_path, text)
    out = done.stdout + done.stderr
    assert done.returncode != 0
    for error in ("VkernelCheckpointFactory: timeouts['cycle'] is now two phases: "
                  "timeouts={'checkpoint': 600, 'restore': 600}",
                  "BootVkernel: boot_timeout= is now timeouts={'boot': 300}",
                  "VkernelCheckpointCycle: restore_timeout= is now timeouts={'restore': 60}",
                  "VkernelCheckpointCycle: timeouts has 'boot', a phase this step does not "
                  "run (its phases: checkpoint, restore)"):
        assert error in out, out


def test_the_full_build_logs_page_is_added_once_per_master():
    c = {"www": {"port": 8010}}
    add_to_config(c, ["w1"], REPO, builder_prefix="a", poll=True)
    add_to_config(c, ["w2"], REPO, builder_prefix="b", poll=True)
    names = [d["name"] for d in c["www"]["plugins"]["wsgi_dashboards"]]
    assert names.count("vkckpt-logs") == 1 and {"a", "b"} <= set(names)
