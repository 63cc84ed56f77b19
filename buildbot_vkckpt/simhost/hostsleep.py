"""``sleep`` on the simulated host's PATH: bin/sleep, plus the host kernel's SIGCKPT action.

On DragonFly ``sleep`` installs no handler for SIGCKPT (33), so the signal takes its default
action ``SA_CKPT`` (``kern_sig.c``): the host kernel checkpoints the process
(``checkpoint_signal_handler``, hostckpt.py) and it carries on sleeping. The file's layout is
the host kernel's (``host_kernel``: GSoC notes NT_DRAGONFLY_FILES/MAPS, or stock): a probe can
tell the two apart by checkpointing ``sleep`` with a file open on fd 3. SIGCKPTEXIT (34):
checkpoint, then die by the signal (``SA_KILL|SA_CKPT``). The process's p_comm is ``sleep``.
"""
import os
import select
import signal
import sys
import time

from . import ckptfile, hostckpt, procname, sigckpt
from .host import SimHost


def image(host, kind):
    """What the host kernel dumps of this small process."""
    exe = host.bin / "sleep"
    maps = [ckptfile.MapRef(hostckpt.make_handle(host, str(exe), str(exe)), 0x400000,
                            ckptfile.round_page(max(1, exe.stat().st_size)), 0,
                            ckptfile.PF_R | ckptfile.PF_X, eflags=ckptfile.MAP_ENTRY_COW)]
    segments = [ckptfile.Segment(0x600000, 2 * ckptfile.PAGE),
                ckptfile.Segment(0x800000000, 16 * ckptfile.PAGE),
                ckptfile.Segment(0x7ffffffde000, 8 * ckptfile.PAGE,
                                 data=b"sleep\0" + sys.argv[-1].encode() + b"\0")]
    return {"tids": [1], "files": hostckpt.open_fds(host), "maps": maps, "segments": segments}


def parse(args):
    """Seconds to sleep (sleep(1): a number, fractions allowed)."""
    if len(args) != 1:
        return None
    try:
        value = float(args[0])
    except ValueError:
        return None
    return value if value >= 0 else None


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "sleep":
        argv = argv[1:]
    seconds = parse(argv)
    if seconds is None:
        print("usage: sleep seconds", file=sys.stderr)
        return 1
    procname.set_comm("sleep")
    signal.signal(signal.SIGINT, signal.SIG_DFL)   # die of ^C as sleep(1) does, no traceback
    host = SimHost.from_env()
    sfd = sigckpt.open_signalfd((sigckpt.SIGCKPT, sigckpt.SIGCKPTEXIT))
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return 0
        if sfd is None:
            time.sleep(left)
            continue
        r, _, _ = select.select([sfd], [], [], left)
        for sig in sigckpt.read_signals(sfd) if r else ():
            hostckpt.signal_checkpoint(host, "sleep", lambda kind: image(host, kind))
            if sig == sigckpt.SIGCKPTEXIT:
                sigckpt.unblock((sigckpt.SIGCKPTEXIT,))
                signal.signal(sig, signal.SIG_DFL)
                os.kill(os.getpid(), sig)
                return 1


if __name__ == "__main__":
    sys.exit(main())
