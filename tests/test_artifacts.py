"""The master keeps the artifacts of a builder's newest builds only."""
import os

import pytest
from buildbot import config as bb_config

from buildbot_vkckpt import artifacts
from buildbot_vkckpt.factory import VkernelCheckpointFactory
from buildbot_vkckpt.steps.vkernel import CollectArtifacts


def make_builds(root, numbers):
    for n in numbers:
        (root / str(n)).mkdir(parents=True)
        (root / str(n) / "buildworld.log.gz").write_bytes(b"x")


def test_keeps_the_newest_by_number_not_by_name(tmp_path):
    make_builds(tmp_path, [1, 2, 9, 10, 11])
    (tmp_path / "notes").mkdir()                        # not a build: left alone
    assert artifacts.prune(str(tmp_path), 3) == [1, 2]
    assert sorted(os.listdir(tmp_path)) == ["10", "11", "9", "notes"]


def test_the_current_build_is_never_removed_and_none_keeps_all(tmp_path):
    make_builds(tmp_path, [1, 2, 3])
    assert artifacts.prune(str(tmp_path), None) == []
    assert artifacts.prune(str(tmp_path), 1, current=1) == [2]
    assert sorted(os.listdir(tmp_path)) == ["1", "3"]


def test_a_missing_builder_dir_and_symlinks_are_harmless(tmp_path):
    assert artifacts.prune(str(tmp_path / "nothing"), 1) == []
    make_builds(tmp_path / "elsewhere", [5])
    (tmp_path / "b").mkdir()
    os.symlink(tmp_path / "elsewhere" / "5", tmp_path / "b" / "5")
    make_builds(tmp_path / "b", [6, 7])
    assert artifacts.prune(str(tmp_path / "b"), 1) == [6]
    assert (tmp_path / "elsewhere" / "5" / "buildworld.log.gz").exists()


@pytest.mark.parametrize("bad", [0, -1, "20", 2.5, True])
def test_bad_keep_artifacts_names_the_parameter(bad):
    with pytest.raises(bb_config.ConfigErrors) as err:
        VkernelCheckpointFactory("file:///src", keep_artifacts=bad)
    assert any(e.startswith("VkernelCheckpointFactory: keep_artifacts must be")
               for e in err.value.errors), err.value.errors
    with pytest.raises(bb_config.ConfigErrors) as err:
        CollectArtifacts(keep_artifacts=bad)
    assert any(e.startswith("CollectArtifacts: keep_artifacts must be")
               for e in err.value.errors), err.value.errors
