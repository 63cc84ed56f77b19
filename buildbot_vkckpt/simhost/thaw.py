"""``checkpt -r FILE`` on the simulated host (usr.bin/checkpt, kern_checkpoint.c CKPT_THAW).

``checkpt``: usage ``checkpt -r file.ckpt`` exit 1; ``unable to open FILE`` exit 1; then
``sys_checkpoint(CKPT_THAW, fd, -1, 1)``; failure: ``thaw failed error N <strerror>``, exit 5.
The thaw, as the host kernel of this host (``host_kernel``) does it:

1. ``kern.ckptgroup`` membership, root included → EPERM.
2. ``ckpt_thaw_proc``: ELF header, program headers, notes validated (ckptfile.read_core) →
   EINVAL; a GSoC kernel rejects a stock file and the other way round (prpsinfo version).
3. ``elf_getfiles``/``elf_getmaps``: every handle reopened (``ckpt_fhtovp``) → ESTALE when the
   file is gone or is another file now.
4. The process image is replaced: on success this process *is* the restored program, on the
   same fds 0-2 (like exec). A vkernel with the handler resumes in it (``Restoring
   vmspaces...``); a memory image written since the checkpoint gives a guest whose memory is not
   what it was: it panics while restoring. A stock-layout vkernel (no VPAGETABLE mapping) faults
   at its first touch of kernel memory (SIGSEGV). A ``sleep`` (the probe helper) just sleeps on.
"""
import os
import signal
import sys
import time

from . import ckptfile, flavours, hostckpt, kernelckpt
from . import dferrno as errno


def checkpt(host, args):
    from . import bsdgetopt as getopt
    try:
        opts, _ = getopt.getopt(args, "r:")
    except getopt.GetoptError:
        opts = []
    files = [v for o, v in opts if o == "-r"]
    if not files:
        print("checkpt -r file.ckpt", file=sys.stderr)
        return 1
    path = files[-1]
    try:
        with open(path, "rb"):
            pass
    except OSError:
        print(f"unable to open {path}", file=sys.stderr)
        return 1
    started = kernelckpt.process_started()
    try:
        restored = thaw(host, path)
    except ckptfile.ThawError as exc:
        print(f"thaw failed error {exc.errno} {errno.strerror(exc.errno)}", file=sys.stderr)
        return 5
    kernelckpt.record_io(host, "read", path, started)
    return restored()


def thaw(host, path):
    """Validate and reopen; returns a callable that runs the restored program."""
    if host.fault("restore-thaw-fails") is not None:
        raise ckptfile.ThawError(errno.EINVAL)
    if not hostckpt.in_ckptgroup(host):
        raise ckptfile.ThawError(errno.EPERM)
    kind = hostckpt.layout(host)
    core = ckptfile.read_core(path, kind)
    opened = [hostckpt.fhtovp(host, f.handle) for f in core["files"]
              if f.handle is not None and f.index >= 0]
    paths = [hostckpt.fhtovp(host, m.handle) for m in core["maps"]]
    _page_in(path)
    vpt = [(m, p) for m, p in zip(core["maps"], paths)
           if m.maptype == ckptfile.VM_MAPTYPE_VPAGETABLE]
    text = [p for m, p in zip(core["maps"], paths) if m.flags & ckptfile.PF_X]
    binary = text[0] if text else None
    if core["comm"] == "sleep" or binary is None:
        return lambda: _sleep_on()
    argv = kernelckpt.stack_argv(path, core["segments"])
    if kind == "stock" or not vpt:
        return lambda: _fault()
    memimg = vpt[0][1]
    memory_ok = not hostckpt.changed(host, vpt[0][0].handle)
    state = kernelckpt.read_state(memimg) if memory_ok else None
    return lambda: _run_restored(host, binary, argv, memimg, state, path, opened)


def _sleep_on():
    """A restored ``sleep``: it carries on until killed (the probe kills it)."""
    while True:
        time.sleep(3600)


def _fault():
    """No VPAGETABLE mapping came back: the first touch of kernel memory faults (§18)."""
    sys.stdout.flush()
    signal.signal(signal.SIGSEGV, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGSEGV)
    return 139


def _page_in(path):
    with open(path, "rb", buffering=0) as fh:
        while fh.read(1 << 20):
            pass


def restored_path(name, opened):
    """The file a restored descriptor is open on: the vkernel's argv may name it relative to
    a cwd that is not the restorer's, but the thaw reopened it by handle."""
    if not name or os.path.isabs(name):
        return name
    tail = "/" + os.path.normpath(name)
    return next((p for p in opened if p.endswith(tail)), os.path.abspath(name))


def _run_restored(host, binary, argv, memimg, state, path, opened=()):
    from . import ckptkeeper, guestkernel, procname
    from .vkernel import Options, UsageError, parse_args

    flavour = flavours.get(flavours.of_binary(binary))
    argv0, args = (argv[0], argv[1:]) if argv else (binary, [])
    try:
        opts = parse_args(argv0, args, flavour)
    except UsageError:
        opts = None
    if not isinstance(opts, Options):
        opts = Options(argv0, flavour=flavour.name)
    opts.pidfile = restored_path(opts.pidfile, opened)
    opts.disks = [(restored_path(p, opened), cow) for p, cow in opts.disks]
    procname.set_comm(os.path.basename(binary))
    master = None
    memory_ok = state is not None
    if state is not None:
        try:
            master = ckptkeeper.take(state["keeper"])
        except (KeyError, OSError):
            # the simulator can thaw a file once: its guest processes went to the first restore
            print(f"thaw failed error {errno.ESRCH} {errno.strerror(errno.ESRCH)}",
                  file=sys.stderr)
            return 5
        state["sim_io"] = {"path": os.path.abspath(path), "read_done": time.monotonic()}
    else:
        state = {"boottime": time.time()}
    if not flavour.handler or host.fault("stock-vkernel") is not None:
        # no handler: the vkernel resumes where the signal hit it, its guest vmspaces gone
        memory_ok = False
    code = 1
    try:
        k = guestkernel.Kernel(opts, host)
        k.binary, k.comm = binary, os.path.basename(binary)[:16]   # p_comm from pr_fname
        k.memimg_path = memimg
        code = k.run(resume=(state, master, memory_ok))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return code
