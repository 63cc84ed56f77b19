"""A regression planted in a push, found by bisection: ``vkckpt demo --bisect`` and
``tests/integration/test_bisect.py``.

The push rig (:mod:`buildbot_vkckpt.demo.push`) with ``add_to_config(bisect=True)``: a forced
build makes the builder green, then one push brings several commits, one of which plants a
regression in the kernel source (the simulated host's tree knob,
``VKCKPT_SIM_REGRESSION: restore-loses-process``: every restore loses a guest process). The
push's build goes red on the checkpoint cycle (its re-runs say deterministic), its last step
triggers the bisection controller, whose probe builds (the bisect builder, same host lock)
find the commit that planted it.
"""
import subprocess
import sys
import time

from buildbot_vkckpt.bisect.config import names
from buildbot_vkckpt.demo.push import RESULT, PushRig
from buildbot_vkckpt.simhost import tree

# a restore that loses a guest process: verify fails while the guest still runs, so the
# cycle re-runs it and can call it deterministic (a panic is never re-run)
REGRESSION = "/* VKCKPT_SIM_REGRESSION: restore-loses-process */\n"
CULPRIT_AUTHOR = ("Jane Culprit", "jane@dragonfly.invalid")

# kernel-only changes: the probes reuse world and rebuild the kernel, as the plan allows
PLANT = ("sys/kern/kern_checkpoint.c", "/* ckpt: tidy */\nint ckpt;\n" + REGRESSION,
         "kern_checkpoint: tidy the vmspace restore")
OTHERS = [("sys/kern/kern_sig.c", "kern_sig: comment the SIGCKPT path"),
          ("sys/kern/kern_exit.c", "kern_exit: tidy"),
          ("sys/vm/vm_map.c", "vm_map: tidy"),
          ("sys/kern/kern_time.c", "kern_time: tidy")]


def commit_plan(count, planted_at):
    """[(path, text, subject, author env)] of ``count`` commits, the ``planted_at``-th
    planting the regression (by CULPRIT_AUTHOR)."""
    if not 0 <= planted_at < count:
        raise ValueError(f"planted_at must be 0..{count - 1}, not {planted_at}")
    plan = []
    for i in range(count):
        if i == planted_at:
            plan.append(PLANT + ({"GIT_AUTHOR_NAME": CULPRIT_AUTHOR[0],
                                  "GIT_AUTHOR_EMAIL": CULPRIT_AUTHOR[1]},))
            continue
        path, subject = OTHERS[i % len(OTHERS)]
        plan.append((path, f"/* {subject} ({i + 1}) */\nint x{i};\n", f"{subject} ({i + 1})",
                     {}))
    return plan


FACTORY = dict(guest_commands=["true"], guest_tests=["memory"], cycles=1)


