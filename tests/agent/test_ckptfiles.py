"""The files a vkernel checkpoint refers to by handle stay unchanged until the restore, and the
restore names the one that changed (reference §23), on the simulated host."""
import os

from .test_cycle import ckpt_file, metrics, shutdown


def checkpointed(sim):
    run = sim.boot()
    assert run.returncode == 0, run
    ck = sim.agent("checkpoint")
    assert ck.returncode == 0, ck
    return ck


def test_a_changed_disk_image_refuses_the_restore_and_is_named(sim):
    ck = checkpointed(sim)
    assert metrics(ck)["memimg_bytes"] == 128 << 20
    results = sim.session / "results.img"
    with open(results, "r+b") as fh:          # someone wrote to the guest's second disk
        fh.write(b"oops")
    run = sim.agent("restore", "--file", ckpt_file(sim))
    assert (run.returncode, run.result["kind"]) == (4, "infrastructure"), run
    assert run.summary == (f"not restoring: disk image vkd1 {results} was modified after the "
                           "checkpoint"), run
    assert run.details["signalled"] is False
    shutdown(sim)


def test_a_deleted_kernel_copy_is_named(sim):
    checkpointed(sim)
    kernel = sim.session / "kernel" / "kernel.debug"
    os.unlink(kernel)
    run = sim.agent("restore", "--file", ckpt_file(sim))
    assert run.returncode == 4 and run.summary.startswith(
        f"not restoring: kernel binary {kernel} is gone"), run
    shutdown(sim)


def test_the_obj_dir_kernel_may_go_the_session_copy_stays(sim):
    """The next buildkernel deletes the obj dir's kernel.debug; the session runs its copy."""
    checkpointed(sim)
    built = sim.built.kernel
    saved = built.read_bytes()
    os.unlink(built)
    try:
        run = sim.agent("restore", "--file", ckpt_file(sim))
        assert run.returncode == 0, run
    finally:
        built.write_bytes(saved)
        built.chmod(0o755)
    shutdown(sim)
