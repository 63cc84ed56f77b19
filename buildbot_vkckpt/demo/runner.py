"""One demo run: simulated host + real master and worker + one forced build + report."""
import dataclasses
import os
import shlex
import signal
import sys
import time
from pathlib import Path

from buildbot_vkckpt.demo import noproc
from buildbot_vkckpt.demo.localbb import LocalBuildbot, _bin
from buildbot_vkckpt.simhost.host import SimHost
from buildbot_vkckpt.units import format_ms, format_size

RESULT_NAMES = ["success", "warnings", "failure", "skipped", "exception", "retry", "cancelled"]
BUILDER = "vkckpt"
DEFAULT_FLAVOUR = "master-with-port"


def result_name(value):
    if value is None:
        return "running"
    return RESULT_NAMES[value] if 0 <= value < len(RESULT_NAMES) else str(value)


def factory_source(host, transport_source=None, builder=BUILDER, scheduler="force",
                   workers=None, dashboard=True, **params):
    """master.cfg text that builds the plugin's factory against the simulated host;
    ``transport_source`` is master.cfg text defining ``transport``. Several hosts can share
    one master: each gets its own ``builder``, ``scheduler`` and ``workers`` (names; default
    every worker), and the trends page is added once (``dashboard``)."""
    workers = repr(list(workers)) if workers else "[w.name for w in c['workers']]"
    args = {"repourl": f"file://{host.src}", "objdir": str(host.obj), "jobs": 2,
            "timeouts": {"boot": 20, "command": 30, "checkpoint": 20, "restore": 20}}
    args.update(params)
    arg_text = ", ".join(f"{k}={v!r}" for k, v in args.items())
    if transport_source:
        arg_text += ", transport=transport"
    return (
        (transport_source or "")
        + "from buildbot_vkckpt.factory import VkernelCheckpointFactory, host_locks\n"
        f"factory = VkernelCheckpointFactory({arg_text})\n"
        f"c['builders'].append(util.BuilderConfig(name={builder!r}, "
        f"workernames={workers}, factory=factory,\n"
        f"    locks=host_locks({'transport' if transport_source else ''})))\n"
        f"c['schedulers'].append(schedulers.ForceScheduler(name={scheduler!r}, "
        f"builderNames=[{builder!r}]))\n"
        # the project's trends page in the web UI (docs/dashboard.rst)
        + ("from buildbot_vkckpt.www import add_dashboard\n"
           f"add_dashboard(c, builders=[{builder!r}])\n" if dashboard else ""))


KEY_SECRET, PASSPHRASE_SECRET = "vkckpt_ssh_key", "vkckpt_ssh_passphrase"


def ssh_transport_source(server, secrets_dir, workdir, keepalive=2, python=None):
    """master.cfg text: secrets from files in ``secrets_dir`` and an SSHTransport to
    ``server`` (a :class:`~buildbot_vkckpt.demo.sshd.SSHServer`) named ``transport``."""
    return (
        "from buildbot.plugins import secrets\n"
        "from buildbot_vkckpt.transports import SSHTransport\n"
        f"c['secretsProviders'] = [secrets.SecretInAFile(dirname={str(secrets_dir)!r})]\n"
        f"transport = SSHTransport({server.host!r}, port={server.port}, user={server.user!r},\n"
        f"    key=util.Secret({KEY_SECRET!r}), passphrase=util.Secret({PASSPHRASE_SECRET!r}),\n"
        f"    known_hosts={server.known_hosts!r}, keepalive={keepalive},\n"
        f"    workdir={str(workdir)!r}, remote_dir={str(workdir) + '/agent'!r},\n"
        f"    python={str(python or sys.executable)!r})\n")


