"""``results``: the guest suite's TAP, read from the results disk and framed as events.

The guest ends its suite run with ``tar cf /dev/vkd1 -C RESULTS .``; vkd1 is ``results.img`` in
the session dir, so this reads that tar in place, after the run, without the console:

* ``{"ev": "tap", "lines": [...]}`` — the TAP file in order, several lines per event;
* ``{"ev": "test_log", "test": NAME, "file": F, "lines": [...]}`` — the last lines of
  ``runner.log`` and ``output.log`` of every test whose ``result`` is not ``PASS``;
* a result ``ok`` whose ``details.tap_lines`` lets the reader check that it saw every line, or
  ``infrastructure`` when the disk holds no tar or the tar no TAP.
"""
import tarfile

from .events import MAX_FIELD, Outcome, result_event
from .session import Session

FRAME_BYTES = 2400          # JSON text of the lines in one event; well under MAX_LINE
LOG_FILES = ("runner.log", "output.log")


def add_arguments(p):
    p.add_argument("--tap", default="results.tap", help="TAP file inside the results tar")
    p.add_argument("--log-lines", type=int, default=20,
                   help="last lines of each log of a test that did not pass")


def frames(lines, budget=FRAME_BYTES):
    """Consecutive groups of lines whose total size stays under ``budget`` (at least one)."""
    group, size = [], 0
    for line in lines:
        line = line[:MAX_FIELD - 1]
        cost = len(line.encode("utf-8")) + 8       # quotes, comma and escapes, roughly
        if group and size + cost > budget:
            yield group
            group, size = [], 0
        group.append(line)
        size += cost
    if group:
        yield group


def _member_name(name):
    while name.startswith("./"):
        name = name[2:]
    return name


def read_results(path):
    """{name: bytes} of the regular files in the tar at the start of ``path``.

    Raises Outcome when there is no tar: the run never wrote its results there."""
    files = {}
    try:
        with open(path, "rb") as fh, tarfile.open(fileobj=fh, mode="r:") as tar:
            for member in tar:
                if member.isfile() and member.size <= 64 << 20:
                    data = tar.extractfile(member)
                    files[_member_name(member.name)] = data.read() if data else b""
    except FileNotFoundError:
        raise Outcome.infrastructure(f"no results disk {path}",
                                     "boot the vkernel with this session first") from None
    except (OSError, tarfile.TarError) as exc:
        if not files:
            raise Outcome.infrastructure(
                f"no results tar on the results disk {path} ({exc})",
                "the guest suite did not finish; see its console log") from None
    return files


def failed_tests(files):
    """Test work dirs (``NAME/runner.log``) whose ``NAME/result`` is not PASS."""
    names = sorted({n.split("/", 1)[0] for n in files if n.endswith("/runner.log")})
    return [n for n in names if not files.get(f"{n}/result", b"").startswith(b"PASS")]


def run(args, emitter):
    if not args.session:
        raise Outcome.infrastructure("results needs --session DIR", "pass --session")
    session = Session(args.session)
    files = read_results(session.results_img)
    tap = files.get(_member_name(args.tap))
    if not files:
        raise Outcome.infrastructure(
            f"no results tar on the results disk {session.results_img} (it is blank)",
            "the guest suite did not finish; see its console log")
    if tap is None:
        raise Outcome.infrastructure(
            f"the results disk holds no {args.tap} ({len(files)} file(s))",
            "run the suite with --results-disk /dev/vkd1")
    lines = tap.decode("utf-8", "replace").splitlines()
    for group in frames(lines):
        emitter.event({"ev": "tap", "lines": group})
    for test in failed_tests(files):
        for name in LOG_FILES:
            text = files.get(f"{test}/{name}", b"").decode("utf-8", "replace")
            tail = text.splitlines()[-max(args.log_lines, 0):] if args.log_lines else []
            for group in frames(tail):
                emitter.event({"ev": "test_log", "test": test, "file": name, "lines": group})
    emitter.human(f"{len(lines)} TAP line(s) from {session.results_img}")
    return result_event("ok", f"read {args.tap} ({len(lines)} lines) from the results disk",
                        details={"tap_lines": len(lines), "files": len(files)})
