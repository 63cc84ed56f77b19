"""A push, end to end, with real git, a real master and worker and the simulated host.

One master for every case: a bare remote whose post-receive hook runs ``buildbot sendchange``,
a clone that commits and pushes, ``add_to_config`` with a 1 s treeStableTimer. Cases run in
file order on the same worker (the seed build gives them a world, kernel and image to reuse).
"""
import base64
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

from buildbot_vkckpt.demo.push import HOOK_USER, PROJECT, PushRig, write_hook
from buildbot_vkckpt.simhost import tree

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

SKIPPED, SUCCESS = 3, 0
PWNED = f"/tmp/PWNED-{uuid.uuid4().hex[:12]}"
# a legal git branch name that runs commands if it ever reaches a shell unquoted
EVIL_BRANCH = (f"evil;touch${{IFS}}{PWNED}`touch${{IFS}}{PWNED}`$(touch${{IFS}}{PWNED})"
               f"'\"q|x&y")
EVIL_FILES = {f"bin/ls/$(touch {PWNED}).c": "int a;\n",
              f"bin/ls/`touch {PWNED}`; echo 'q\" x.c": "int b;\n"}
START_WITHIN = 6  # treeStableTimer 1 s + hook + scheduler


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    # these builds are about what a push rebuilds: one suite test shows the tests stage ran,
    # without the full suite's, a guest command's or a cycle's time per build
    rig = PushRig(tmp_path_factory.mktemp("push"), branches=["master", EVIL_BRANCH],
                  tree_stable_timer=1, guest_commands=[], guest_tests=["memory"], cycles=0)
    try:
        rig.prepare()
        seed = rig.force("master")
        assert seed["results"] == SUCCESS, rig.steps(seed)
        yield rig
    finally:
        assert rig.stop() == []
        for path in (PWNED,):
            if os.path.exists(path):
                os.unlink(path)


def push_and_build(rig, files, message, branch="master"):
    known = {r["buildrequestid"] for r in rig.build_requests()}
    revision, _ = rig.push(files, message, branch=branch)
    build = rig.wait_for_build_of(revision, known, START_WITHIN, timeout=120)
    assert build is not None, f"no build for {revision} ({list(files)})"
    return build, rig.steps(build), rig.bb.properties(build["buildid"])


def test_kernel_change_skips_buildworld(rig):
    build, steps, props = push_and_build(
        rig, {"sys/kern/kern_checkpoint.c": "/* fix */\n"}, "kern: fix a race")
    assert build["results"] == SUCCESS
    assert steps["buildworld"]["results"] == SKIPPED
    assert not steps["buildworld"]["hidden"]
    assert steps["buildkernel"]["results"] == SUCCESS
    assert steps["root-image"]["results"] == SUCCESS
    assert props["vkckpt_plan"] == "kernel + image + tests"
    assert props["vkckpt_build_world"] is False
    assert "world reused from build" in steps["plan"]["state_string"]
    assert props["vkckpt_world_from_build"] >= 1
    # kern_checkpoint.c is also the host half of a vkernel checkpoint: named untested
    assert props["vkckpt_untested_host_paths"] == ["sys/kern/kern_checkpoint.c"]
    assert "host-side vkernel changes untested" in steps["plan"]["state_string"]


def test_man_page_starts_no_build(rig):
    known = {r["buildrequestid"] for r in rig.build_requests()}
    revision, output = rig.push({"usr.bin/checkpt/checkpt.1": ".Dd today\n"}, "checkpt.1")
    assert "change sent successfully" in output
    assert rig.change_for(revision) is not None  # the hook ran, the master has the change
    assert rig.no_build_for(known, quiet_seconds=START_WITHIN)


def test_userland_change_rebuilds_world(rig):
    build, steps, props = push_and_build(rig, {"bin/ls/ls.c": "int main(void){return 0;}\n"},
                                         "ls: simplify")
    assert build["results"] == SUCCESS
    assert steps["buildworld"]["results"] == SUCCESS
    assert steps["buildkernel"]["results"] == SKIPPED
    assert props["vkckpt_build_world"] is True
    assert "kernel reused from build" in steps["plan"]["state_string"]


