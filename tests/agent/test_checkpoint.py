"""checkpoint's validation of the file it waited for (agent/checkpoint.py); the whole
checkpoint on the simulated host runs in test_cycle.py."""
import os

from buildbot_vkckpt.agent.checkpoint import memory_reference, validate
from buildbot_vkckpt.simhost import ckptfile


def test_checkpoint_threads_at_least_one_per_cpu(tmp_path):
    """A real vkernel also saves its cothreads: more threads than -n is fine, fewer is not."""
    path = tmp_path / "kernel.ckpt"
    ckptfile.write_core(str(path), "gsoc", comm="kernel", tids=[1, 2, 3])
    assert validate(str(path), 2)[1] is None
    assert validate(str(path), 3)[1] is None
    assert validate(str(path), 4)[1] == "3 thread(s) saved, the vkernel runs 4 cpus (-n)"
    assert validate(str(tmp_path / "none.ckpt"), 2)[1].startswith("no checkpoint file at")


def vkernel_checkpoint(tmp_path, memimg_mapped=True):
    mem = tmp_path / "memimg"
    mem.write_bytes(b"m")
    other = tmp_path / "results.img"
    other.write_bytes(b"r")
    handle = ckptfile.fhandle(1, os.stat(mem if memimg_mapped else other).st_ino, 1)
    path = tmp_path / "kernel.ckpt"
    ckptfile.write_core(str(path), "gsoc", comm="kernel", tids=[1, 2],
                        maps=[ckptfile.MapRef(handle, 0x800000000, 1 << 20,
                                              maptype=ckptfile.VM_MAPTYPE_VPAGETABLE)])
    return path, mem


def test_guest_ram_must_be_referenced_by_the_memory_images_handle(tmp_path):
    """Guest RAM is not in the file (reference §23): without the memory image's handle in
    NT_DRAGONFLY_MAPS a restore would come back without it."""
    path, mem = vkernel_checkpoint(tmp_path)
    report, problem = validate(str(path), 2)
    assert problem is None and memory_reference(report, str(mem)) is None
    assert memory_reference(report, None) is None           # no -i: nothing to check
    path, mem = vkernel_checkpoint(tmp_path, memimg_mapped=False)
    report, _ = validate(str(path), 2)
    assert memory_reference(report, str(mem)).startswith(
        "the checkpoint does not refer to the memory image (no NT_DRAGONFLY_MAPS entry for "
        "memimg)")
    os.unlink(mem)
    assert memory_reference(report, str(mem)) == f"the memory image {mem} is gone"


def test_a_damaged_file_is_named_by_its_first_problem(tmp_path):
    path, _ = vkernel_checkpoint(tmp_path)
    path.write_bytes(path.read_bytes()[:100])
    report, problem = validate(str(path), 2)
    assert problem == report["problems"][0] and problem.startswith("truncated: ")
