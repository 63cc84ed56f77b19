"""``vkckpt classify``: say what a saved console transcript or build log shows.

Exit status: 0 when every file could be read (whatever the verdicts), 2 when one could not.
"""
import json
import sys

HELP = "classify console transcripts (booted/panic/ddb/...) or build logs"


def add_arguments(parser):
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="transcript or log to read ('-' for standard input)")
    parser.add_argument("--kind", choices=("console", "build"), default="console",
                        help="what the files are (default: console)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object per file, one per line")
    parser.add_argument("--shell-prompt", default=None,
                        help="shell prompt the transcript used (console kind)")


def _read(path):
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as fh:
        return fh.read()


def _console(data, args):
    from buildbot_vkckpt.monitor.console import classify
    return classify(data, shell_prompt=args.shell_prompt).to_json()


def _build(data, args):
    # Imported here so the console kind works without the build-output monitor.
    from buildbot_vkckpt.monitor.buildlog import classify_build
    return dict(classify_build(data))


def _human(result):
    name = result["file"]
    if result.get("kind") == "build":
        line = f"{name}: build {result.get('state')}"
        if result.get("stage"):
            line += f" in {result['stage']}"
        if result.get("first_error"):
            line += f": {result['first_error']}"
        count = result.get("warnings", 0)
        return line + f" ({count} warning{'s' if count != 1 else ''})"
    line = f"{name}: {result['state']}"
    if result.get("panic"):
        panic = result["panic"]
        trap = f" (trap {panic['trap']})" if panic.get("trap") is not None else ""
        line += f": {panic['message']}{trap}"
    if result.get("backtrace"):
        line += " [" + " < ".join(result["backtrace"][:6]) + "]"
    if result.get("boot_failure"):
        line += f": {result['boot_failure']}"
    if result["state"] == "vkernel_error" and result.get("vkernel_error"):
        line += f": {result['vkernel_error']}"
    if result.get("reached_login"):
        line += "; reached login"
    if result.get("warnings"):
        count = result["warnings"]
        line += f"; {count} warning{'s' if count != 1 else ''}"
    return line


def run(args):
    status = 0
    handler = _build if args.kind == "build" else _console
    for path in args.files:
        try:
            data = _read(path)
        except OSError as exc:
            print(f"vkckpt classify: {path}: {exc.strerror or exc}", file=sys.stderr)
            status = 2
            continue
        try:
            result = handler(data, args)
        except ImportError as exc:
            print(f"vkckpt classify: --kind {args.kind} unavailable: {exc}", file=sys.stderr)
            return 2
        except Exception as exc:  # a parser bug must not turn into a traceback for the user
            print(f"vkckpt classify: {path}: cannot classify: {exc!r}", file=sys.stderr)
            status = 2
            continue
        result = {"file": path, **{k: v for k, v in result.items() if k != "file"}}
        print(json.dumps(result) if args.json else _human(result), flush=True)
    return status
