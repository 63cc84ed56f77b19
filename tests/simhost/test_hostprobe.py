"""Host tools a probe uses on DragonFly: ``sleep`` under SIGCKPT (the host kernel's default
action), ``ps`` in bin/ps's format, and both without /proc."""
import os
import re
import resource
import shutil
import struct
import subprocess
import time

import pytest

from buildbot_vkckpt.simhost.host import SimHost
from tests.simhost.test_vkernel import Sim, boot_shell  # noqa: F401
from tests.simhost.test_vkernel_ckpt import gsoc_files, notes


def start_sleep(host, cwd, core=None):
    """``sleep 60`` from the host PATH with fd 3 open on a regular file, in ``cwd``."""
    held = cwd / "held.txt"
    held.write_text("x")

    def limits():
        if core is not None:
            resource.setrlimit(resource.RLIMIT_CORE, (core, core))

    proc = subprocess.Popen(["sh", "-c", "exec sleep 60 3<>held.txt"], cwd=cwd,
                            env=host.env(), preexec_fn=limits)
    wait_until_blocked(proc)
    return proc, open(held)


def wait_until_blocked(proc, timeout=10.0):
    """Until the simulated sleep blocks SIGCKPT and SIGCKPTEXIT (its signalfd is open): before
    that either signal would take Linux's default action and end it."""
    mask = 1 << 32 | 1 << 33
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"sleep exited with {proc.returncode}"
        with open(f"/proc/{proc.pid}/status") as f:
            blocked = re.search(r"^SigBlk:\s*([0-9a-f]+)", f.read(), re.M)
        if blocked and int(blocked.group(1), 16) & mask == mask:
            return
        time.sleep(0.01)
    raise AssertionError(f"sleep did not block SIGCKPT within {timeout} s")


