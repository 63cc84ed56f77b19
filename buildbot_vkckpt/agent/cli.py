"""Argument parsing and the run wrapper that turns every ending into one result event."""
import argparse
import importlib
import os
import sys

from .events import Emitter, Outcome, result_event

SUBCOMMANDS = {
    "preflight": ("preflight", "check the host before anything is touched"),
    "image": ("image", "build (or reuse) the vkernel root image"),
    "boot": ("boot", "start the supervisor and boot the vkernel until the guest shell answers"),
    "exec": ("execcmd", "run one command in the guest"),
    "shutdown": ("shutdown", "stop the vkernel and release everything the session holds"),
    "cleanup": ("cleanupcmd", "release what crashed earlier sessions left behind"),
    "ddb": ("ddbcmd", "break into the vkernel's debugger and run ddb commands"),
    "status": ("status", "show the session's state"),
    "collect": ("collect", "copy console log, ledger, events and results for upload"),
    "results": ("results", "print the guest suite's TAP from the results disk as events"),
    "probe": ("probe", "decide, without harm, whether this vkernel and host can checkpoint"),
    "checkpoint": ("checkpoint", "checkpoint the vkernel (SIGCKPTEXIT) and validate the file"),
    "restore": ("restore", "restore the vkernel with checkpt -r and wait for its shell"),
    "verify": ("verify", "prove the guest continued after a restore (--prepare before)"),
}
NEEDS_SESSION = {"image", "boot", "exec", "ddb", "shutdown", "status", "collect", "probe",
                 "checkpoint", "restore", "verify"}


def build_parser(only=None):
    """The parser; with ``only``, just that subcommand's module is imported, because every
    cycle runs several agent commands and each import costs start-up time."""
    parser = argparse.ArgumentParser(prog="vkckpt-agent",
                                     description="vkernel session agent for buildbot-vkckpt")
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND")
    sub.required = True
    for name, (modname, help_text) in SUBCOMMANDS.items():
        # a command's run needs only its own parser: building all fourteen cost every
        # command about 8 ms (argparse formatters and message lookups); --help builds them all
        if only is not None and name != only:
            continue
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod = importlib.import_module(f"{__package__}.{modname}")
        p.add_argument("--session", default=None, help="session directory")
        mod.add_arguments(p)
        p.set_defaults(_module=mod)
    return parser


def main(argv=None, stream=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    only = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    args = build_parser(only).parse_args(argv)
    journal = None
    if args.session and args.command in NEEDS_SESSION | {"preflight"}:
        os.makedirs(args.session, exist_ok=True)
        journal = os.path.join(os.path.abspath(args.session), "events.jsonl")
    emitter = Emitter(stream=stream, journal=journal)
    if args.command in NEEDS_SESSION and not args.session:
        return emitter.finish(Outcome.infrastructure(
            f"{args.command} needs --session DIR", "pass --session").to_event())
    try:
        result = args._module.run(args, emitter)
    except Outcome as outcome:
        result = outcome.to_event()
    except KeyboardInterrupt:
        result = Outcome.infrastructure(f"{args.command} interrupted",
                                        "run shutdown/cleanup for the session").to_event()
    except Exception as exc:  # noqa: BLE001 - any bug still ends in one result event
        import traceback    # only for an agent bug: not in every command's start-up
        traceback.print_exc(file=sys.stderr)
        result = Outcome.infrastructure(f"agent error in {args.command}: {exc!r}",
                                        "report this agent bug with the step log").to_event()
    if not isinstance(result, dict) or result.get("ev") != "result":
        result = result_event("infrastructure", f"{args.command} gave no result",
                              "infrastructure", "report this agent bug")
    return emitter.finish(result)
