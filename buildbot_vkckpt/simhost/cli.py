"""``vkckpt simhost``: create a simulated DragonFly host, inject faults, show its env and state.

::

    vkckpt simhost init ROOT [--flavour NAME] [--host-kernel gsoc|stock] [--python PATH]
                             [--speed X]
    vkckpt simhost fault ROOT NAME[=ARG]... | --clear | --list
    vkckpt simhost env ROOT
    vkckpt simhost state ROOT
"""
import json
import shlex
import sys

HELP = "create and control a simulated DragonFly host (for tests and the demo)"

# Faults the simulated build understands: name -> what its argument means.
BUILD_FAULTS = {
    "world-fail": "STAGE (1, 2, 2b, 2c, 3, 4a, 4b, 4c, 4d, 5; default 4b): buildworld fails there",
    "compile-error": "PATH (relative to the source tree): a compiler error in that file",
    "warning-storm": "N (default 500): N compiler warnings",
    "kernel-fail": "[PATH] (default sys/kern/kern_checkpoint.c): the kernel build fails",
    "world-missing": "act as if no buildworld had finished",
}


def add_arguments(parser):
    sub = parser.add_subparsers(dest="simhost_command", metavar="ACTION")
    sub.required = True

    p = sub.add_parser("init", help="create ROOT: tool wrappers, state and the source tree")
    p.add_argument("root")
    p.add_argument("--python", help="interpreter the tool wrappers run (default: this one)")
    p.add_argument("--speed", type=float,
                   help="build speed factor kept in the state (1 = demo pace, 0 = instant)")
    p.add_argument("--flavour", choices=("gsoc2013", "master2020", "master-with-port"),
                   help="the DragonFly flavour this host builds and runs "
                        "(default master-with-port)")
    p.add_argument("--host-kernel", choices=("gsoc", "stock"),
                   help="whether the host kernel has the GSoC checkpoint changes "
                        "(default: stock for master2020, gsoc otherwise)")

    p = sub.add_parser("fault", help="inject, clear or list faults")
    p.add_argument("root")
    p.add_argument("faults", nargs="*", metavar="NAME[=ARG]")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--clear", action="store_true", help="remove every fault first")
    group.add_argument("--list", action="store_true", help="print the injected faults")

    p = sub.add_parser("env", help="print export lines for a shell that uses the host")
    p.add_argument("root")

    p = sub.add_parser("state", help="print the host state as JSON")
    p.add_argument("root")


def parse_fault(text):
    """``name=arg`` -> (name, arg); ``name`` -> (name, None)."""
    name, sep, arg = text.partition("=")
    name = name.strip()
    if not name:
        raise ValueError(f"empty fault name in {text!r}")
    return name, (arg if sep else None)


def check_fault(name, arg):
    """A message for a fault the build simulator would misread, or None. Unknown names are
    allowed: other tools of the host read their own faults."""
    if name == "world-fail" and arg not in (None, "") and arg not in (
            "1", "2", "2b", "2c", "3", "4a", "4b", "4c", "4d", "5"):
        return f"world-fail: unknown stage {arg!r}"
    if name == "warning-storm" and arg not in (None, "") and not arg.isdigit():
        return f"warning-storm: {arg!r} is not a number"
    if name == "restore-slow" and arg not in (None, ""):
        from .kernelckpt import slow_factor
        if slow_factor(arg) is None:
            return f"restore-slow: {arg!r} is not a factor above 1 (2 = twice as slow)"
    return None


def run(args):
    from buildbot_vkckpt.simhost.host import ENV_VAR, SimHost

    host = SimHost(args.root)
    action = args.simhost_command
    if action == "init":
        from buildbot_vkckpt.simhost import tree

        host.create(python=args.python, flavour=args.flavour, host_kernel=args.host_kernel)
        rev = tree.create_source_tree(host)
        if args.speed is not None:
            with host.update_state() as state:
                state["sim_speed"] = args.speed
        state = host.load_state()
        print(f"simulated DragonFly host in {host.root} (source {host.src} at {rev[:10]}; "
              f"flavour {state['flavour']}, host kernel {state['host_kernel']})")
        return 0
    if not host.state_dir.is_dir():
        print(f"vkckpt simhost: {host.root} is not a simulated host "
              "(run `vkckpt simhost init` first)", file=sys.stderr)
        return 2
    if action == "fault":
        return fault(host, args)
    if action == "env":
        print(f"export {ENV_VAR}={shlex.quote(str(host.root))}")
        print(f"export PATH={shlex.quote(str(host.bin))}:\"$PATH\"")
        return 0
    if action == "state":
        print(json.dumps(host.load_state(), indent=1, sort_keys=True))
        return 0
    return 2


def fault(host, args):
    if args.list:
        for name, arg in sorted(host.faults().items()):
            print(name if arg is None else f"{name}={arg}")
        return 0
    faults = {} if args.clear else host.faults()
    for text in args.faults:
        try:
            name, arg = parse_fault(text)
        except ValueError as exc:
            print(f"vkckpt simhost fault: {exc}", file=sys.stderr)
            return 2
        problem = check_fault(name, arg)
        if problem:
            print(f"vkckpt simhost fault: {problem}", file=sys.stderr)
            return 2
        faults[name] = arg
    if not args.clear and not args.faults:
        print("vkckpt simhost fault: name a fault, or use --clear or --list", file=sys.stderr)
        return 2
    host.set_faults(faults)
    return 0