def wait_for_closed(proc, path, timeout=5.0):
    """Until ``path`` exists and ``proc`` no longer holds it open: its checkpoint is done."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # in this order: once the file exists the kernel has it open until the checkpoint
        # is written
        if path.exists() and os.path.realpath(path) not in {
                os.path.realpath(fd) for fd in open_fds(proc)}:
            return True
        time.sleep(0.02)
    return False


def open_fds(proc):
    fd_dir = f"/proc/{proc.pid}/fd"
    try:
        return [os.path.join(fd_dir, fd) for fd in os.listdir(fd_dir)]
    except OSError:
        return []


def wait_for(path, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size:
            return True
        time.sleep(0.05)
    return path.exists()


@pytest.mark.parametrize("host_kernel", ["gsoc", "stock"])
def test_sleep_is_checkpointed_by_the_host_kernel(tmp_path, host_kernel):
    host = SimHost(tmp_path / "h").create(host_kernel=host_kernel)
    work = tmp_path / "w"
    work.mkdir()
    proc, held = start_sleep(host, work, core=1 << 30)
    try:
        proc.send_signal(33)
        assert wait_for_closed(proc, work / "sleep.ckpt")
        assert proc.poll() is None                     # SA_CKPT: it sleeps on
        assert os.stat(work / "sleep.ckpt").st_mode & 0o777 == 0o600
        found, _ = notes(work / "sleep.ckpt")
        owners = [o for o, _, _ in found]
        if host_kernel == "gsoc":
            files = dict((i, ino) for i, _, ino in gsoc_files(found[1][2]))
            assert found[1][1] == "FILES" and files[3] == os.stat(work / "held.txt").st_ino
        else:
            assert set(owners) == {"CORE"}
        assert found[0][2][16:33].rstrip(b"\0") == b"sleep"   # %N and pr_fname: p_comm
        log = host.messages.read_text()
        assert re.search(rf"pid {proc.pid} \(sleep\), uid {os.getuid()}: checkpointing to "
                         r"sleep\.ckpt", log)
    finally:
        proc.kill()
        proc.wait()
        held.close()


def test_sleep_with_rlimit_core_0_leaves_an_empty_file(tmp_path):
    host = SimHost(tmp_path / "h").create()
    work = tmp_path / "w"
    work.mkdir()
    proc, held = start_sleep(host, work, core=0)
    try:
        proc.send_signal(33)
        assert wait_for_closed(proc, work / "sleep.ckpt")
        assert (work / "sleep.ckpt").stat().st_size == 0
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
        held.close()


def test_ckptfile_template_and_sigckptexit(tmp_path):
    host = SimHost(tmp_path / "h").create()
    with host.update_state() as st:
        st["sysctl"]["kern.ckptfile"] = "%N-%P-%U.ck"
    work = tmp_path / "w"
    work.mkdir()
    proc, held = start_sleep(host, work, core=1 << 30)
    try:
        proc.send_signal(34)
        assert proc.wait(timeout=5) == -34           # SA_KILL|SA_CKPT
        assert (work / f"sleep-{proc.pid}-{os.getuid()}.ck").stat().st_size > 0
    finally:
        held.close()


def test_vkernel_ckpt_name_is_the_resolved_executable(tmp_path):
    sim = Sim(tmp_path)
    link = sim.dir / "vkernel"
    link.symlink_to(sim.kernel)
    sim.kernel = link
    resource_old = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (resource_old[1], resource_old[1]))
    try:
        vk = boot_shell(sim)
        os.kill(vk.child_pid(), 34)
        assert vk.wait() == 0
        assert (sim.dir / "kernel.ckpt").exists() and not (sim.dir / "vkernel.ckpt").exists()
        os.unlink(sim.dir / "kernel.ckpt")   # lets the keeper go, with the frozen guest
    finally:
        resource.setrlimit(resource.RLIMIT_CORE, resource_old)
        for vk in sim.started:
            vk.close()


def ps(host, *args):
    return subprocess.run(["ps", *args], env=host.env(), capture_output=True, text=True)


def test_ps_formats(tmp_path):
    host = SimHost(tmp_path / "h").create()
    res = ps(host, "-o", "lstart=", "-p", "1")
    assert res.returncode == 0
    assert re.fullmatch(r"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\n", res.stdout)
    res = ps(host, "-p", str(os.getpid()), "-o", "pid,ppid", "-o", "uid,comm,state,command")
    header, line = res.stdout.splitlines()
    assert header.split() == ["PID", "PPID", "UID", "COMMAND", "STAT", "COMMAND"]
    assert line.split()[:3] == [str(os.getpid()), str(os.getppid()), str(os.geteuid())]
    res = ps(host, "-o", "pid=", "-p", "999999999")
    assert (res.returncode, res.stdout) == (1, "")
    res = ps(host, "-o", "args=MY,HEADER", "-p", str(os.getpid()))
    assert res.stdout.splitlines()[0].startswith("MY,HEADER")
    res = ps(host, "-ax", "-o", "pid=")
    assert str(os.getpid()) in res.stdout.split()


def test_ps_comm_of_the_vkernel_is_kernel(tmp_path):
    sim = Sim(tmp_path)
    vk = boot_shell(sim)
    try:
        res = ps(sim.host, "-o", "comm=", "-p", f"{vk.proc.pid},{vk.child_pid()}")
        assert res.stdout.split() == ["kernel", "kernel"]
        res = ps(sim.host, "-o", "args=", "-p", str(vk.child_pid()))
        assert res.stdout.split()[0] == str(sim.kernel) and "-m 64m" in res.stdout
    finally:
        for vk in sim.started:
            vk.close()


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                    reason="needs root and unshare for a private mount namespace")
def test_ps_reads_hostproc_when_proc_is_hidden(tmp_path):
    host = SimHost(tmp_path / "h").create()
    script = (f"/bin/mount --bind /proc {host.hostproc} && /bin/mount -t tmpfs none /proc && "
              f"ps -o comm= -p $$")
    res = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                         env=host.env(), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "sh"


def test_no_proc_struct_is_sim_only(tmp_path):
    """The checkpoint of a helper carries nothing a real host would not write."""
    host = SimHost(tmp_path / "h").create()
    work = tmp_path / "w"
    work.mkdir()
    proc, held = start_sleep(host, work, core=1 << 30)
    try:
        proc.send_signal(33)
        assert wait_for(work / "sleep.ckpt")
        data = (work / "sleep.ckpt").read_bytes()
        assert b"VKCKPT" not in data and b"simhost" not in data
        assert struct.unpack_from("<H", data, 16)[0] == 4          # ET_CORE
    finally:
        proc.kill()
        proc.wait()
        held.close()
