"""The disk fills up during a build: the host's object directory is a 32 KiB tmpfs, so the
world build runs out of space part way. The build must end EXCEPTION (infrastructure) saying
the disk is full and where to free space, never blame the code, start no vkernel and leave
nothing behind; once the space is back, the next build is green."""
import os
import subprocess

import pytest

from .rig import EXCEPTION, SUCCESS, Rig

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.timeout(600),
              pytest.mark.usefixtures("instant_simulation")]


@pytest.fixture
def small_objdir_rig(tmp_path):
    assert os.geteuid() == 0, ("the disk-full scenario mounts a small tmpfs: run "
                               "`make reliability` as root (CI does)")
    rig = Rig(tmp_path, hosts=("a",), per_host=1)
    host = rig.hosts["a"]
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32k", "vkckpt-full", str(host.obj)],
                   check=True)
    rig.unmount = lambda: subprocess.run(["umount", str(host.obj)], check=False)
    rig.builder = next(iter(rig.builders))
    try:
        rig.start()
        yield rig
    finally:
        stopped = rig.stop()
        rig.unmount()
        assert stopped == []


def test_disk_fills_during_buildworld(small_objdir_rig):
    rig = small_objdir_rig
    full = rig.bb.wait_build(rig.force(rig.builder, reason="disk fills"), timeout=300)
    steps = rig.steps(full)
    outcome = {n: (s["results"], s["state_string"]) for n, s in steps.items()}
    assert full["results"] == EXCEPTION, outcome
    world = steps["buildworld"]["state_string"]
    assert world.startswith("infrastructure: disk full: install: ") and \
        "obj/" in world and "No space left on device" in world, world
    assert "fix: free space where the build writes" in world, world
    assert "boot" not in steps or steps["boot"]["results"] is None or \
        steps["boot"]["results"] == 3, outcome      # never booted (SKIPPED or absent)
    assert rig.leftovers() == []

    rig.unmount()       # the operator frees the space
    again = rig.bb.wait_build(rig.force(rig.builder, reason="space is back"), timeout=300)
    outcome = {n: (s["results"], s["state_string"]) for n, s in rig.steps(again).items()}
    assert again["results"] == SUCCESS, outcome
    assert rig.leftovers() == []
    print(f"\ndisk full during buildworld: build {full['number']} EXCEPTION {world!r}; after "
          f"freeing space build {again['number']} green; leaks 0")