def for_flavour(scenario, flavour):
    """What a scenario must show on ``flavour``: a vkernel without the checkpoint handler
    (master2020) gets the cycle step NOT TESTED (warnings, never green), whatever the scenario
    says about it."""
    from buildbot_vkckpt.demo.scenarios import SCENARIOS

    if flavour != "master2020" or scenario.flavour:
        return scenario
    stock = SCENARIOS["stock-vkernel"]
    expect = dict(scenario.expect)
    if "checkpoint-cycle" in expect:
        expect["checkpoint-cycle"] = stock.expect["checkpoint-cycle"]
    mentions = {k: v for k, v in scenario.mentions.items() if k != "checkpoint-cycle"}
    mentions["checkpoint-cycle"] = stock.mentions["checkpoint-cycle"]
    logs = {k: v for k, v in scenario.logs.items() if k != "checkpoint-cycle"}
    build_result = stock.build_result if scenario.build_result == "success" \
        else scenario.build_result
    return dataclasses.replace(scenario, expect=expect, mentions=mentions, logs=logs,
                               build_result=build_result)


def _signal_all(pids, sig):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


class DemoRun:
    def __init__(self, basedir, scenario, out=sys.stdout, live=True, transport=None,
                 flavour=None, hide_proc=None, keep=False, factory_params=None):
        self.basedir = Path(basedir)
        # extra VkernelCheckpointFactory arguments (tests shorten the suite and the cycles)
        self.factory_params = dict(factory_params or {})
        # with keep the master outlives the demo, so its links are worth printing
        self.keep = keep
        # the scenario's flavour wins: "stock-vkernel" is master2020 whatever --flavour says
        self.flavour = scenario.flavour or flavour or DEFAULT_FLAVOUR
        self.scenario = for_flavour(scenario, self.flavour)
        cycles = self.factory_params.get("cycles")
        if cycles and self.scenario.mentions.get("checkpoint-cycle", "").endswith(" cycles ok"):
            self.scenario = dataclasses.replace(self.scenario, mentions={
                **self.scenario.mentions, "checkpoint-cycle": f"{cycles}/{cycles} cycles ok"})
        # None: hide /proc from the agent (as on DragonFly) wherever this machine can
        self.hide_proc = noproc.available() if hide_proc is None else hide_proc
        # "ssh": the vkernel steps run over SSH through a throwaway sshd on 127.0.0.1
        self.transport = "ssh" if scenario.transport == "ssh" else (transport or "worker")
        self.sshd = None
        self._crashed = False
        self.out = out
        self.live = live
        self.host = SimHost(self.basedir / "host")
        self.bb = LocalBuildbot(self.basedir / "bb", worker_env=None)
        self._seen = {}
        self._times = {}                # stepid -> [first seen running, first seen complete]
        self._t0 = None

    def say(self, text=""):
        print(text, file=self.out, flush=True)

    def prepare(self):
        self.bb.worker_env = self.prepare_host()
        self.bb.create(factory_source(self.host, transport_source=self.start_sshd(),
                                      **self.factory_params))
        self.bb.start()
        if self.keep:
            self.say(f"master and worker running; web UI {self.bb.url}")
        else:
            self.say("master and worker running (stopped when the demo ends; "
                     "DEMO_ARGS=--keep keeps them for the web UI)")

    def execute(self, timeout=240):
        self.prepare()
        self._t0 = time.monotonic()
        self.run_baseline(timeout)
        brid = self.bb.force(BUILDER, reason=f"vkckpt demo: {self.scenario.name}")
        build = self.bb.wait_build(brid, timeout=timeout, on_poll=self._progress)
        if self._crashed:
            self.reboot_host()
        steps = self.bb.steps(build["buildid"])
        self.report(build, steps)
        return self.check(build, steps)

    def prepare_host(self):
        """Creates the simulated host with its source tree and the scenario's faults; returns
        the environment a worker in front of it runs in (a master may serve several hosts)."""
        from buildbot_vkckpt.simhost import tree

        self.say(f"== scenario {self.scenario.name!r}: {self.scenario.description}")
        self.host.create(flavour=self.flavour, host_kernel=self.scenario.host_kernel or None)
        tree.create_source_tree(self.host)
        self.host.set_faults(self.scenario.faults)
        self.say(f"simulated DragonFly host in {self.host.root}: {self.describe_host()}")
        return self.agent_env(self.host.env())

    def run_baseline(self, timeout):
        """The scenario's green builds without its faults, before the build it is about."""
        count = self.scenario.baseline_builds
        if not count:
            return
        self.host.set_faults({})
        for i in range(1, count + 1):
            self.say(f"  baseline build {i}/{count}, without the faults")
            self.bb.wait_build(self.bb.force(BUILDER, reason="vkckpt demo: baseline"),
                               timeout=timeout)
        self.host.set_faults(self.scenario.faults)

    def describe_host(self):
        state = self.host.load_state()
        proc = "no /proc for the agent" if self.hide_proc else "the agent sees Linux /proc"
        return (f"flavour {state.get('flavour', self.flavour)}, host kernel "
                f"{state.get('host_kernel', '?')}, {proc}")

    def agent_env(self, env):
        """The environment agent commands run in: with ``hide_proc``, a ``python3`` first on
        PATH that hides /proc (demo/noproc.py)."""
        if self.hide_proc:
            wrapper = noproc.write_python_wrapper(self.basedir / "noproc-bin")
            env["PATH"] = f"{wrapper.parent}{os.pathsep}{env['PATH']}"
        return env

    # --- the SSH test host ------------------------------------------------------------------
    def start_sshd(self):
        """For ``--transport ssh``: an sshd in front of the simulated host, a passphrase-
        protected client key in the master's secrets; returns the transport's master.cfg text."""
        if self.transport != "ssh":
            return None
        import secrets as _secrets
        from buildbot_vkckpt.demo.sshd import SSHServer
        from buildbot_vkckpt.simhost.host import ENV_VAR

        env = self.agent_env(self.host.env({"PATH": "/usr/local/bin:/usr/bin:/bin"}))
        ssh_env = {ENV_VAR: env[ENV_VAR], "PATH": env["PATH"],
                   "VKCKPT_STATE_DIR": env["VKCKPT_STATE_DIR"]}
        directory = self.basedir / "sshd"
        directory.mkdir(parents=True, exist_ok=True)
        self.passphrase = _secrets.token_urlsafe(18)
        self.sshd = SSHServer(directory, env=ssh_env, passphrase=self.passphrase).start()
        secrets_dir = self.basedir / "secrets"
        secrets_dir.mkdir(mode=0o700, exist_ok=True)
        for name, value in ((KEY_SECRET, self.sshd.client_key),
                            (PASSPHRASE_SECRET, self.passphrase)):
            path = secrets_dir / name
            path.write_text(value)
            path.chmod(0o600)
        self.say(f"SSH test host: sshd on {self.sshd.host}:{self.sshd.port} (host key "
                 f"{self.sshd.host_key[:30]}...); the vkernel steps run over SSH")
        python = (self.basedir / "noproc-bin" / "python3") if self.hide_proc else None
        return ssh_transport_source(self.sshd, secrets_dir, self.basedir / "sshhost",
                                    python=python)

    def crash_host(self):
        """The test host goes down: sshd and everything the session runs die at once. Its
        kernel state (vn units, mounts, taps) survives until ``reboot_host``."""
        self._crashed = True
        # the agent's processes too: a session supervisor is a fork of ``agent boot`` (its
        # command line says neither "supervisor" nor the simulated host's root)
        pids = self._host_pids() + [pid for pid, _ in self._agent_processes()]
        # everything stops at the same instant, as in a real crash: no supervisor outlives its
        # vkernel long enough to write the vkernel's end into the ledger
        _signal_all(pids, signal.SIGSTOP)
        self.sshd.crash()
        _signal_all(pids, signal.SIGKILL)

    def reboot_host(self):
        """The crashed host is back: a reboot released its kernel state; sshd answers again."""
        with self.host.update_state() as state:
            state["vn"] = {unit: None for unit in state.get("vn", {})}
            state["mounts"] = {}
            state["taps"] = {}
        self.sshd.start()

    def stop(self):
        """Stop the master, worker and sshd; returns what could not be stopped."""
        errors = self.bb.stop()
        if self.sshd is not None:
            try:
                self.sshd.stop()
            except (OSError, RuntimeError) as e:
                errors.append(f"sshd: {e}")
        return errors

    def _progress(self, build, steps):
        if self.scenario.crash_during and not self._crashed and self.sshd is not None:
            for step in steps:
                if step["name"] == self.scenario.crash_during and step["started_at"] \
                        and not step["complete_at"] and self._crash_due(step):
                    self.say(f"  -- the test host crashes during {step['name']}")
                    self.crash_host()
        now = time.monotonic()
        for step in steps:
            # the REST API's times are whole seconds: the polls time the steps closer
            seen = self._times.setdefault(step["stepid"], [None, None])
            if seen[0] is None and step["started_at"]:
                seen[0] = now
            if seen[1] is None and step["complete_at"]:
                seen[1] = now
        for step in steps:
            key = step["stepid"]
            line = f"{step['name']}: {step['state_string']}"
            if self._seen.get(key) != line and self.live:
                self._seen[key] = line
                self.say(f"  [{time.monotonic() - self._t0:6.1f}s] {line}")

    def _crash_due(self, step):
        """The scenario's ``crash_after`` text is in the running step's console log."""
        logs = {lg["name"]: lg for lg in self.bb.logs(step["stepid"])}
        return "console" in logs and \
            self.scenario.crash_after in self.bb.log_text(logs["console"]["logid"])

    def report(self, build, steps):
        self.say("")
        self.say(f"build {build['number']}: {result_name(build['results'])} — "
                 f"{build['state_string']}")
        rows = [("step", "result", "seconds", "summary")]
        for s in steps:
            secs = ""
            start, end = self._times.get(s["stepid"], (None, None))
            if start is not None and end is not None:
                secs = f"{end - start:.1f}"
            elif s.get("started_at") and s.get("complete_at"):
                secs = f"{s['complete_at'] - s['started_at']}"      # whole seconds
            rows.append((s["name"], result_name(s["results"]), secs, s["state_string"]))
        widths = [max(len(str(r[i])) for r in rows) for i in range(3)]
        for r in rows:
            self.say("  " + "  ".join(str(c).ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3])
        self.say("  (seconds: as the demo's polls of the master saw each step, 0.3 s apart)")
        self.say("")
        self.say("test results (from the master's REST API):")
        any_sets = False
        for s in steps:
            for ts in self.bb.test_result_sets(s["stepid"]):
                any_sets = True
                results = self.bb.test_results(ts["test_result_setid"])
                count = len(results)
                extra = ""
                if ts["category"] == "pass_fail":
                    extra = f" ({ts.get('tests_passed')} passed, {ts.get('tests_failed')} failed)"
                elif ts["category"] in ("performance", "binary_size") and count <= 6:
                    extra = ": " + ", ".join(_for_people(r["value"], ts) for r in results)
                elif ts["category"] == "code_issue":
                    extra = " (one per distinct warning)"
                self.say(f"  {s['name']}: {ts['description']} [{ts['category']}, "
                         f"{ts['value_unit']}]: {count} results{extra}")
        if not any_sets:
            self.say("  (none)")
        if not self.keep:
            self.say("\nthe master and worker are stopped when the demo ends, and the web UI "
                     "with them; to browse this build keep them: make demo DEMO_ARGS=--keep")
            return
        self.say(f"\nweb UI: {self.bb.url}#/builders/{build['builderid']}/builds/{build['number']}")
        self.say(f"checkpoint trends: {self.bb.url}#/vkckpt "
                 f"(page alone: {self.bb.url}plugins/wsgi_dashboards/vkckpt/index.html)")

    def stop_command(self):
        """A shell line that stops this run's worker and master, as pasted in any shell: the
        venv's own buildbot commands by absolute path (its bin/ need not be on PATH)."""
        lines = [shlex.join([_bin("buildbot-worker"), "stop", str(wdir)])
                 for wdir in self.bb.worker_dirs.values()]
        lines.append(shlex.join([_bin("buildbot"), "stop", str(self.bb.master_dir)]))
        if self.sshd is not None and self.sshd.process is not None:    # --transport ssh
            lines.append(f"kill {self.sshd.process.pid}")
        return " && ".join(lines)

    def leaks(self):
        """Whatever the session left on the simulated host: vn units, mounts, processes."""
        state = self.host.load_state()
        found = [f"{unit} covering {path}" for unit, path in state.get("vn", {}).items() if path]
        found += [f"mount {point}" for point in state.get("mounts", {})]
        found += [f"process {pid}: {cmdline.replace(bytes(1), b' ').decode()[:120]}"
                  for pid, cmdline in self._host_processes()]
        return found

    def _host_pids(self):
        return [pid for pid, _ in self._host_processes()]

    def _agent_processes(self):
        """Agent commands and session supervisors of this run: (pid, cmdline)."""
        base = str(self.basedir.resolve()).encode()
        return processes_matching(lambda cmdline: base in cmdline and b"vkckpt-agent" in cmdline)

    def _host_processes(self):
        """The simulated host's vkernels and session supervisors: (pid, cmdline). A vkernel's
        command line names its session's files: under the host's root, or under this run's
        base directory when the sessions live on the SSH test host's work directory."""
        roots = (str(self.host.root).encode(), str(self.basedir.resolve()).encode())
        return processes_matching(lambda cmdline: any(r in cmdline for r in roots) and (
            b"simhost.vkernel" in cmdline or b"supervisor" in cmdline))

    def check(self, build, steps):
        by_name = {s["name"]: s for s in steps}
        ok = True
        for name, expected in self.scenario.expect.items():
            step = by_name.get(name)
            got = result_name(step["results"]) if step else "absent"
            if expected == "skipped-or-absent":
                good = got in ("skipped", "absent")
            else:
                good = got == expected
            if not good:
                self.say(f"unexpected: step {name} ended {got}, expected {expected}")
                ok = False
        for s in steps:
            if s["name"] not in self.scenario.expect and s["results"] not in (0, 3):
                self.say(f"unexpected: step {s['name']} ended {result_name(s['results'])}")
                ok = False
        if result_name(build["results"]) != self.scenario.build_result:
            self.say(f"unexpected: build ended {result_name(build['results'])}, "
                     f"expected {self.scenario.build_result}")
            ok = False
        for leak in self.leaks():
            self.say(f"unexpected: left behind on the host: {leak}")
            ok = False
        for name, text in self.scenario.mentions.items():
            step = by_name.get(name)
            if step is None or text not in (step["state_string"] or ""):
                self.say(f"unexpected: the summary of step {name} does not mention {text!r}")
                ok = False
        for name, wanted in self.scenario.logs.items():
            step = by_name.get(name)
            have = {lg["name"] for lg in self.bb.logs(step["stepid"])} if step else set()
            for logname in wanted:
                if logname not in have:
                    self.say(f"unexpected: step {name} has no {logname!r} log")
                    ok = False
        if self.scenario.summary_mentions:
            failed = [s for s in steps if s["results"] not in (0, 1, 3, None)]
            if not failed or self.scenario.summary_mentions not in failed[0]["state_string"]:
                self.say(f"unexpected: the failing step's summary does not mention "
                         f"{self.scenario.summary_mentions!r}")
                ok = False
        return ok


def processes_matching(wanted):
    """(pid, cmdline) of the live processes whose command line ``wanted`` accepts."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fp:
                cmdline = fp.read()
        except OSError:
            continue
        if wanted(cmdline):
            yield int(pid), cmdline


def _for_people(value, result_set):
    """A test-result value (a string in Buildbot 4.3) in the build page's units."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if result_set.get("value_unit") == "bytes":
        return format_size(number)
    if result_set.get("value_unit") in ("seconds", "s"):
        return format_ms(number)
    return str(value)
