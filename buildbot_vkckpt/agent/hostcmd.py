"""Running host tools (vnconfig, mount, make, ...) with their output kept for the report."""
import subprocess

from .events import Outcome


class CommandFailed(Exception):
    def __init__(self, argv, returncode, output):
        super().__init__(f"{' '.join(argv)} exited {returncode}")
        self.argv = argv
        self.returncode = returncode
        self.output = output

    def last_line(self):
        lines = [ln for ln in self.output.splitlines() if ln.strip()]
        return lines[-1].strip() if lines else "(no output)"


def run(argv, check=True, env=None, cwd=None, emitter=None, timeout=None):
    """Run ``argv``; return its combined output. Raises CommandFailed (or Outcome when the
    tool is missing)."""
    argv = [str(a) for a in argv]
    if emitter is not None:
        emitter.human("$ " + " ".join(argv))
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, env=env, cwd=cwd, timeout=timeout)
    except FileNotFoundError as exc:
        raise Outcome.infrastructure(f"host tool {argv[0]} not found",
                                     f"install {argv[0]} or fix PATH on the worker") from exc
    output = proc.stdout.decode("utf-8", "replace")
    if emitter is not None and output.strip():
        for line in output.splitlines()[-40:]:
            emitter.human("  " + line)
    if check and proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, output)
    return output


def stream(argv, emitter, env=None, cwd=None):
    """Run a long command (make), printing its output as it comes; returns (rc, last lines)."""
    argv = [str(a) for a in argv]
    emitter.human("$ " + " ".join(argv))
    tail = []
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, cwd=cwd)
    except FileNotFoundError as exc:
        raise Outcome.infrastructure(f"host tool {argv[0]} not found",
                                     f"install {argv[0]} or fix PATH on the worker") from exc
    with proc.stdout:
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            emitter.console_line(line)
            tail.append(line)
            del tail[:-20]
    return proc.wait(), tail


def sysctl(name):
    """``sysctl -n NAME``'s value, or None when the host has no such sysctl (or no sysctl):
    a failing sysctl's message is never taken for a value."""
    try:
        proc = subprocess.run(["sysctl", "-n", name], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    out = proc.stdout.decode("utf-8", "replace").strip()
    if proc.returncode != 0 or not out or "unknown oid" in out or "not found" in out.lower():
        return None
    return out
