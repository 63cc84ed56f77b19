"""Checkpointing the simulated vkernel: the GSoC handler, the host's default action, resume.

* Handler flavours (``gsoc2013``, ``master-with-port``; GSoC ``platform/init.c``
  ``ckpt_sighandler``): SIGCKPT prints ``Checkpointing and continuing is not supported. Use
  SIGCKPTEXIT instead.``; SIGCKPTEXIT freezes (guest processes stopped, console read off),
  ``netif_close()``, ``msync``s the guest memory — the guest state the simulator needs at
  restore is written into the memory image here, where a real guest's memory is — then
  ``sys_checkpoint(CKPT_FREEZE, -1, -1, -1)`` (hostckpt.py). 0 → ``exit(0)`` without
  ``cleanpid()`` (the pidfile stays); failure → ``<prog>: Couldn't save checkpoint file:
  <strerror>`` and the vkernel is wedged.
* ``master2020`` (no handler): SIGCKPT and SIGCKPTEXIT take the host kernel's default action
  (``SA_CKPT``, ``SA_KILL|SA_CKPT``): a checkpoint of the process as it is (no msync, no netif
  close), then — for SIGCKPTEXIT — death by the signal.

What the host kernel dumps of the vkernel process (:func:`image`): descriptors >= 3 (pidfile,
memory image, disk images) by handle, plus its kqueue; the kernel binary's text mapping, the
memory image's VPAGETABLE KVA mapping and its MAP_NOCORE DMAP mapping by handle; the NORMAL
data/heap/stack segments as PT_LOADs (the stack holds argv, as a real one's top does). Guest RAM
is never copied.

Resume (:func:`resume`, from ``checkpt -r`` on a handler flavour): ``Restoring vmspaces...``,
the guest processes back, ``Restored from checkpoint...``.
"""
import json
import os
import signal
import struct
import time

from . import ckptfile, ckptkeeper, dferrno, guestshell, hostckpt, kernelbin, netif

KVA_START = 512 << 30          # init_kern_memory(): first try at 512 GB
DMAP_START = 0x7ff000000000
HEAP_BASE = 0x10000000
STACK_TOP = 0x7ffffffff000
STACK_SIZE = 32 * ckptfile.PAGE
STATE_OFFSET = 0               # where the guest's state sits in its "physical" memory


# --- what the host kernel sees of the vkernel process ------------------------------------------
def image(k, kind):
    host = k.host
    files = hostckpt.open_fds(host)
    kq = ckptfile.FileRef(max([f.index for f in files] + [2]) + 1, ckptfile.FREAD, 0, None,
                          [ckptfile.kevent(0, -1, 0x1), ckptfile.kevent(k.sig_fd or 0, -1, 0x1)])
    files.append(kq)   # init_kqueue(): console input and signals
    maps = []
    binary = k.binary
    try:
        size = ckptfile.round_page(os.path.getsize(binary))
        maps.append(ckptfile.MapRef(hostckpt.make_handle(host, binary, binary), 0x400000, size,
                                    0, ckptfile.PF_R | ckptfile.PF_X,
                                    eflags=ckptfile.MAP_ENTRY_COW))
    except OSError:
        pass
    if k.memimg_path:
        h = hostckpt.make_handle(host, k.memimg_fd, k.memimg_path)
        maps.append(ckptfile.MapRef(h, KVA_START, k.memsize, KVA_START,
                                    ckptfile.PF_R | ckptfile.PF_W, ckptfile.VM_MAPTYPE_VPAGETABLE,
                                    ckptfile.MAP_ENTRY_NOSYNC, master_pde=0x7))
        maps.append(ckptfile.MapRef(h, DMAP_START, k.memsize, 0, ckptfile.PF_R | ckptfile.PF_W,
                                    eflags=ckptfile.MAP_ENTRY_NOCOREDUMP
                                    | ckptfile.MAP_ENTRY_NOSYNC))
    argv = [k.opts.argv0] + list(k.argv)
    strings = b"".join(a.encode() + b"\0" for a in argv)
    stack = bytes(STACK_SIZE - len(strings) - 8) + strings + bytes(8)
    segments = [ckptfile.Segment(0x600000, 64 * ckptfile.PAGE),
                ckptfile.Segment(HEAP_BASE, 512 * ckptfile.PAGE)]
    if not k.memimg_path:   # VMM: guest RAM is anonymous NORMAL memory and is dumped
        segments.append(ckptfile.Segment(KVA_START, k.memsize))
    segments += [ckptfile.Segment(STACK_TOP - (1 << 20) * (i + 1), 16 * ckptfile.PAGE)
                 for i in range(k.opts.ncpus)]
    segments.append(ckptfile.Segment(STACK_TOP - STACK_SIZE, STACK_SIZE, data=stack))
    out = {"tids": list(range(1, k.opts.ncpus + 3)), "files": files, "maps": maps,
           "segments": segments}
    if host.fault("ckpt-enospc") is not None:
        out["fail_after"] = 3 * ckptfile.PAGE
    return out


