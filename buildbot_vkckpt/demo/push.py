"""A push, end to end: a bare DragonFly repository whose post-receive hook runs
``buildbot sendchange``, a master configured with :func:`~buildbot_vkckpt.config.add_to_config`,
a worker on the simulated host, and a developer's clone that commits and pushes.

Used by ``vkckpt demo --push`` and by ``tests/integration/test_push.py``.

The hook passes every value from the push (branch, revision, author, message, file names) to
``buildbot sendchange`` as its own argv item, never through a shell, so a branch or file named
``$(touch /tmp/PWNED)`` is just a name.
"""
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

from buildbot_vkckpt.demo.localbb import LocalBuildbot, _bin, free_port
from buildbot_vkckpt.simhost import tree
from buildbot_vkckpt.simhost.host import SimHost

CHANGE_USER, CHANGE_PASSWORD = "change", "changepw"
PROJECT = "dragonfly"
# add_to_config(poll=False) protects /change_hook/ with this user and secret
HOOK_USER, HOOK_SECRET = "vkckpt", "vkckpt_change_hook"

HOOK = '''#!{python}
"""post-receive: tell the Buildbot master about every pushed branch (buildbot sendchange).

Values from the push are separate argv items (never a shell string): branch and file names
may hold any character git allows. Bytes that are not UTF-8 (in a path, the message or the
author) are sent escaped (each such byte as backslash, x, two hex digits), because ``buildbot sendchange`` cannot send them as they
are and a change must never be dropped for its spelling. A change that still cannot be sent
is reported loudly, appended to UNSENT in the repository, and the hook exits 1; the build
after it does not reuse a world or image across it, because the plan compares the tree
itself (git diff) with the revision each reused stage was built from."""
import os
import subprocess
import sys
import time

BUILDBOT = {buildbot!r}
MASTER = {master!r}
AUTH = {auth!r}
REPOSITORY = {repository!r}
PROJECT = {project!r}
ZERO = "0" * 40
UNSENT = "vkckpt-unsent-changes"


def git(*args):
    return subprocess.run(["git", *args], check=True, stdout=subprocess.PIPE).stdout


def text(data):
    return data.decode("utf-8", "backslashreplace")


def not_sent(branch, new, why):
    line = f"{{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}} {{branch}} {{new}} {{why}}"
    with open(os.path.join(os.environ.get("GIT_DIR", "."), UNSENT), "a") as fh:
        fh.write(line + "\\n")
    sys.stderr.write(f"buildbot: CHANGE NOT SENT: {{branch}} {{new}}: {{why}}\\n"
                     f"buildbot: recorded in {{UNSENT}}; no build will start for it, and "
                     f"the next build rebuilds what it touched\\n")


failed = False
for line in sys.stdin.buffer:
    old, new, ref = line.split()
    old, new = old.decode(), new.decode()
    if not ref.startswith(b"refs/heads/") or new == ZERO:
        continue  # tags and deleted branches build nothing
    branch = text(ref[len(b"refs/heads/"):])
    if old == ZERO:  # a new branch: the files of its tip commit
        names = git("diff-tree", "-z", "--no-commit-id", "--name-only", "-r", "--root", new)
    else:
        names = git("diff", "-z", "--name-only", old, new)
    files = [text(name) for name in names.split(b"\\0") if name]
    who = text(git("log", "-1", "--format=%an <%ae>", new)).strip()
    comments = text(git("log", "-1", "--format=%B", new))
    argv = [BUILDBOT, "sendchange", "--master=" + MASTER, "--auth=" + AUTH, "--vc=git",
            "--branch=" + branch,
            "--revision=" + new, "--who=" + who, "--comments=" + comments,
            "--repository=" + REPOSITORY, "--project=" + PROJECT, "--"] + files
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=120)
        output = text(done.stdout)
        sent = done.returncode == 0 and "change sent successfully" in output
    except (OSError, subprocess.SubprocessError) as exc:
        output, sent = f"{{exc}}\\n", False
    sys.stdout.write("buildbot: " + output)
    if not sent:
        last = [ln for ln in output.splitlines() if ln.strip()][-1:] or ["no output"]
        not_sent(branch, new, last[0].strip())
        failed = True
sys.exit(1 if failed else 0)
'''


def write_hook(bare, master, repository, project=PROJECT):
    """Install the post-receive hook into the bare repository ``bare``."""
    path = Path(bare) / "hooks" / "post-receive"
    path.write_text(HOOK.format(python=sys.executable, buildbot=_bin("buildbot"), master=master,
                                auth=f"{CHANGE_USER}:{CHANGE_PASSWORD}",
                                repository=repository, project=project))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


