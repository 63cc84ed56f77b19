"""Faults injected into the simulated vkernel (``SimHost.set_faults``)."""
import os
import re
import signal
import subprocess
import sys
import time

from tests.simhost.test_vkernel import REPO, boot_shell, sim  # noqa: F401  (fixture)

PANIC_TAIL = re.compile(
    r"cpuid = 0\r\nTrace beginning at frame 0x[0-9a-f]+\r\n"
    r"(?:\w+\(\) at \w+\+0x[0-9a-f]+ 0xffffffff[0-9a-f]+\r\n){6}"
    r'Debugger\("panic"\)\r\nCPU0 stopping CPUs: 0x0000000000000002\r\n stopped\r\n'
    r"Stopped at\tDebugger\+0x7c: movb \$0,0x[0-9a-f]+\(%rip\)\r\ndb> $")


def test_boot_panic_default_message_then_trace_and_continue_reboots(sim):
    sim.faults(boot_panic=None)
    vk = sim.start("-r", str(sim.image()))
    vk.expect("vkd0: 64MB (131072 512 byte sectors)\r\n"
              "panic: vm_fault: fault on nofault entry, addr: deadc000\r\n")
    vk.expect(PANIC_TAIL)
    os.kill(vk.proc.pid, signal.SIGTERM)
    assert "Caught SIGTERM" not in vk.quiet_for(0.2)
    vk.send("where\r")
    trace = vk.expect("db> ")
    assert "panic() at panic+0x236" in trace and "vm_fault() at vm_fault+0x1a2" in trace
    vk.send("continue\r")
    vk.expect("vkernels don't support dumps\r\n"
              "Automatic reboot in 15 seconds - press a key on the console to abort\r\n")
    vk.expect("Rebooting...\r\ncpu reset, rebooting vkernel\r\n")
    vk.expect("Copyright (c) 2003-2020")      # the parent boots it again


def test_boot_panic_with_message(sim):
    sim.faults(boot_panic="lockmgr: locking against myself")
    vk = sim.start("-r", str(sim.image()))
    vk.expect("panic: lockmgr: locking against myself\r\n")
    vk.expect(PANIC_TAIL)


def test_boot_hang_stops_after_the_disks(sim):
    sim.faults(boot_hang=None)
    vk = sim.start("-r", str(sim.image()))
    vk.expect("vkd0: 64MB (131072 512 byte sectors)\r\n")
    # hung once nothing more comes: a SIGTERM sent with the disk line still being printed
    # reached the kernel before the hang did (seen on a loaded host)
    assert vk.quiet_for(0.3) == ""
    os.kill(vk.proc.pid, signal.SIGTERM)
    assert vk.quiet_for(0.4) == ""
    assert vk.proc.poll() is None


def test_boot_stall_repeats_one_message(sim):
    sim.faults(boot_stall=None)
    vk = sim.start("-r", str(sim.image()))
    vk.expect("vkd0: 64MB (131072 512 byte sectors)\r\n")
    lines = [l for l in vk.quiet_for(0.3).split("\r\n") if l]
    assert len(lines) >= 3 and len(set(lines)) == 1


def test_mountroot_prompt_then_eof_panics(sim):
    sim.faults(mountroot=None)
    env = dict(os.environ, VKCKPT_SIMHOST=str(sim.host.root), PYTHONPATH=str(REPO),
               VKCKPT_SIM_SPEED="5")
    out = sim.dir / "console.out"
    with open(out, "w") as f:
        proc = subprocess.Popen([str(sim.kernel), "-m", "64m", "-r", str(sim.image())],
                                stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.DEVNULL,
                                env=env, cwd=sim.dir, start_new_session=True)
    try:
        deadline = time.monotonic() + 5
        while "db> " not in out.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)   # ddb cannot read a console at EOF: it stays
        proc.wait()
    text = out.read_text()
    assert ("Mounting root from ufs:vkd0s1a\nRoot mount failed: 6\n\n"
            "Manual root filesystem specification:\n") in text
    assert "\nmountroot> panic: vconsgetc: EOF on console\ncpuid = 0\n" in text
    assert text.endswith("db> ")


def test_mountroot_prompt_lists_devices(sim):
    sim.faults(mountroot=None)
    vk = sim.start("-r", str(sim.image()))
    vk.expect("mountroot> ")
    vk.send("?\r")
    vk.expect(" vkd0 vkd0s1 vkd0s1a")
    vk.expect("mountroot> ")
    vk.send("panic\r")
    vk.expect("panic: mountroot\r\n")


def test_guest_command_fails(sim):
    sim.faults(guest_command_fails="ls")
    vk = boot_shell(sim)
    out, status = vk.run("cd / && ls")
    assert status == 3 and "ls: Input/output error" in out
    vk.expect("# ")
    out, status = vk.run("echo ls")        # not in command position: untouched
    assert (out.strip(), status) == ("ls", 0)


def test_panic_in_guest_command(sim):
    sim.faults(panic_in_guest_command="uname")
    vk = boot_shell(sim)
    vk.send('uname -a; echo "@@rc:$?@@"\r')
    vk.expect(re.compile(r"Fatal trap 12: page fault while in kernel mode\r\n"
                         r"cpuid = 0; lapic id = 0\r\n"))
    vk.expect(re.compile(r"current process\t\t= \d+ \(uname\)"))
    vk.expect("panic: page fault\r\n")
    vk.expect(PANIC_TAIL)
    vk.send("trace\r")
    assert "trap_fatal() at trap_fatal+0x2a1" in vk.expect("db> ")


def test_guest_sysctl_debug_panic(sim):
    vk = boot_shell(sim)
    vk.send("sysctl debug.panic=1\r")
    vk.expect("panic: debug.panic\r\n")
    vk.expect(PANIC_TAIL)


def test_disk_image_locked(sim):
    sim.faults(disk_image_locked=None)
    image = sim.image()
    vk = sim.start("-r", str(image))
    assert vk.wait() == 0
    assert f"kernel: Disk image {image} is already in use\n" in vk.stderr()


def test_vkernel_disabled_fault(sim):
    sim.faults(vkernel_disabled=None)
    res = sim.run("-m", "64m")
    assert res.returncode == 0   # the child's errx(1); the parent returns 0
    assert "vm.vkernel_enable is 0, must be set to 1 to execute a vkernel!" in res.stderr
    env = dict(os.environ, VKCKPT_SIMHOST=str(sim.host.root), PYTHONPATH=str(REPO))
    shown = subprocess.run([sys.executable, "-m", "buildbot_vkckpt.simhost.hosttools",
                            "sysctl", "-n", "vm.vkernel_enable"], capture_output=True,
                           text=True, env=env)
    assert shown.stdout == "0\n"