def test_installed_kernel_header_rebuilds_both(rig):
    build, steps, props = push_and_build(
        rig, {"sys/sys/param.h": "#define __DragonFly_version 500901\n"}, "param.h: bump")
    assert build["results"] == SUCCESS
    assert steps["buildworld"]["results"] == SUCCESS
    assert steps["buildkernel"]["results"] == SUCCESS
    assert props["vkckpt_plan"] == "world + kernel + image + tests"


def test_world_missing_from_objdir_is_built_anyway(rig):
    shutil.rmtree(rig.host.obj / "world_x86_64")  # someone cleaned /usr/obj on the build host
    build, steps, props = push_and_build(rig, {"sys/kern/kern_exit.c": "/* x */\n"},
                                         "kern: tidy")
    assert build["results"] == SUCCESS
    assert steps["buildworld"]["results"] == SUCCESS
    assert "world" in props["vkckpt_plan"]
    assert any(r.startswith("world rebuilt anyway: no finished world")
               for r in props["vkckpt_plan_reasons"])


def test_shell_metacharacters_in_branch_and_file_names_run_nothing(rig):
    build, steps, props = push_and_build(rig, EVIL_FILES, f"evil $(touch {PWNED}) `id`",
                                         branch=EVIL_BRANCH)
    assert not os.path.exists(PWNED)
    change, = rig.bb.get(f"builds/{build['buildid']}/changes")["changes"]
    assert change["branch"] == EVIL_BRANCH
    assert sorted(change["files"]) == sorted(EVIL_FILES)
    assert build["results"] == SUCCESS, steps
    assert props["vkckpt_build_world"] is True  # bin/ls/...: classified as userland
    # a new builder has no kernel of its own to reuse yet
    assert props["vkckpt_build_kernel"] is True
    assert any(r.startswith("kernel rebuilt anyway: no finished kernel")
               for r in props["vkckpt_plan_reasons"])


def post_change(rig, auth=None, **fields):
    """POST to the master's /change_hook/base; returns (HTTP status, body)."""
    request = urllib.request.Request(rig.bb.url + "change_hook/base",
                                     data=urllib.parse.urlencode(fields).encode())
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def image_stamp(rig):
    worker_dir, = rig.bb.worker_dirs.values()
    return json.loads((worker_dir / rig.builder("master") / "vkckpt-root.img.stamp").read_text())


def test_non_utf8_paths_and_message_are_sent_and_built(rig):
    build, steps, props = push_and_build(rig, {"bin/ls/\udcff.c": "int a;\n"},
                                         "ls: caf\udce9 \udcff")
    change, = rig.bb.get(f"builds/{build['buildid']}/changes")["changes"]
    assert change["files"] == ["bin/ls/\\xff.c"]  # escaped, never dropped
    assert change["comments"].startswith("ls: caf")
    assert build["results"] == SUCCESS, steps
    assert props["vkckpt_build_world"] is True


def test_an_anonymous_hook_post_is_refused(rig):
    known = {c["changeid"] for c in rig.bb.get("changes")["changes"]}
    status, _ = post_change(rig, files=json.dumps(["bin/ls/ls.c"]), revision="f" * 40,
                            branch="master", project=PROJECT, repository=rig.repourl)
    assert status == 401
    status, _ = post_change(rig, auth=(HOOK_USER, "wrong"), files=json.dumps(["bin/ls/ls.c"]),
                            revision="f" * 40, branch="master", project=PROJECT,
                            repository=rig.repourl)
    assert status == 401
    assert {c["changeid"] for c in rig.bb.get("changes")["changes"]} == known


