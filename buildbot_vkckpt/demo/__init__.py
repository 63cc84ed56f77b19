"""``vkckpt demo``: the main job end to end on a real Buildbot master and worker, against a
simulated DragonFly host.

It creates a fresh base directory, a simulated host (source tree, sandbox tools), a master
whose builder uses :class:`~buildbot_vkckpt.factory.VkernelCheckpointFactory`, and a worker;
forces one build; shows live progress; then prints the steps and test-result counts read back
through the REST API. The exit status is 0 when every step ended as the chosen scenario
expects.
"""
import shutil
import sys
import tempfile
from pathlib import Path

from buildbot_vkckpt.demo.scenarios import SCENARIOS

FLAVOURS = ("gsoc2013", "master2020", "master-with-port")

HELP = "run the pipeline on a real Buildbot master and worker against the simulated host"


def add_arguments(parser):
    parser.add_argument("--sim-fault", dest="scenario", default="ok",
                        choices=sorted(SCENARIOS), metavar="NAME",
                        help="inject a fault into the simulated host; one of: "
                             + ", ".join(sorted(SCENARIOS)))
    parser.add_argument("--transport", choices=("worker", "ssh"), default=None,
                        help="where the vkernel steps run: on the Buildbot worker (default), "
                             "or over SSH through a throwaway sshd on 127.0.0.1 in front of "
                             "the simulated host (host-lost implies ssh)")
    parser.add_argument("--flavour", choices=FLAVOURS, default=None,
                        help="which real DragonFly the simulated host is (docs/flavours.rst): "
                             "gsoc2013 (the 2013 checkpoint branch), master2020 (stock, no "
                             "vkernel checkpoints) or master-with-port (master with the GSoC "
                             "work ported; default). Scenarios that need one flavour choose it")
    parser.add_argument("--with-proc", action="store_true",
                        help="let the agent read Linux /proc (by default it runs without, as "
                             "on DragonFly, wherever this machine can hide it: root + unshare)")
    parser.add_argument("--keep", action="store_true",
                        help="leave the master and worker running (and the base directory)")
    parser.add_argument("--basedir", help="use this directory instead of a temporary one")
    parser.add_argument("--timeout", type=float, default=240,
                        help="seconds to wait for the build (default 240)")
    parser.add_argument("--quiet", action="store_true", help="no live progress lines")
    parser.add_argument("--push", action="store_true",
                        help="show the push flow instead: a git remote whose post-receive hook "
                             "notifies the master, and what each kind of push builds")
    parser.add_argument("--bisect", action="store_true",
                        help="show bisection instead: a push of 5 commits, one planting a "
                             "restore that loses a guest process; the red build, the probe "
                             "builds, the culprit and its mail")
    parser.add_argument("--planted-at", type=int, choices=range(1, 6), default=None,
                        metavar="K", help="with --bisect: the commit (1-5) that plants the "
                                          "regression (default: a random one)")


def run(args):
    if args.push:
        return run_push(args)
    if args.bisect:
        return run_bisect(args)
    from buildbot_vkckpt.demo.runner import DemoRun

    scenario = SCENARIOS[args.scenario]
    basedir = Path(args.basedir or tempfile.mkdtemp(prefix="vkckpt-demo-"))
    out = sys.stdout
    demo = DemoRun(basedir, scenario, out=out, live=not args.quiet, transport=args.transport,
                   flavour=args.flavour, hide_proc=False if args.with_proc else None,
                   keep=args.keep)
    ok = False
    try:
        ok = demo.execute(timeout=args.timeout)
    finally:
        if args.keep:
            print(f"\nmaster and worker left running: web UI {demo.bb.url}\n"
                  f"stop them with: {demo.stop_command()}", file=out)
        else:
            errors = demo.stop()
            for e in errors:
                print(f"warning: could not stop {e}", file=out)
            print("\nmaster and worker stopped", file=out)
            if not args.basedir:
                shutil.rmtree(basedir, ignore_errors=True)
    verdict = "as expected" if ok else "NOT as expected"
    print(f"\nscenario {scenario.name!r}: {verdict}", file=out)
    return 0 if ok else 1


def run_push(args):
    from buildbot_vkckpt.demo.push import run_demo

    basedir = Path(args.basedir or tempfile.mkdtemp(prefix="vkckpt-push-"))
    try:
        ok = run_demo(basedir, out=sys.stdout, timeout=args.timeout, keep=args.keep)
    finally:
        if not args.basedir and not args.keep:
            shutil.rmtree(basedir, ignore_errors=True)
    return 0 if ok else 1


def run_bisect(args):
    from buildbot_vkckpt.demo.bisect import run_demo

    basedir = Path(args.basedir or tempfile.mkdtemp(prefix="vkckpt-bisect-"))
    planted = None if args.planted_at is None else args.planted_at - 1
    try:
        ok = run_demo(basedir, out=sys.stdout, timeout=max(args.timeout, 600), keep=args.keep,
                      planted_at=planted)
    finally:
        if not args.basedir and not args.keep:
            shutil.rmtree(basedir, ignore_errors=True)
    return 0 if ok else 1