class PushRig:
    """Simulated host + bare remote with hook + developer clone + master and worker."""

    def __init__(self, basedir, branches=("master",), tree_stable_timer=1, **factory_kwargs):
        self.basedir = Path(basedir).resolve()
        self.host = SimHost(self.basedir / "host")
        self.bare = self.basedir / "dragonfly.git"
        self.clone = self.basedir / "clone"
        self.bb = LocalBuildbot(self.basedir / "bb")
        self.change_port = free_port()
        self.branches = list(branches)
        self.tree_stable_timer = tree_stable_timer
        self.factory_kwargs = factory_kwargs
        self.repourl = f"file://{self.bare}"

    def master_body(self):
        args = {"objdir": str(self.host.obj), "jobs": 2,
                "timeouts": {"boot": 20, "command": 30}, **self.factory_kwargs}
        kwargs = ", ".join(f"{k}={v!r}" for k, v in args.items())
        return (
            "from buildbot_vkckpt.config import add_to_config\n"
            "from buildbot.plugins import secrets\n"
            f"c['secretsProviders'] = [secrets.SecretInAFile(dirname={str(self.secrets)!r})]\n"
            "c['change_source'] = [changes.PBChangeSource(\n"
            f"    port='tcp:{self.change_port}:interface=127.0.0.1',\n"
            f"    user={CHANGE_USER!r}, passwd={CHANGE_PASSWORD!r})]\n"
            f"add_to_config(c, workers=[w.name for w in c['workers']], repourl={self.repourl!r},\n"
            f"              branches={self.branches!r}, poll=False,\n"
            f"              tree_stable_timer={self.tree_stable_timer!r}, project={PROJECT!r},\n"
            f"              {kwargs})\n")

    @property
    def secrets(self):
        return self.basedir / "secrets"

    def hook_password(self):
        return (self.secrets / HOOK_SECRET).read_text().strip()

    def write_hook_secret(self):
        import secrets
        self.secrets.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.secrets / HOOK_SECRET
        path.write_text(secrets.token_urlsafe(24) + "\n")
        path.chmod(0o600)  # SecretInAFile refuses files others can read

    def prepare(self):
        self.write_hook_secret()
        self.host.create()
        tree.create_source_tree(self.host)
        tree.git(self.basedir, "clone", "-q", "--bare", str(self.host.src), str(self.bare))
        write_hook(self.bare, f"127.0.0.1:{self.change_port}", self.repourl)
        tree.git(self.basedir, "clone", "-q", str(self.bare), str(self.clone))
        self.bb.worker_env = self.host.env()
        self.bb.create(self.master_body())
        self.bb.start()
        return self

    def stop(self):
        return self.bb.stop()

    # --- the developer's side -------------------------------------------------------------
    def push(self, files, message, branch="master"):
        """Commit ``{path: text}`` on ``branch`` in the clone and push it; returns
        (revision, output of the push including the hook's lines)."""
        current = tree.git(self.clone, "rev-parse", "--abbrev-ref", "HEAD")
        if current != branch:
            exists = tree.git(self.clone, "rev-parse", "--verify", "--quiet",
                              f"refs/heads/{branch}", check=False)
            tree.git(self.clone, "checkout", "-q", *([] if exists else ["-b"]), branch)
        revision = tree.commit_change(self.clone, files, message)
        done = subprocess.run(["git", "push", "-q", "origin", f"HEAD:refs/heads/{branch}"],
                              cwd=str(self.clone), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"git push failed:\n{done.stdout}")
        return revision, done.stdout

    # --- the master's side -------------------------------------------------------------------
    def change_for(self, revision, timeout=10):
        """The master's change record for ``revision`` (the hook has run when push returns)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for change in self.bb.get("changes", order="-changeid", limit=20)["changes"]:
                if change["revision"] == revision:
                    return change
            time.sleep(0.2)
        return None

    def build_requests(self):
        return self.bb.get("buildrequests")["buildrequests"]

    def request_for(self, revision, known_requests, start_within):
        """The new build request whose source stamp is ``revision``, or None when none
        appears within ``start_within`` seconds."""
        deadline = time.monotonic() + start_within
        while time.monotonic() < deadline:
            for request in self.build_requests():
                if request["buildrequestid"] in known_requests:
                    continue
                sets = self.bb.get(f"buildsets/{request['buildsetid']}")["buildsets"]
                if revision in {ss.get("revision") for bs in sets for ss in bs["sourcestamps"]}:
                    return request
            time.sleep(0.3)
        return None

    def wait_for_build_of(self, revision, known_requests, start_within, timeout=120,
                          on_poll=None):
        """The finished build of ``revision``, or None when no build starts in time."""
        request = self.request_for(revision, known_requests, start_within)
        if request is None:
            return None
        return self.bb.wait_build(request["buildrequestid"], timeout=timeout, on_poll=on_poll)

    def no_build_for(self, known_requests, quiet_seconds):
        """True when no build request appears within ``quiet_seconds``."""
        deadline = time.monotonic() + quiet_seconds
        while time.monotonic() < deadline:
            if any(r["buildrequestid"] not in known_requests for r in self.build_requests()):
                return False
            time.sleep(0.3)
        return True

    def force(self, branch="master", reason="seed the worker"):
        builder = self.builder(branch)
        brid = self.bb.force(builder, scheduler="vkckpt-force", reason=reason)
        return self.bb.wait_build(brid, timeout=120)

    def builder(self, branch):
        from buildbot_vkckpt.config import builder_name
        return builder_name("vkckpt", branch)

    def steps(self, build):
        return {s["name"]: s for s in self.bb.steps(build["buildid"])}


# --- vkckpt demo --push ------------------------------------------------------------------------
RESULT = {0: "success", 1: "warnings", 2: "failure", 3: "skipped", 4: "exception",
          5: "retry", 6: "cancelled", None: "running"}

DEMO_PUSHES = [
    ("a kernel change", {"sys/kern/kern_checkpoint.c": "/* checkpoint: fix a race */\n"},
     "kern: fix a race in sys_checkpoint"),
    ("a manual page only", {"usr.bin/checkpt/checkpt.1": ".Dd today\n.Nm checkpt\n"},
     "checkpt.1: wording"),
    ("a userland program", {"bin/ls/ls.c": "int main(void) { return 0; }\n"},
     "ls: simplify"),
    ("a kernel header installed into world", {"sys/sys/param.h":
                                              "#ifndef _SYS_PARAM_H_\n#define _SYS_PARAM_H_\n"
                                              "#define __DragonFly_version 500901\n#endif\n"},
     "param.h: bump __DragonFly_version"),
]


def run_demo(basedir, out=sys.stdout, timeout=120, keep=False):
    """Seed the worker with one full build, then push DEMO_PUSHES one after another and show
    what each started. Returns True when every push did what its plan says. ``keep`` leaves
    the master and worker running (and says how to stop them)."""
    def say(text=""):
        print(text, file=out, flush=True)

    rig = PushRig(basedir)
    ok = True
    try:
        say("== vkckpt demo --push: a bare repository whose post-receive hook runs "
            "buildbot sendchange")
        rig.prepare()
        say(f"remote {rig.bare}\nclone  {rig.clone}\nmaster {rig.bb.url} "
            f"(treeStableTimer {rig.tree_stable_timer} s)")
        say("\n-- a forced build first, so the worker has a world, kernel and image to reuse")
        build = rig.force()
        say(f"build {build['number']}: {RESULT.get(build['results'])} · "
            f"{rig.steps(build)['plan']['state_string']}")
        for what, files, message in DEMO_PUSHES:
            known = {r["buildrequestid"] for r in rig.build_requests()}
            revision, output = rig.push(files, message)
            say(f"\n-- push {revision[:10]}: {what} ({', '.join(files)})")
            for line in output.splitlines():
                if line.strip():
                    say(f"   {line.strip()}")
            build = rig.wait_for_build_of(revision, known, rig.tree_stable_timer + 4, timeout)
            if build is None:
                recorded = rig.change_for(revision) is not None
                say(f"   no build started (the change is {'recorded' if recorded else 'LOST'}; "
                    f"its plan is nothing)")
                ok &= recorded and "manual" in what
                continue
            steps = rig.steps(build)
            say(f"   build {build['number']}: {RESULT.get(build['results'])}")
            for name in ("plan", "buildworld", "buildkernel", "root-image", "boot"):
                if name in steps:
                    s = steps[name]
                    say(f"     {name:<12} {RESULT.get(s['results']):<8} {s['state_string']}")
            ok &= build["results"] == 0
    finally:
        if keep:
            bindir = os.path.dirname(sys.executable)   # the venv's, wherever PATH points
            say(f"\nmaster and worker left running: web UI {rig.bb.url}\nstop them with: "
                f"{os.path.join(bindir, 'buildbot')} stop {rig.bb.master_dir} && "
                f"{os.path.join(bindir, 'buildbot-worker')} stop "
                f"{list(rig.bb.worker_dirs.values())[0]}")
        else:
            rig.stop()
    say(f"\npush demo: {'as expected' if ok else 'NOT as expected'}")
    return ok
