"""The tree's regression knob: a ``VKCKPT_SIM_REGRESSION:`` line under sys/ is built into the
simulated vkernel, which acts on it (docs/simhost-fidelity.rst)."""
import os

from buildbot_vkckpt.simhost import kernelbin
from tests.simhost.test_vkernel import VERSION, sim  # noqa: F401  (fixture)
from tests.simhost.test_vkernel_ckpt import (Restored, boot, checkpoint,  # noqa: F401
                                            core_limit)


def test_the_tree_names_what_is_planted(tmp_path):
    kern = tmp_path / "sys" / "kern"
    kern.mkdir(parents=True)
    (kern / "kern_checkpoint.c").write_text(
        "int x;\n/* VKCKPT_SIM_REGRESSION: restore-panics */\n")
    (kern / "other.h").write_text("/* VKCKPT_SIM_REGRESSION: make-coffee */\n")
    (tmp_path / "README").write_text("VKCKPT_SIM_REGRESSION: restore-loses-process\n")
    assert kernelbin.planted_in_tree(tmp_path) == ("restore-panics",)
    assert kernelbin.planted_in_tree(tmp_path / "nowhere") == ()


def test_the_binary_carries_it_and_a_clean_one_does_not(tmp_path):
    path = tmp_path / "kernel"
    kernelbin.write_vkernel(path, tmp_path, "VKERNEL64", VERSION, "master-with-port",
                            planted=("restore-panics",))
    assert kernelbin.planted_in_binary(path) == ("restore-panics",)
    kernelbin.write_vkernel(path, tmp_path, "VKERNEL64", VERSION, "master-with-port")
    assert kernelbin.planted_in_binary(path) == ()
    assert kernelbin.planted_in_binary(tmp_path / "missing") == ()


def test_a_planted_restore_panic_panics_without_any_host_fault(sim, core_limit):
    kernelbin.write_vkernel(sim.kernel, sim.host.root, "VKERNEL64", VERSION, sim.flavour,
                            planted=("restore-panics",))
    vk = boot(sim)
    ckpt = checkpoint(sim, vk)
    assert sim.host.faults() == {}
    r = Restored(sim, ckpt)
    sim.started.append(r)
    r.expect("Restoring vmspaces...")
    r.expect("panic: vmspace_ctl: cannot restore vmspace")
    r.expect("db> ")
    os.unlink(ckpt)
