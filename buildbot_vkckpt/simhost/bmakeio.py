"""The simulated make's command line and paced output (bmake.py)."""
import sys
import time

from .bmakedata import (DASHES, SPEED_VAR)


# --- command line ----------------------------------------------------------------------------
class Invocation:
    """bmake's command line: targets, ``-j``, ``-C``, ``-DVAR`` and ``VAR=value``."""

    def __init__(self, argv):
        self.targets, self.jobs, self.chdir, self.vars = [], None, None, {}
        args = list(argv)
        while args:
            arg = args.pop(0)
            if arg in ("-j", "-D", "-C", "-m", "-f", "-I", "-V", "-d", "-T") and args:
                value = args.pop(0)
                self._option(arg[1], value)
            elif arg.startswith("-") and len(arg) > 2 and arg[1] in "jDCmfIVdT":
                self._option(arg[1], arg[2:])
            elif arg.startswith("-"):
                pass  # -s, -k, -n, -B ...: accepted, no effect here
            elif "=" in arg:
                name, _, value = arg.partition("=")
                self.vars[name] = value
            else:
                self.targets.append(arg)

    def _option(self, flag, value):
        if flag == "j":
            try:
                self.jobs = max(1, int(value))
            except ValueError:
                self.jobs = 1
        elif flag == "D":
            self.vars[value] = "1"
        elif flag == "C":
            self.chdir = value


# --- output ------------------------------------------------------------------------------------
class Output:
    """stdout/stderr with pacing: a stage's lines take its share of the build's time, flushed in
    small pieces so a live log shows progress. Speed 0 means instant."""

    CHUNKS = 8

    def __init__(self, speed, out=None, err=None):
        self.speed = speed
        self.streams = {"out": out or sys.stdout, "err": err or sys.stderr}
        self._last = "out"

    def write(self, stream, text):
        if stream != self._last:
            self.streams[self._last].flush()
            self._last = stream
        self.streams[stream].write(text + "\n")

    def out(self, text=""):
        self.write("out", text)

    def err(self, text):
        self.write("err", text)

    def flush(self):
        for s in self.streams.values():
            s.flush()

    def banner(self, text):
        for line in ("", DASHES, text, DASHES):
            self.out(line)
        self.flush()

    def paced(self, lines, seconds):
        """Write (stream, text) pairs over ``seconds`` nominal seconds."""
        delay = 0 if self.speed <= 0 else seconds / self.speed / self.CHUNKS
        step = max(1, -(-len(lines) // self.CHUNKS))
        for i in range(0, len(lines), step):
            for stream, text in lines[i:i + step]:
                self.write(stream, text)
            self.flush()
            if delay:
                time.sleep(delay)


def speed_from(host, environ):
    """Build speed factor: ``VKCKPT_SIM_SPEED`` (env) or ``sim_speed`` in host state; 1 = the
    demo's pace, 0 = instant, 2 = twice as fast."""
    raw = environ.get(SPEED_VAR)
    if raw is None:
        try:
            raw = host.load_state().get("sim_speed")
        except (OSError, ValueError, AttributeError):
            raw = None
    try:
        return max(0.0, float(raw)) if raw is not None else 1.0
    except (TypeError, ValueError):
        return 1.0


def date_now():
    """``LC_ALL=C date``."""
    return time.strftime("%a %b %e %H:%M:%S %Z %Y")


def write_marker(path, text, mode=0o644):
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as exc:   # a failed write(2) names no file; the tool's message does
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    path.chmod(mode)
