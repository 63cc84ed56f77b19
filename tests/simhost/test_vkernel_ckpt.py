"""The simulated vkernel's checkpoints per flavour and host kernel, and ``checkpt -r``.

Files are read here with pyelftools and the byte offsets of the GSoC branch's x86_64 structs
(written out below, not taken from the simulator), so a layout slip in ckptfile.py fails.
"""
import json
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import time

import pytest
from elftools.elf.elffile import ELFFile

from tests.simhost.test_vkernel import (REPO, Sim, Vkernel, boot_shell, sim,  # noqa: F401
                                        sims)

# write-then-rename: a reader never sees the file truncated and empty
WORKLOAD = ("(n=0; while :; do n=$((n+1)); echo $n > {0}.new; mv {0}.new {0}; sleep 0.05; "
            "done) & echo PID=$!")
NT = {1: "PRSTATUS", 2: "FPREGSET", 3: "PRPSINFO", 0x1000: "TLS", 0x1001: "FILES",
      0x1002: "MAPS"}


def notes(path):
    """[(owner, type name, desc bytes)] of the PT_NOTE segment."""
    with open(path, "rb") as fh:
        elf = ELFFile(fh)
        seg = next(s for s in elf.iter_segments() if s["p_type"] == "PT_NOTE")
        data = seg.data()
        loads = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
    out, p = [], 0
    while p < len(data):
        namesz, descsz, ntype = struct.unpack_from("<III", data, p)
        p += 12
        owner = data[p:p + namesz].rstrip(b"\0").decode()
        p += -(-namesz // 4) * 4
        out.append((owner, NT.get(ntype, hex(ntype)), data[p:p + descsz]))
        p += -(-descsz // 4) * 4
    return out, loads


def gsoc_files(desc):
    """struct ckpt_fileinfo (56 bytes): index@0 flags@4 offset@8 type@16 ckflags@20
    fhandle@24 (fsid 8, fid_len@8, ufid_ino@16, ufid_gen@24); kqueue: nevents@24, kevents
    (32 bytes each) follow."""
    out, p = [], 0
    while p < len(desc):
        index, _, _, ftype = struct.unpack_from("<iIqi", desc, p)
        if ftype == 5:
            n, = struct.unpack_from("<i", desc, p + 24)
            out.append((index, "kqueue", n))
            p += 56 + 32 * n
        else:
            ino, = struct.unpack_from("<Q", desc, p + 24 + 16)
            out.append((index, "vnode", ino))
            p += 56
    return out


def gsoc_maps(desc):
    """struct vn_hdr (120 bytes): fhandle@0, Elf64_Phdr@32, type@88, flags@92, pde@96."""
    assert len(desc) % 120 == 0
    return [(struct.unpack_from("<Q", desc, i + 16)[0], struct.unpack_from("<i", desc, i + 88)[0],
             struct.unpack_from("<Q", desc, i + 32 + 16)[0]) for i in range(0, len(desc), 120)]


class Restored(Vkernel):
    """``checkpt -r FILE`` on a fresh pty, as the supervisor runs it."""

    def __init__(self, sim, ckpt, cwd=None):
        self.sim = sim
        self.master, slave = pty.openpty()
        env = dict(os.environ, VKCKPT_SIM_SPEED=sim.speed, VKCKPT_SIMHOST=str(sim.host.root),
                   PYTHONPATH=str(REPO))
        self.errfile = open(sim.dir / f"stderr.{time.monotonic_ns()}", "w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "buildbot_vkckpt.simhost.hosttools", "checkpt", "-r",
             str(ckpt)], stdin=slave, stdout=slave, stderr=self.errfile, cwd=cwd or sim.dir,
            env=env, start_new_session=True)
        os.close(slave)
        self.buf = b""
        self.pos = 0
        self.started = time.monotonic()


@pytest.fixture(autouse=True)
def core_limit():
    """A checkpoint needs RLIMIT_CORE > 0 (§14); the vkernel inherits the test's limits."""
    import resource
    old = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (old[1], old[1]))
    yield
    resource.setrlimit(resource.RLIMIT_CORE, old)


