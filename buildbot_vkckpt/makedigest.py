"""The worker side of BuildWorld/BuildKernel's ``log_mode="digest"``: run make, stream a digest.

``python3 -S vkckpt-makelog-<sha12>.pyz --full-log FILE.gz [--tail N] [--interval S] -- make ...``

Runs the command with its stdout and stderr on one pipe (so the log has make's own order),
writes every byte to ``FILE.gz`` (gzip) and streams to its stdout only what
:class:`~buildbot_vkckpt.monitor.buildlogdigest.BuildLogDigest` keeps: banners, warnings, errors,
make's failure lines, the first error's context and the last lines, plus the latest lines at
least every ``--interval`` seconds while make talks. Its own two lines (start and end) go to
stderr, prefixed ``vkckpt-makelog:``. The exit status is the command's (128 + N when a signal
N ended it, 127 when it cannot be found, as sh(1) says), so the step maps it as it maps make's.

Standard library only: the step ships this module and ``monitor/`` to the worker as a small
zipapp (:func:`build_zipapp`), uploaded when its hash changed, like the agent's.
"""
import argparse
import gzip
import io
import os
import select
import signal
import subprocess
import sys
import zipfile

from buildbot_vkckpt.monitor.buildlogdigest import BuildLogDigest

PREFIX = "vkckpt-makelog:"
READ_SIZE = 64 * 1024


def _write(fd, data):
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _mb(n):
    if n < 1000:
        return f"{n} bytes"
    return f"{n / 1e6:.1f} MB" if n >= 100000 else f"{n / 1e3:.1f} KB"


def run(command, full_log, tail=50, interval=10.0, level=6, out_fd=1, err=None):
    """Run ``command``; returns its exit status as a shell would give it."""
    err = err or sys.stderr
    try:
        os.unlink(full_log)                   # never leave an older build's log to upload
    except FileNotFoundError:
        pass
    try:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except FileNotFoundError:
        print(f"{PREFIX} {command[0]}: not found", file=err, flush=True)
        return 127
    except PermissionError:
        print(f"{PREFIX} {command[0]}: permission denied", file=err, flush=True)
        return 126
    print(f"{PREFIX} running {' '.join(command)}; live: banners, warnings, errors and the "
          f"last lines; full log: {full_log} (gzip)", file=err, flush=True)

    def forward(signum, frame):               # the worker's sigtermTime: let make stop itself
        try:
            proc.send_signal(signum)
        except OSError:
            pass
    previous = signal.signal(signal.SIGTERM, forward)
    digest = BuildLogDigest(tail_lines=tail, interval=interval)
    fd = proc.stdout.fileno()
    try:
        with gzip.open(full_log, "wb", compresslevel=level) as gz:
            while True:
                ready, _, _ = select.select([fd], [], [], min(1.0, interval))
                if ready:
                    data = os.read(fd, READ_SIZE)
                    if not data:
                        break
                    gz.write(data)
                    _write(out_fd, digest.feed(data))
                if digest.due():
                    _write(out_fd, digest.flush())
            _write(out_fd, digest.close())
    finally:
        signal.signal(signal.SIGTERM, previous)
        proc.stdout.close()
    rc = proc.wait()
    status = 128 - rc if rc < 0 else rc
    try:
        size = os.path.getsize(full_log)
    except OSError:
        size = 0
    print(f"{PREFIX} {command[0]} exited {status} · {digest.lines:,} lines, "
          f"{_mb(digest.bytes)} read; {digest.kept_lines:,} lines, {_mb(digest.kept_bytes)} "
          f"streamed live; full log {full_log}: {_mb(size)} gzip", file=err, flush=True)
    return status


def main(argv=None):
    parser = argparse.ArgumentParser(prog="vkckpt-makelog", description=__doc__.split("\n")[0])
    parser.add_argument("--full-log", required=True, help="where to write the whole output "
                        "(gzip)")
    parser.add_argument("--tail", type=int, default=50, help="last lines always streamed")
    parser.add_argument("--interval", type=float, default=10.0,
                        help="longest time without streamed output while the command talks")
    parser.add_argument("--level", type=int, default=6, help="gzip compression level")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    return run(command, args.full_log, tail=args.tail, interval=args.interval,
               level=args.level)


# --- the zipapp (built on the master) ------------------------------------------------------------

_ZIP_MEMBERS = ("monitor/__init__.py", "monitor/events.py", "monitor/buildlog.py",
                "monitor/buildlogdigest.py",
                "makedigest.py")
_MAIN = ("import sys\nfrom buildbot_vkckpt.makedigest import main\n"
         "sys.exit(main())\n")


def build_zipapp():
    """The runner as zipapp bytes (deterministic: same sources, same bytes, same hash)."""
    here = os.path.dirname(os.path.abspath(__file__))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        def add(name, text):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, text)
        add("__main__.py", _MAIN)
        add("buildbot_vkckpt/__init__.py", "")   # the package's real one imports Buildbot
        for member in _ZIP_MEMBERS:
            with open(os.path.join(here, member), "rb") as f:
                add(f"buildbot_vkckpt/{member}", f.read())
    return b"#!/usr/bin/env python3\n" + buf.getvalue()


if __name__ == "__main__":
    sys.exit(main())
