"""``vkckpt hostcheck``: is this DragonFly host ready for vkernel checkpoint builds?

A read-only run of the agent's ``preflight`` on the host — here, or on ``--ssh HOST`` through
the system's OpenSSH client (its own config, keys and ``known_hosts``; ``BatchMode`` so an
unknown host key is refused, never accepted) — printed as a readiness table with the fix for
each gap. Nothing on the host is changed: the agent runs from a temporary directory that is
removed afterwards, and every check only reads (sysctls, limits, free space, the vkernel
binary's option table, a throwaway checkpoint of a helper process in that directory).
"""
import os
import shlex
import subprocess
import sys
import tempfile

from buildbot_vkckpt.monitor.agentlog import AgentLogMonitor

HELP = "check, read-only, whether a DragonFly host is ready for vkernel checkpoint builds"
DEFAULT_KERNEL = "/usr/obj/usr/src/sys/VKERNEL64/kernel.debug"


def add_arguments(p):
    p.add_argument("--kernel", default=DEFAULT_KERNEL,
                   help=f"the vkernel binary to check (default {DEFAULT_KERNEL})")
    p.add_argument("--memory", default="256m", help="guest memory the builds use (-m)")
    p.add_argument("--image-size", default="2g", help="root image size the builds use")
    p.add_argument("--net", default=None,
                   help="the -I argument the builds use (e.g. auto:bridge0): checks tap/bridge")
    p.add_argument("--workdir", default=None,
                   help="where sessions will live on the host (free space is checked there)")
    p.add_argument("--ssh", metavar="[USER@]HOST", default=None,
                   help="check this host over SSH (OpenSSH client, BatchMode, known_hosts)")
    p.add_argument("--port", type=int, default=None, help="SSH port")
    p.add_argument("--ssh-config", default=None,
                   help="an ssh_config file for this host (identity, known_hosts, user)")
    p.add_argument("--python", default="python3", help="Python 3.9+ on the host")


def agent_argv(args, agent_path):
    argv = [args.python, agent_path, "preflight", "--kernel", args.kernel,
            "--memory", args.memory, "--image-size", args.image_size, "--host-checkpoint"]
    if args.net:
        argv += ["--net", args.net]
    if args.workdir:
        argv += ["--workdir", args.workdir]
    return argv


def ssh_argv(args, zipapp_bytes_len):
    """OpenSSH runs one remote shell line: receive the zipapp on stdin into a private temporary
    directory, run preflight, remove the directory. Every word is quoted."""
    remote = agent_argv(args, '"$d/vkckpt-agent.pyz"')
    words = " ".join(w if w == '"$d/vkckpt-agent.pyz"' else shlex.quote(w) for w in remote)
    line = (f'd=$(mktemp -d -t vkckpt-hostcheck.XXXXXX) || exit 4; '
            f'head -c {zipapp_bytes_len} > "$d/vkckpt-agent.pyz"; {words}; rc=$?; '
            f'rm -rf "$d"; exit $rc')
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]
    if args.ssh_config:
        argv += ["-F", args.ssh_config]
    if args.port:
        argv += ["-p", str(args.port)]
    return argv + [args.ssh, line]


def run_agent(args):
    """(exit status, events, human lines) of the agent's preflight."""
    from buildbot_vkckpt.agent.zipapp import zipapp_bytes

    data = zipapp_bytes()
    if args.ssh:
        proc = subprocess.run(ssh_argv(args, len(data)), input=data, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    else:
        with tempfile.TemporaryDirectory(prefix="vkckpt-hostcheck-") as tmp:
            path = os.path.join(tmp, "vkckpt-agent.pyz")
            with open(path, "wb") as fh:
                fh.write(data)
            proc = subprocess.run(agent_argv(args, path), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
    monitor = AgentLogMonitor()
    events = monitor.feed(proc.stdout) + monitor.close()
    return proc.returncode, events, proc.stderr.decode("utf-8", "replace")


def table(events):
    """Rows (check, state, detail, fix) from the agent's check events, in their order."""
    rows = []
    for ev in events:
        if ev.get("ev") != "check":
            continue
        state = "ok" if ev.get("ok") and not ev.get("warning") else (
            "warn" if ev.get("ok") else "GAP")
        rows.append((ev.get("name", "?"), state, ev.get("text", ""), ev.get("fix") or ""))
    return rows


def render(rows, where):
    out = [f"readiness of {where}:"]
    widths = [max([len(r[i]) for r in rows] + [len(h)]) for i, h in
              enumerate(("check", "state"))]
    out.append(f"  {'check'.ljust(widths[0])}  {'state'.ljust(widths[1])}  detail")
    for name, state, detail, fix in rows:
        out.append(f"  {name.ljust(widths[0])}  {state.ljust(widths[1])}  {detail}")
        if fix and state != "ok":
            out.append(f"  {''.ljust(widths[0])}  {''.ljust(widths[1])}  fix: {fix}")
    return "\n".join(out)


def run(args):
    where = args.ssh or "this host"
    try:
        status, events, stderr = run_agent(args)
    except FileNotFoundError as exc:
        print(f"vkckpt hostcheck: cannot run {exc.filename}: install it (OpenSSH client for "
              f"--ssh)", file=sys.stderr)
        return 4
    rows = table(events)
    result = next((e for e in events if e.get("ev") == "result"), None)
    if not rows or result is None:
        print(f"vkckpt hostcheck: the agent did not run on {where} (exit {status})",
              file=sys.stderr)
        if stderr.strip():
            print(stderr.strip(), file=sys.stderr)
        return 4
    print(render(rows, where))
    ready = result.get("status") in ("ok", "warnings")
    print(f"\n{where}: " + ("ready" if ready else f"NOT ready — {result.get('summary', '')}"))
    return 0 if ready else 1