def checkpoint(sim, vk):
    os.kill(vk.child_pid(), 34)
    assert vk.wait() == 0
    return sim.dir / "kernel.ckpt"


def start_workload(vk, path):
    out, _ = vk.run(WORKLOAD.format(path))
    return int(re.search(r"PID=(\d+)", out).group(1))


def memimg(sim):
    return sim.dir / "mem.img"


def boot(sim):
    return boot_shell(sim, "-i", str(memimg(sim)))


@pytest.mark.parametrize("flavour", ["gsoc2013", "master-with-port"])
def test_gsoc_layout_references_files_and_copies_no_guest_ram(sims, flavour):
    sim = sims(flavour)
    vk = boot(sim)
    ckpt = checkpoint(sim, vk)
    assert (sim.dir / "vk.pid").exists()          # exit(0) skips cleanpid()
    found, loads = notes(ckpt)
    kinds = [(o, t) for o, t, _ in found]
    assert kinds[:3] == [("CORE", "PRPSINFO"), ("DragonFly", "FILES"), ("DragonFly", "MAPS")]
    threads = kinds[3:]
    assert threads == [("CORE", "PRSTATUS"), ("CORE", "FPREGSET"), ("DragonFly", "TLS")] * (
        len(threads) // 3) and threads
    psinfo = found[0][2]
    assert len(psinfo) == 3408 and struct.unpack_from("<i", psinfo)[0] == 2
    assert psinfo[16:33].rstrip(b"\0") == b"kernel"
    nthreads, nfiles, nmaps = struct.unpack_from("<iii", psinfo, 116)
    assert nthreads == len(threads) // 3
    assert all(len(d) == 288 for _, t, d in found if t == "PRSTATUS")
    files = gsoc_files(found[1][2])
    maps = gsoc_maps(found[2][2])
    assert (len(files), len(maps)) == (nfiles, nmaps)
    inodes = {os.stat(p).st_ino for p in (sim.dir / "vk.pid", memimg(sim), sim.dir / "root.img")}
    assert inodes <= {ino for _, kind, ino in files if kind == "vnode"}
    assert any(kind == "kqueue" for _, kind, _ in files)
    assert (os.stat(memimg(sim)).st_ino, 2) in {(ino, t) for ino, t, _ in maps}  # VPAGETABLE
    assert os.stat(sim.kernel).st_ino in {ino for ino, _, _ in maps}
    assert all(s["p_vaddr"] != 512 << 30 for s in loads)    # guest RAM is not in the file
    assert os.path.getsize(ckpt) < 64 << 20
    assert os.stat(ckpt).st_mode & 0o777 == 0o600
    os.unlink(ckpt)


def test_restore_continues_guest_and_workload(sim):
    vk = boot(sim)
    wl = sim.dir / "wl"
    pid = start_workload(vk, wl)
    vk.run("sleep 0.2")
    ckpt = checkpoint(sim, vk)
    frozen = open(wl).read()
    time.sleep(0.3)   # the test's own pause: nothing may progress while checkpointed
    assert open(wl).read() == frozen
    r = Restored(sim, ckpt)
    sim.started.append(r)
    r.expect("Restoring vmspaces...")
    r.expect("Restored from checkpoint...")
    out, status = r.run(f'i=0; while [ "$(cat {wl})" = "{frozen.strip()}" ] && '
                        f'[ $i -lt 60 ]; do sleep 0.05; i=$((i+1)); done; '
                        f'kill -0 {pid} && cat {wl}')
    assert status == 0 and int(re.findall(r"(\d+)\s*$", out, re.M)[-1]) > int(frozen or 0)
    r.run(f"kill {pid}")
    # the pidfile still names the first child: nothing rewrites it on a thaw
    assert (sim.dir / "vk.pid").read_text().strip() != str(r.proc.pid)
    os.kill(r.proc.pid, 34)   # the restored vkernel checkpoints like the first one
    assert r.wait() == 0
    assert notes(ckpt)[0][1][1] == "FILES"
    io = [json.loads(l) for l in (sim.host.state_dir / "ckpt-io.jsonl").read_text().splitlines()]
    assert [e["op"] for e in io] == ["write", "exit", "read", "resume", "write", "exit"]
    os.unlink(ckpt)


@pytest.mark.parametrize("gone", ["pidfile", "memimg", "kernel", "disk"])
def test_thaw_of_a_file_whose_reference_is_gone_is_estale(sim, gone):
    vk = boot(sim)
    ckpt = checkpoint(sim, vk)
    path = {"pidfile": sim.dir / "vk.pid", "memimg": memimg(sim), "kernel": sim.kernel,
            "disk": sim.dir / "root.img"}[gone]
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data)          # same name and contents, another inode
    r = Restored(sim, ckpt)
    sim.started.append(r)
    assert r.wait() == 5
    assert r.stderr() == "thaw failed error 70 Stale NFS file handle\n"
    os.unlink(ckpt)


