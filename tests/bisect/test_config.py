"""add_to_config(bisect=...): the bisect and controller builders, their schedulers, the watch
step, and config errors that name the parameter."""
import pytest
from buildbot import config as bb_config
from buildbot.plugins import worker
from buildbot.schedulers.triggerable import Triggerable

from buildbot_vkckpt.config import add_to_config
from buildbot_vkckpt.factory import HOST_LOCK

REPO = "https://gitweb.dragonflybsd.org/dragonfly.git"


def step_names(builder):
    return [getattr(s, "name", None) or s.kwargs.get("name") or s.step_class.name
            for s in builder.factory.steps]


def test_off_by_default_adds_nothing():
    c = {}
    added = add_to_config(c, ["w1"], REPO, dashboard=False)
    assert [b.name for b in c["builders"]] == ["vkckpt-master"]
    assert added.bisect_builders == []
    assert "bisect-watch" not in step_names(c["builders"][0])


def test_on_adds_a_bisect_builder_with_the_host_lock_and_a_controller():
    c = {}
    added = add_to_config(c, ["w1", "w2"], REPO, branches=["master", "rel"], dashboard=False,
                          bisect={"max_builds": 5}, cycles=1)
    builders = {b.name: b for b in c["builders"]}
    assert added.builders == ["vkckpt-master", "vkckpt-rel"]
    assert added.bisect_builders == ["vkckpt-master-bisect", "vkckpt-master-bisect-control",
                                     "vkckpt-rel-bisect", "vkckpt-rel-bisect-control"]
    probe, control = builders["vkckpt-master-bisect"], builders["vkckpt-master-bisect-control"]
    assert [lock.lockid for lock in probe.locks] == [HOST_LOCK]
    assert probe.locks[0].mode == "exclusive"
    assert control.locks == [] and control.workernames == ["w1", "w2"]
    # the same pipeline, without the watch: a probe never starts another bisection
    assert step_names(builders["vkckpt-master"])[-1] == "bisect-watch"
    assert step_names(probe) == step_names(builders["vkckpt-master"])[:-1]
    triggerables = {s.name: s.builderNames for s in c["schedulers"]
                    if isinstance(s, Triggerable)}
    assert triggerables == {
        "vkckpt-master-bisect": ["vkckpt-master-bisect"],
        "vkckpt-master-bisect-control": ["vkckpt-master-bisect-control"],
        "vkckpt-rel-bisect": ["vkckpt-rel-bisect"],
        "vkckpt-rel-bisect-control": ["vkckpt-rel-bisect-control"]}
    # the force scheduler and the dashboard stay with the watched builders
    force = next(s for s in c["schedulers"] if s.name == "vkckpt-force")
    assert force.builderNames == ["vkckpt-master", "vkckpt-rel"]


def test_controller_workers_can_be_given():
    c = {}
    add_to_config(c, ["w1"], REPO, dashboard=False, bisect={"workers": ["ctl"]})
    control = next(b for b in c["builders"] if b.name.endswith("-bisect-control"))
    assert control.workernames == ["ctl"]


@pytest.mark.parametrize("value, message", [
    ("yes", "bisect must be True, False or a dict"),
    ({"max_build": 3}, "bisect has unknown key 'max_build'"),
    ({"max_builds": 0}, "bisect['max_builds'] must be a whole number >= 1, not 0"),
    ({"max_builds": True}, "bisect['max_builds'] must be a whole number >= 1"),
    ({"max_range": 1}, "bisect['max_range'] must be a whole number >= 2, not 1"),
    ({"workers": "ctl"}, "bisect['workers'] must be a non-empty list of worker names"),
])
def test_bad_values_are_config_errors_naming_the_parameter(value, message):
    with pytest.raises(bb_config.ConfigErrors) as err:
        add_to_config({}, ["w1"], REPO, dashboard=False, bisect=value)
    assert any(message in e for e in err.value.errors), err.value.errors


def test_a_controller_that_would_wait_forever_is_refused():
    c = {"workers": [worker.Worker("w1", "pw", max_builds=1)]}
    with pytest.raises(bb_config.ConfigErrors) as err:
        add_to_config(c, ["w1"], REPO, dashboard=False, bisect=True)
    assert any("would run on 'w1', which takes one build at a time" in e
               for e in err.value.errors), err.value.errors
    c = {"workers": [worker.Worker("w1", "pw", max_builds=1), worker.Worker("ctl", "pw")]}
    add_to_config(c, ["w1"], REPO, dashboard=False, bisect={"workers": ["ctl"]})


def test_a_name_clash_is_a_config_error():
    c = {}
    add_to_config(c, ["w1"], REPO, dashboard=False, branches=["master-bisect"])
    with pytest.raises(bb_config.ConfigErrors) as err:
        add_to_config(c, ["w1"], REPO, dashboard=False, builder_prefix="vkckpt",
                      branches=["master"], bisect=True, poll=False)
    assert any("'vkckpt-master-bisect' already exists" in e for e in err.value.errors), \
        err.value.errors


def test_the_probe_plans_from_the_tree_and_the_watched_builder_does_not():
    from buildbot_vkckpt.steps.plan import BuildPlan
    c = {}
    add_to_config(c, ["w1"], REPO, dashboard=False, bisect=True)
    plans = {b.name: next(s for s in b.factory.steps if s.step_class is BuildPlan)
             for b in c["builders"] if not b.name.endswith("-control")}
    assert plans["vkckpt-master-bisect"].kwargs["without_changes"] == "tree"
    assert "without_changes" not in plans["vkckpt-master"].kwargs


def test_probes_build_in_their_own_objdir_under_the_watched_one():
    from buildbot_vkckpt.bisect.config import probe_kwargs
    assert probe_kwargs({"objdir": "/build/obj", "jobs": 8}) == {
        "objdir": "/build/obj/vkckpt-bisect", "jobs": 8}
    assert probe_kwargs({})["objdir"] == "/usr/obj/vkckpt-bisect"
    assert probe_kwargs({"objdir": "relative"})["objdir"] == "relative"   # the factory says no
