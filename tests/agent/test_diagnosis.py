"""Which vkernel messages and checkpoint errors are the host's, each with its fix
(agent/diagnosis.py). The messages are the vkernel's own (sys/platform/vkernel64 init.c, as
the simulator prints them)."""
import pytest

from buildbot_vkckpt.agent.diagnosis import CKPT_HOST_ERRORS, host_problem


@pytest.mark.parametrize("message, summary, in_fix", [
    ("/s/kernel/kernel.debug: vm.vkernel_enable is 0, must be set to 1 to execute a vkernel!",
     "vm.vkernel_enable is 0: the host does not allow vkernels", "sysctl vm.vkernel_enable=1"),
    ("Disk image /b/root.img is already in use",
     "disk image /b/root.img is already in use by another vkernel", "cleanup --stale"),
    ("Failed to lock pidfile, vkernel already running",
     "vkernel pidfile is locked: another vkernel runs in this session", "shutdown"),
    ("Must run kernel.debug with full path", "the vkernel was not started by its full path",
     "absolute path"),
    ("Bad maxmem specification: 64MB minimum, multiples of 2MB only",
     "bad vkernel memory size", "--memory"),
    ("Cannot create new memory file /s/memimg unless system memory is specified with -m",
     "the vkernel cannot create its memory file", "--memory"),
    ("/dev/tap9 is not a tap(4) device or socket",
     "the network interface given to the vkernel is unusable", "kldload if_tap"),
    ("kernel.debug: illegal option -- z",
     "the vkernel rejected option -z: this binary does not have it", "report it"),
    ("Bad ncpus, valid range is 1-16", "bad vkernel cpu count", "--cpus"),
])
def test_host_side_start_errors_are_named_with_their_fix(message, summary, in_fix):
    got, fix = host_problem(message)
    assert got == summary and in_fix in fix


@pytest.mark.parametrize("message", [None, "", "panic: vm_fault: fault on nofault entry",
                                     "Fatal trap 12: page fault while in kernel mode"])
def test_anything_else_is_the_kernel_under_tests(message):
    assert host_problem(message) is None


def test_checkpoint_write_errors_an_admin_fixes():
    # DragonFly's strerror texts and Linux's spelling of ERANGE alike
    for error in ("Result too large", "Numerical result out of range"):
        summary, fix = CKPT_HOST_ERRORS[error]
        assert "RLIMIT_CORE" in summary and "ulimit -c" in fix
    assert "kern.ckptgroup" in CKPT_HOST_ERRORS["Operation not permitted"][0]
    assert CKPT_HOST_ERRORS["No space left on device"][0].startswith(
        "the checkpoint file did not fit")
