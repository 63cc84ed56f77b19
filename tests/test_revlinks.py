"""Revisions link to the repository's web view: the web UI's change pages (c['revlink']), the
trends page, and the builds table's Revision column has the revision even for a forced build."""
import pytest
from buildbot import config as bb_config

from buildbot_vkckpt import revlinks
from buildbot_vkckpt.config import add_to_config
from buildbot_vkckpt.factory import VkernelCheckpointFactory, _without_revision

REPO = "https://gitweb.dragonflybsd.org/dragonfly.git"
REV = "f875a8eec7b0c2e1d7e1c6a1b7e4c5d6a7b8c9d0"


def test_our_repository_links_through_the_template_others_through_buildbots():
    link = revlinks.TemplateRevlink(REPO, revlinks.DRAGONFLY_GITWEB)
    assert link(REV, REPO) == f"https://gitweb.dragonflybsd.org/dragonfly.git/commit/{REV}"
    assert link(REV, "https://github.com/DragonFlyBSD/DragonFlyBSD.git") == \
        f"https://github.com/DragonFlyBSD/DragonFlyBSD/commit/{REV}"
    assert link(REV, "file:///srv/dragonfly.git") is None
    assert link("", REPO) is None


def test_add_to_config_sets_revlink_unless_the_master_has_one():
    c = {"www": {"port": 8010}}
    add_to_config(c, ["w1"], REPO)
    assert c["revlink"](REV, REPO).endswith(f"/commit/{REV}")
    own = lambda rev, repo: "mine"       # noqa: E731
    c = {"www": {"port": 8010}, "revlink": own}
    add_to_config(c, ["w1"], REPO, revision_url="https://example.org/c/{revision}")
    assert c["revlink"] is own
    c = {"www": {"port": 8010}}
    add_to_config(c, ["w1"], REPO, revision_url=None)
    assert "revlink" not in c


@pytest.mark.parametrize("bad", ["https://example.org/commit/", "ftp://x/{revision}", 42])
def test_a_bad_revision_url_names_the_parameter(bad):
    with pytest.raises(bb_config.ConfigErrors) as err:
        add_to_config({"www": {"port": 8010}}, ["w1"], REPO, revision_url=bad)
    assert any("revision_url must be an http(s) URL with {revision}" in e
               for e in err.value.errors), err.value.errors


class Step:
    def __init__(self, **props):
        self.props = props

    def getProperty(self, name):
        return self.props.get(name)


def test_a_build_without_revision_gets_the_checked_out_one_in_a_hidden_step():
    f = VkernelCheckpointFactory(REPO)
    names = [s.buildStep().name for s in f.steps]
    step = f.steps[names.index("revision")]
    assert names.index("checkout") < names.index("revision") < names.index("buildworld")
    assert step.kwargs["hideStepIf"] is True and step.kwargs["property"] == "revision"
    assert _without_revision(Step(revision="", got_revision=REV))
    assert not _without_revision(Step(revision=REV, got_revision=REV))
    assert not _without_revision(Step(revision=None, got_revision=None))