def stack_argv(path, segments):
    """argv from the top of the dumped main stack (the last PT_LOAD), as ps_strings holds it."""
    vaddr, off, size, _ = segments[-1]
    with open(path, "rb") as fh:
        fh.seek(off)
        data = fh.read(size)
    return [s.decode(errors="replace") for s in data.rstrip(b"\0").split(b"\0")
            if s][-64:] if data.strip(b"\0") else []


# --- guest state in the memory image (written at the handler's msync) -------------------------
def msync_state(k, state):
    blob = json.dumps(state, separators=(",", ":")).encode()
    os.pwrite(k.memimg_fd, struct.pack("<Q", len(blob)) + blob, STATE_OFFSET)
    os.fsync(k.memimg_fd)


def read_state(memimg):
    """The guest's state back from its memory, or None when the memory is not what it was."""
    try:
        with open(memimg, "rb") as fh:
            fh.seek(STATE_OFFSET)
            n, = struct.unpack("<Q", fh.read(8))
            if not 0 < n < 1 << 26:
                return None
            return json.loads(fh.read(n).decode())
    except (OSError, ValueError, struct.error, UnicodeDecodeError):
        return None


# --- the handler and the host's default action -------------------------------------------------
def freeze(k):
    k.cancel_timers()
    k.read_console(False)
    if k.shell:
        k.shell.freeze(k.sel)


def guest_state(k, keeper, pids):
    return {"boottime": k.boottime, "hostname": getattr(k, "hostname", "vkernel"),
            "msgbuf": k.msgbuf[-200:], "root": k.guest.root, "sim": k.guest.sim,
            "root_spec": getattr(k, "root_spec", None), "sysctls": k.guest.writable,
            "keeper": keeper, "shell_pid": k.shell.pid if k.shell else None,
            "processes": [{"pid": p} for p in pids],
            "netifs": [n.to_state() for n in k.netifs], "memsize": k.memsize,
            "state": k.state}


def handler_exit(k):
    """ckpt_sighandler(SIGCKPTEXIT)."""
    started = time.monotonic()
    freeze(k)
    netif.close_all(k, k.netifs)   # netif_close(): every -I fd, tap or socket
    keeper = f"vkckpt-ckpt-{os.getpid()}-{int(time.time() * 1000)}"
    pids = guestshell.session_pids(k.shell.pid) if k.shell else []
    if k.memimg_path:
        k.memimg_stamp = None
        msync_state(k, guest_state(k, keeper, pids))
    code, path = hostckpt.syscall_checkpoint(k.host, k.comm, lambda kind: image(k, kind))
    if code:
        k.write_err(f"{k.opts.prog}: Couldn't save checkpoint file: "
                    f"{dferrno.strerror(code)}\n")
        k.state = "wedged"   # no restart_cpus, no crit_exit: nothing runs any more
        return
    record_io(k.host, "write", path, started)
    if k.host.fault("ckpt-corrupt") is not None:
        corrupt_notes(path)
    if k.shell:
        k.shell.hand_over()
        ckptkeeper.start(keeper, k.shell.master, pids, path)
        os.close(k.shell.master)
        k.shell.master = None
        k.shell = None      # the keeper holds the guest now; teardown must not kill it
    k.ckpt_written = (path, time.monotonic())
    k.exit(0)


def default_action(k, sig):
    """No handler: the host kernel's SA_CKPT (and SA_KILL for 34) on the running vkernel."""
    hostckpt.signal_checkpoint(k.host, k.comm, lambda kind: image(k, kind))
    if sig == 34:
        k.teardown(cleanpid=False)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)