class BisectRig(PushRig):
    """The push rig with bisection on."""

    def __init__(self, basedir, mail_port=None, **factory_kwargs):
        if mail_port is not None:   # notify= mails the red build and the culprit
            factory_kwargs["notify"] = {"mail": {
                "to": ["kernel@dragonfly.invalid"], "fromaddr": "buildbot@dragonfly.invalid",
                "relayhost": "127.0.0.1", "port": mail_port}}
        super().__init__(basedir, tree_stable_timer=1, bisect=True,
                         **{**FACTORY, **factory_kwargs})

    def push_commits(self, count, planted_at):
        """``count`` commits in one push (commit_plan). Returns (commit ids oldest first,
        subjects)."""
        plan = commit_plan(count, planted_at)
        revisions = [self.commit(path, text, subject, env) for path, text, subject, env in plan]
        done = subprocess.run(["git", "push", "-q", "origin", "HEAD:refs/heads/master"],
                              cwd=str(self.clone), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"git push failed:\n{done.stdout}")
        return revisions, [subject for _p, _t, subject, _e in plan]

    def commit(self, path, text, message, env):
        full = self.clone / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text(text)
        tree.git(self.clone, "add", "--", path)
        # the author is an argv item of git's environment, never a shell word
        cmd = ["git", "commit", "-q", "-m", message]
        subprocess.run(cmd, cwd=str(self.clone), check=True, env=_git_env(env),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return tree.git(self.clone, "rev-parse", "HEAD")

    def control_builds(self):
        return self.bb.builds(names(self.builder("master"))[1])

    def wait_for_bisection(self, timeout, on_poll=None):
        """The finished controller build, or None when none finished in ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            builds = [b for b in self.control_builds() if b["complete"]]
            if on_poll:
                on_poll()
            if builds:
                return builds[-1]
            time.sleep(0.5)
        return None


def _git_env(extra):
    import os
    env = dict(os.environ, GIT_AUTHOR_NAME=tree.AUTHOR[0], GIT_AUTHOR_EMAIL=tree.AUTHOR[1],
               GIT_COMMITTER_NAME=tree.AUTHOR[0], GIT_COMMITTER_EMAIL=tree.AUTHOR[1],
               GIT_CONFIG_NOSYSTEM="1")
    env.update(extra)
    return env


def local_mailbox():
    """An SMTP server on 127.0.0.1 for the demo's mails, or None without one."""
    try:
        from buildbot_vkckpt.notify.mailbox import LocalMailbox, MailboxError
        return LocalMailbox()
    except (ImportError, MailboxError):
        return None


def run_demo(basedir, out=sys.stdout, timeout=600, keep=False, commits=5, planted_at=None,
             seed=None):
    """Seed, push ``commits`` commits with a regression planted at ``planted_at`` (random
    when None), show the red build, the bisection and the culprit mail. True when the
    culprit is the planted commit (and, with a local mailbox, was mailed)."""
    import contextlib
    import random

    def say(text=""):
        print(text, file=out, flush=True)

    if planted_at is None:
        planted_at = random.Random(seed).randrange(commits)
    box = local_mailbox()
    with box if box is not None else contextlib.nullcontext():
        return _run(basedir, say, timeout, keep, commits, planted_at, box)


def _run(basedir, say, timeout, keep, commits, planted_at, box):
    rig = BisectRig(basedir, mail_port=box.port if box else None)
    ok = False
    try:
        say("== vkckpt demo --bisect: a push with a planted regression, bisected by the master")
        rig.prepare()
        say(f"master {rig.bb.url}" + (f"; mail to an SMTP server on 127.0.0.1:{box.port}"
                                      if box else "; no local SMTP server (aiosmtpd missing)"))
        build = rig.force(reason="the last green build")
        say(f"\n-- build {build['number']}: {RESULT.get(build['results'])} (the last green one)")
        known = {r["buildrequestid"] for r in rig.build_requests()}
        revisions, subjects = rig.push_commits(commits, planted_at)
        say(f"\n-- one push of {commits} commits; commit {planted_at + 1} "
            f"({revisions[planted_at][:10]}) plants a restore that loses a guest process "
            f"in sys/kern/kern_checkpoint.c")
        for rev, subject in zip(revisions, subjects):
            say(f"   {rev[:10]} {subject}")
        red = rig.wait_for_build_of(revisions[-1], known, rig.tree_stable_timer + 6, timeout)
        if red is None:
            say("no build started for the push")
            return False
        steps = rig.steps(red)
        say(f"\n-- build {red['number']}: {RESULT.get(red['results'])} · {red['state_string']}")
        for name in ("checkpoint-cycle", "bisect-watch", "bisect"):
            if name in steps:
                say(f"     {name:<17} {RESULT.get(steps[name]['results']):<8} "
                    f"{steps[name]['state_string']}")
        control = rig.wait_for_bisection(timeout)
        if control is None:
            say("the bisection did not finish in time")
            return False
        say(f"\n-- bisection (builder {names(rig.builder('master'))[1]}, build "
            f"{control['number']}): {RESULT.get(control['results'])}")
        for step in rig.bb.steps(control["buildid"]):
            if step["name"].startswith(("probe", "bisect")):
                say(f"     {step['name']:<17} {step['state_string']}")
        for probe in rig.bb.builds(names(rig.builder("master"))[0]):
            plan = rig.steps(probe).get("plan", {}).get("state_string", "")
            say(f"     probe build {probe['number']}: {RESULT.get(probe['results']):<8} {plan}")
        culprit = rig.bb.properties(control["buildid"]).get("vkckpt_culprit") or {}
        say(f"\n   summary: {control['state_string']}")
        red_props = rig.bb.properties(red["buildid"])
        red_now = rig.bb.get(f"builds/{red['buildid']}")["builds"][0]
        say(f"   red build {red['number']} now says: {red_now['state_string']}")
        ok = (culprit.get("revision") == revisions[planted_at]
              and red_props.get("vkckpt_culprit", {}).get("revision") == revisions[planted_at])
        if box is not None:
            ok &= show_culprit_mail(box, revisions[planted_at], say)
    finally:
        if keep:
            say(f"\nmaster and worker left running: web UI {rig.bb.url}")
        else:
            rig.stop()
    say(f"\nbisect demo: {'as expected' if ok else 'NOT as expected'}")
    return ok


def show_culprit_mail(box, revision, say, timeout=60):
    """Print the mail that names the culprit; False when none arrives."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with box.lock:
            mails = list(box.mails)
        found = [m for m in mails if revision[:10] in m["subject"] + m["body"]]
        if found:
            mail = found[0]
            say(f"\n-- {len(mails)} mail(s) received by the SMTP server; the culprit's:")
            say(f"   To: {', '.join(mail['to'])}\n   Subject: {mail['subject']}")
            for line in mail["body"].splitlines()[:10]:
                say(f"   | {line}")
            return True
        time.sleep(0.5)
    say(f"\n-- no mail naming {revision[:10]} arrived in {timeout} s")
    return False
