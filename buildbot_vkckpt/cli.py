"""The ``vkckpt`` command.

Each subcommand lives in its own module, which provides ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Modules keep heavy imports (Twisted,
Buildbot) inside ``run`` so ``vkckpt --help`` stays fast.
"""
import argparse
import importlib
import sys

COMMANDS = {
    "demo": "buildbot_vkckpt.demo",
    "classify": "buildbot_vkckpt.classify",
    "simhost": "buildbot_vkckpt.simhost.cli",
    "inspect": "buildbot_vkckpt.inspect",
    "hostcheck": "buildbot_vkckpt.hostcheck",
}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="vkckpt", description="DragonFly BSD vkernel checkpoint testing for Buildbot")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, modname in COMMANDS.items():
        try:
            mod = importlib.import_module(modname)
        except ImportError as exc:  # a command whose module is missing must not break the others
            p = sub.add_parser(name, help=f"(unavailable: {exc})")
            p.set_defaults(_broken=str(exc))
            continue
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if getattr(args, "_broken", None):
        print(f"vkckpt {args.command}: unavailable: {args._broken}", file=sys.stderr)
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