def test_a_changed_memory_image_breaks_the_restore(sim):
    vk = boot(sim)
    ckpt = checkpoint(sim, vk)
    with open(memimg(sim), "r+b") as fh:
        fh.write(b"\xff" * 64)
    r = Restored(sim, ckpt)
    sim.started.append(r)
    r.expect("Restoring vmspaces...")
    r.expect("panic: ")
    r.expect("db> ")
    os.unlink(ckpt)


def test_sigckpt_prints_the_handlers_refusal(sim):
    vk = boot(sim)
    os.kill(vk.child_pid(), 33)
    vk.expect("Checkpointing and continuing is not supported. Use SIGCKPTEXIT instead.")
    assert not (sim.dir / "kernel.ckpt").exists() and vk.proc.poll() is None


def test_gsoc_vkernel_on_a_stock_host(sims):
    sim = sims("gsoc2013", host_kernel="stock")
    vk = boot(sim)
    ckpt = checkpoint(sim, vk)   # exits 0 like on a GSoC host
    found, _ = notes(ckpt)
    assert [t for _, t, _ in found][:3] == ["PRPSINFO", "PRSTATUS", "FPREGSET"]
    assert all(o == "CORE" for o, _, _ in found)
    r = Restored(sim, ckpt)
    sim.started.append(r)
    assert r.wait() == -signal.SIGSEGV     # no VPAGETABLE mapping came back
    os.unlink(ckpt)


def test_master2020_has_no_handler(sims):
    sim = sims("master2020")
    assert sim.host.host_kernel() == "stock"
    vk = boot(sim)
    if True:
        child = vk.child_pid()
        os.kill(child, 33)               # SA_CKPT: checkpoint and continue
        deadline = time.monotonic() + 5
        while not (sim.dir / "kernel.ckpt").exists() and time.monotonic() < deadline:
            vk.read_some(0.05)
        assert "Checkpointing and continuing" not in vk.text() and vk.proc.poll() is None
        os.kill(child, 34)               # SA_KILL|SA_CKPT: the parent still returns 0
        assert vk.wait() == 0
        assert [t for _, t, _ in notes(sim.dir / "kernel.ckpt")[0]][0] == "PRPSINFO"
        assert (sim.dir / "vk.pid").exists()


def test_checkpt_errors(sim):
    env = dict(os.environ, VKCKPT_SIMHOST=str(sim.host.root), PYTHONPATH=str(REPO))
    base = [sys.executable, "-m", "buildbot_vkckpt.simhost.hosttools", "checkpt"]
    p = subprocess.run(base, env=env, capture_output=True, text=True)
    assert (p.returncode, p.stderr) == (1, "checkpt -r file.ckpt\n")
    p = subprocess.run(base + ["-r", "/nonexistent.ckpt"], env=env, capture_output=True,
                       text=True)
    assert (p.returncode, p.stderr) == (1, "unable to open /nonexistent.ckpt\n")
    junk = sim.dir / "junk.ckpt"
    junk.write_text("junk")
    p = subprocess.run(base + ["-r", str(junk)], env=env, capture_output=True, text=True)
    assert (p.returncode, p.stderr) == (5, "thaw failed error 22 Invalid argument\n")