def test_a_lost_push_and_a_forged_change_cannot_make_an_old_world_pass(rig):
    # one push cannot reach the master (its hook says so loudly); it changed userland
    write_hook(rig.bare, "127.0.0.1:1", rig.repourl)
    try:
        lost, output = rig.push({"bin/cat/cat.c": "int main(void){return 1;}\n"},
                                "cat: a push the master never hears of")
    finally:
        write_hook(rig.bare, f"127.0.0.1:{rig.change_port}", rig.repourl)
    assert f"CHANGE NOT SENT: master {lost}" in output, output
    assert rig.change_for(lost, timeout=2) is None
    # then a change for that revision claims kernel only and carries the plan's properties,
    # naming the world the current image was built from
    old_world = image_stamp(rig)["world_revision"]
    assert old_world != lost
    known = {r["buildrequestid"] for r in rig.build_requests()}
    status, body = post_change(
        rig, auth=(HOOK_USER, rig.hook_password()), revision=lost, branch="master",
        project=PROJECT, repository=rig.repourl, author="mallory <m@example.org>",
        files=json.dumps(["sys/kern/kern_sig.c"]), comments="kern: nothing to see",
        properties=json.dumps({"vkckpt_world_revision": old_world,
                               "vkckpt_build_world": False, "vkckpt_build_image": False}))
    assert status == 200, body
    build = rig.wait_for_build_of(lost, known, START_WITHIN, timeout=120)
    assert build is not None
    steps, props = rig.steps(build), rig.bb.properties(build["buildid"])
    assert build["results"] == SUCCESS, steps
    # the tree, not the change, decided: userland changed since the world was built
    assert steps["buildworld"]["results"] == SUCCESS
    assert any(r.startswith("world rebuilt anyway: the tree changed since build") and
               "bin/cat/cat.c" in r for r in props["vkckpt_plan_reasons"]), props
    # and the image was rebuilt from the new world, not passed off as the old one
    assert steps["root-image"]["state_string"].startswith("built root image")
    assert props["vkckpt_image_reused"] is False
    assert image_stamp(rig)["world_revision"] == lost


def push_rename(rig, old, new, message, branch="master"):
    """``git mv old new`` in the developer's clone, commit and push (the hook runs)."""
    known = {r["buildrequestid"] for r in rig.build_requests()}
    if tree.git(rig.clone, "rev-parse", "--abbrev-ref", "HEAD") != branch:
        tree.git(rig.clone, "checkout", "-q", branch)
    (rig.clone / new).parent.mkdir(parents=True, exist_ok=True)
    tree.git(rig.clone, "mv", old, new)
    tree.git(rig.clone, "commit", "-q", "-m", message)
    revision = tree.revision(rig.clone)
    done = subprocess.run(["git", "push", "-q", "origin", f"HEAD:refs/heads/{branch}"],
                          cwd=str(rig.clone), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout
    build = rig.wait_for_build_of(revision, known, START_WITHIN, timeout=120)
    assert build is not None, f"no build for the rename {old} -> {new}"
    return build, rig.steps(build), rig.bb.properties(build["buildid"])


def test_a_rename_out_of_sys_sys_rebuilds_world_and_kernel(rig):
    # the hook (like GitPoller) reports a rename by its new name only: alone, a vkernel64
    # header (kernel only); the plan's git diff since the world's revision has the old side,
    # an installed header, too
    old, new = "sys/sys/ckpt.h", "sys/platform/vkernel64/include/ckpt.h"
    build, steps, props = push_rename(rig, old, new, "ckpt.h: move to the vkernel platform")
    change, = rig.bb.get(f"builds/{build['buildid']}/changes")["changes"]
    assert old not in change["files"] and new in change["files"]
    assert build["results"] == SUCCESS, steps
    assert steps["buildworld"]["results"] == SUCCESS
    assert steps["buildkernel"]["results"] == SUCCESS
    assert props["vkckpt_plan"] == "world + kernel + image + tests"
    assert any(r.startswith("world rebuilt anyway: the tree changed since build")
               and r.endswith(f"{old}: kernel header installed into /usr/include by buildworld")
               for r in props["vkckpt_plan_reasons"]), props["vkckpt_plan_reasons"]


def test_a_kernel_source_world_compiles_rebuilds_world(rig):
    # lib/libkvm/Makefile: .PATH: ${SYSDIR}/kern and kern_kinfo.c in SRCS (commit 5deae5c64c
    # touched it); the hand rules alone said kernel only
    build, steps, props = push_and_build(
        rig, {"sys/kern/kern_kinfo.c": "/* kinfo: fill ki_comm */\n"}, "kinfo: fill ki_comm")
    assert build["results"] == SUCCESS, steps
    assert steps["buildworld"]["results"] == SUCCESS
    assert steps["buildkernel"]["results"] == SUCCESS
    assert props["vkckpt_plan_reasons"][0] == (
        "sys/kern/kern_kinfo.c: compiled into world by lib/libkvm/Makefile "
        "(.PATH: ${SYSDIR}/kern; SRCS)")
    assert props["vkckpt_untested_host_paths"] == []