# --- resume after checkpt -r ------------------------------------------------------------------
def resume(k, state, master, memory_ok=True):
    """ckpt_sighandler() returning > 0: devices back, console, guest thawed (§19 step 4)."""
    k.restored = True
    k.boottime = state["boottime"]
    k.msgbuf = list(state.get("msgbuf", []))
    k.hostname = state.get("hostname", "vkernel")
    k.root_spec = state.get("root_spec")
    k.memsize = state.get("memsize") or 0
    k.reopen_devices()
    k.guest = guestshell.GuestEnvironment(k)
    k.guest.root, k.guest.sim = state.get("root"), state.get("sim")
    k.guest.writable.update(state.get("sysctls") or {})
    if k.guest.root:
        k.guest.write_bin()
    k.netifs = netif.restore_all(k, state.get("netifs"))   # netif_restore()
    k.console_init()
    k.install_signals()
    k.kprintf("Restoring vmspaces...")
    k.shell = guestshell.ShellPty(state.get("shell_pid"), master)
    k.shell.frozen = True
    pids = [p["pid"] for p in state.get("processes", [])]
    planted = kernelbin.planted_in_binary(k.binary)     # the tree's regression knob
    if not memory_ok or k.host.fault("restore-panics") is not None \
            or "restore-panics" in planted:
        k.panic("vmspace_ctl: cannot restore vmspace", "syscall")
        return
    if k.host.fault("restore-hangs") is not None:
        k.state = "hung"
        return
    if k.host.fault("restore-loses-process") is not None or "restore-loses-process" in planted \
            or flaky_fires(k.host, "restore-loses-process-flaky"):
        # every guest process but root's shell: "the newest" was often a transient child
        # (vmstat's sleep), which made the fault fire at random
        for pid in pids:
            if pid != state.get("shell_pid"):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
    slow_restore(k.host)
    k.kprintf("Restored from checkpoint...")
    io = state.get("sim_io")
    if io:
        record_io(k.host, "resume", io["path"], io["read_done"])
    k.shell.thaw(k.sel, k.on_shell_output)
    k.state = "shell"
    k.read_console(True)


def flaky_fires(host, name):
    """Fault ``NAME[=K]`` (a test knob, not DragonFly behaviour) fires on its first K
    (default 1) occasions only, counted in the host state: a flaky fault, for re-runs."""
    arg = host.fault(name)
    if arg is None:
        return False
    with host.update_state() as state:
        counts = state.setdefault("flaky_faults", {})
        seen = counts.get(name, 0)
        counts[name] = seen + 1
    return seen < (int(arg) if str(arg).isdigit() else 1)


def slow_factor(arg):
    """The ``restore-slow`` fault's argument as a factor > 1 (default 2), or None."""
    try:
        factor = float(arg) if arg not in (None, "") else 2.0
    except ValueError:
        return None
    return factor if 1 < factor <= 100 else None


RESTORE_TIMES = "restore-times"     # in state/: seconds each unslowed restore took, one a line
RESTORE_HISTORY = 15                # five builds of three cycles: drift in load evens out


def slow_restore(host):
    """Fault ``restore-slow[=F]`` (a test knob, not DragonFly behaviour): the restore takes
    F times (default 2) as long as the host's last 15 unslowed restores did (their median), by
    waiting before ``Restored from checkpoint...``; without earlier restores, F times as long
    as it has so far. Every unslowed restore is timed for that (from checkpt's start)."""
    elapsed = max(0.0, time.monotonic() - process_started())
    times = host.state_dir / RESTORE_TIMES
    arg = host.fault("restore-slow")
    if arg is None:
        try:
            with open(times, "a") as fh:
                fh.write(f"{elapsed:.4f}\n")
        except OSError:
            pass
        return
    factor = slow_factor(arg) or 2.0
    try:
        earlier = [float(x) for x in times.read_text().split()][-RESTORE_HISTORY:]
    except (OSError, ValueError):
        earlier = []
    target = factor * (_median(earlier) if earlier else elapsed)
    time.sleep(max(0.0, target - elapsed))


def _median(values):
    # not statistics.median: importing statistics was a tenth of every simulated vkernel's start
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def corrupt_notes(path):
    """Damage the first NT_PRSTATUS note's type, as a torn write would (fault ckpt-corrupt)."""
    with open(path, "r+b") as fh:
        head = fh.read(1 << 16)
        for size in (ckptfile.GSOC_PRSTATUS_SIZE, ckptfile.STOCK_PRSTATUS_SIZE):
            pos = head.find(struct.pack("<III", 5, size, ckptfile.NT_PRSTATUS))
            if pos >= 0:
                fh.seek(pos + 8)
                fh.write(struct.pack("<I", 0x7777))
                return


# --- timing log for benchmarks ---------------------------------------------------------------
def process_started():
    """This process's start on the monotonic clock (Linux; 10 ms ticks), else now."""
    try:
        from .host import proc_dir
        with open(f"{proc_dir()}/self/stat") as fh:
            ticks = int(fh.read().rpartition(")")[2].split()[19])
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
        return time.monotonic() - max(0.0, age)
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic()


def record_io(host, op, path, started):
    """Log how long the simulated kernel spent on a checkpoint (``write``, ``read``,
    ``resume``, ``exit``) in state/ckpt-io.jsonl, so benchmarks can tell the harness's time
    from the simulated kernel's."""
    try:
        size = os.path.getsize(path)
    except (OSError, TypeError):
        size = None
    now = time.monotonic()
    line = json.dumps({"op": op, "path": str(path), "bytes": size,
                       "seconds": now - started, "ended": now})
    try:
        with open(host.state_dir / "ckpt-io.jsonl", "a") as fh:
            fh.write(line + "\n")
    except OSError:
        pass