def test_ckptgroup_applies_to_root(sim):
    vk = boot(sim)
    with sim.host.update_state() as st:
        st["sysctl"]["kern.ckptgroup"] = 4242
    os.kill(vk.child_pid(), 34)
    deadline = time.monotonic() + 5
    message = "kernel: Couldn't save checkpoint file: Operation not permitted"
    while message not in vk.stderr() and time.monotonic() < deadline:
        vk.read_some(0.05)
    assert message in vk.stderr() and vk.proc.poll() is None


@pytest.mark.parametrize("fault,message", [
    ("ckpt-enospc", "kernel: Couldn't save checkpoint file: No space left on device"),
    ("ckpt-rlimit-core", "kernel: Couldn't save checkpoint file: Result too large"),
])
def test_checkpoint_failure_wedges(sim, fault, message):
    vk = boot(sim)
    sim.faults(**{fault.replace("-", "_"): None})
    os.kill(vk.child_pid(), 34)
    deadline = time.monotonic() + 5
    while message not in vk.stderr() and time.monotonic() < deadline:
        vk.read_some(0.05)
    assert message in vk.stderr()
    assert vk.proc.poll() is None   # wedged, not exited
    assert "checkpointing to kernel.ckpt" in sim.host.messages.read_text()
    assert "checkpointing" not in vk.text()        # host log lines never reach the console


def test_corrupt_checkpoint_fails_thaw(sim):
    vk = boot(sim)
    sim.faults(ckpt_corrupt=None)
    ckpt = checkpoint(sim, vk)
    r = Restored(sim, ckpt)
    sim.started.append(r)
    assert r.wait() == 5
    assert "thaw failed error 22 Invalid argument" in r.stderr()
    os.unlink(ckpt)


def test_restore_panics(sim):
    vk = boot(sim)
    ckpt = checkpoint(sim, vk)
    sim.faults(restore_panics=None)
    r = Restored(sim, ckpt)
    sim.started.append(r)
    r.expect("Restoring vmspaces...")
    r.expect("panic: vmspace_ctl: cannot restore vmspace")
    r.expect("db> ")
    os.unlink(ckpt)


def test_thaw_outside_ckptgroup_is_eperm(sim):
    vk = boot(sim)
    ckpt = checkpoint(sim, vk)
    with sim.host.update_state() as st:
        st["sysctl"]["kern.ckptgroup"] = 4242
    r = Restored(sim, ckpt)
    sim.started.append(r)
    assert r.wait() == 5
    assert r.stderr() == "thaw failed error 1 Operation not permitted\n"
    os.unlink(ckpt)


def test_a_vmm_vkernel_dumps_its_ram_and_cannot_come_back(sims):
    """GSoC: VMM is hw.vmm.enable alone; VMM guest RAM is anonymous NORMAL memory, so it is a
    PT_LOAD of the file and no VPAGETABLE mapping is referenced: the thaw cannot restore it."""
    sim = sims("gsoc2013")
    with sim.host.update_state() as st:
        st["sysctl"]["hw.vmm.enable"] = 1
    vk = boot_shell(sim)
    ckpt = checkpoint(sim, vk)
    found, loads = notes(ckpt)
    assert any(s["p_vaddr"] == 512 << 30 and s["p_filesz"] == 64 << 20 for s in loads)
    assert all(t != 2 for _, t, _ in gsoc_maps(found[2][2]))
    r = Restored(sim, ckpt)
    sim.started.append(r)
    assert r.wait() == -signal.SIGSEGV
    os.unlink(ckpt)   # lets the keeper go, with the frozen guest


def test_restore_from_another_directory_with_relative_paths(sim):
    """Descriptors come back by handle: a vkernel started with relative paths is restored from
    any cwd."""
    image = sim.image()
    vk = sim.start("-r", image.name, "-i", "mem.img", memory=True)
    vk.expect("vkernel# ")
    ckpt = checkpoint(sim, vk)
    elsewhere = sim.dir / "elsewhere"
    elsewhere.mkdir()
    r = Restored(sim, ckpt, cwd=elsewhere)
    sim.started.append(r)
    r.expect("Restored from checkpoint...")
    r.send("halt\r")
    r.expect("cpu halt, exiting vkernel")
    assert r.wait() == 0
    assert not (sim.dir / "vk.pid").exists()     # cpu_halt's cleanpid() found the pidfile
    os.unlink(ckpt)
