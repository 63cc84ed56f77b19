"""Rules derived from the tree: real-shaped DragonFly Makefiles in, rules out (and real git for
the two passes the plan step runs on the worker)."""
import json
import os
import subprocess

import pytest

from buildbot_vkckpt import changes, treerules
from buildbot_vkckpt.changes import Stage, classify_paths
from buildbot_vkckpt.steps import plan as plan_step

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
with open(os.path.join(ROOT, "benchmarks", "data", "dragonfly-makefiles.json"),
          encoding="utf-8") as f:
    MAKEFILES = json.load(f)["files"]
RULES = treerules.derive(MAKEFILES)

EVERYTHING = "world + kernel + image + tests"
WORLD = "world + image + tests"
KERNEL = "kernel + image + tests"


def plan(*paths, rules=RULES):
    return classify_paths(list(paths), tree_rules=rules)


@pytest.mark.parametrize("path,hand,derived", [
    # world compiles these kernel sources (.PATH into sys/)
    ("sys/kern/kern_kinfo.c", KERNEL, EVERYTHING),          # lib/libkvm, commit 5deae5c64c
    ("sys/libkern/icrc32.c", EVERYTHING, EVERYTHING),       # sbin/hammer2 (hand rule too)
    ("sys/vfs/hammer2/xxhash/xxhash.h", EVERYTHING, EVERYTHING),
    # the kernel build's own world paths
    ("lib/libc/gen/getcwd.c", WORLD, EVERYTHING),           # linked into the vkernel
    ("lib/libthread_xu/thread/thr_create.c", WORLD, EVERYTHING),   # -pthread
    ("usr.bin/awk/main.c", WORLD, EVERYTHING),              # bootstrap tool on KMAKEENV's PATH
    ("usr.bin/bmake/Makefile", EVERYTHING, EVERYTHING),
    ("gnu/usr.bin/binutils234/ld/Makefile", EVERYTHING, EVERYTHING),
    # untouched by derivation
    ("sys/kern/kern_exit.c", KERNEL, KERNEL),
    ("bin/ls/ls.c", WORLD, WORLD),
    ("usr.bin/awk/awk.1", "nothing (documentation only)", "nothing (documentation only)"),
    ("sys/dev/drm/i915/i915_gem.c", "nothing (no change reaches the vkernel test)",
     "nothing (no change reaches the vkernel test)"),
])
def test_derived_rules_only_add_stages(path, hand, derived):
    assert plan(path, rules=()).describe() == hand
    assert plan(path).describe() == derived


def test_reasons_name_the_makefile_and_its_line():
    reasons = plan("sys/kern/kern_kinfo.c").reasons
    assert reasons[0] == ("sys/kern/kern_kinfo.c: compiled into world by lib/libkvm/Makefile "
                          "(.PATH: ${SYSDIR}/kern; SRCS)")
    assert plan("include/unistd.h").reasons[0].startswith("include/unistd.h: userland header")
    kernel_side = {r.pattern: r.reason for r in RULES if r.stages == Stage.KERNEL}
    assert kernel_side["include/**"] == (
        "the vkernel compiles against it (sys/conf/kern.pre.mk: INCLUDES+= -I$S/../include)")
    assert kernel_side["lib/csu/**"].startswith("linked into the vkernel (crt objects): "
                                                "sys/platform/vkernel64/conf/Makefile")
    assert kernel_side["sys/conf/acpi.mk"] == (
        'included by the vkernel build (sys/conf/kern.pre.mk: .include "$S/conf/acpi.mk")')


def test_only_the_listed_sources_of_a_path_directory_count():
    # libkvm's .PATH is all of sys/kern, but only the SRCS names (and headers) come from it
    rules = treerules.derive({"lib/libkvm/Makefile": MAKEFILES["lib/libkvm/Makefile"]})
    assert plan("sys/kern/kern_kinfo.c", rules=rules).world
    assert plan("sys/kern/kvm_x86_64.c", rules=rules).world    # ${MACHINE_ARCH} resolved
    assert not plan("sys/kern/kern_exit.c", rules=rules).world
    assert plan("sys/kern/kern_private.h", rules=rules).world


def test_a_commented_path_line_counts_for_nothing():
    text = ("PROG=\tx\nSRCS=\tx.c crc32.c\n#.PATH: ${.CURDIR}/../../sys/libkern\n"
            ".include <bsd.prog.mk>\n")
    assert treerules.derive({"sbin/x/Makefile": text}) == ()


def test_continuations_conditionals_and_unknown_variables():
    text = ("SYSDIR?=\t${.CURDIR}/../../sys\n"
            ".if defined(FOO)\n"
            ".PATH:\t${SYSDIR}/net \\\n"
            "\t${SYSDIR}/${UNKNOWN_DIR}\t# a comment\n"
            ".endif\n"
            "SRCS=\ta.c \\\n\tradix.c ${GENERATED}\n"
            ".PATH: ${.OBJDIR} /usr/src/sys/kern\n")
    rules = treerules.derive({"usr.sbin/route/Makefile": text})
    patterns = {r.pattern for r in rules}
    assert "sys/net/{a.c,radix.c,*,*.h}" in patterns
    assert "sys/*/{a.c,radix.c,*,*.h}" in patterns     # unknown directory: every sys/ dir
    assert not any("kern" in p for p in patterns)      # absolute host paths and .OBJDIR: no
    assert plan("sys/net/radix.c", rules=rules).world


def test_a_makefile_inc_path_reaches_the_programs_below_it():
    files = {
        "usr.sbin/tool/Makefile.inc": ("SYSDIR?= ${.CURDIR}/../../../sys\n"
                                       ".PATH: ${SYSDIR}/kern\n"),
        "usr.sbin/tool/one/Makefile": "PROG=\tone\nSRCS=\tone.c subr_shared.c\n"
                                      ".include <bsd.prog.mk>\n",
        "usr.sbin/tool/two/Makefile": "PROG=\ttwo\n.include <bsd.prog.mk>\n",  # SRCS = two.c
    }
    rules = treerules.derive(files)
    assert plan("sys/kern/subr_shared.c", rules=rules).world
    assert plan("sys/kern/two.c", rules=rules).world
    assert not plan("sys/kern/kern_exit.c", rules=rules).world
    reason = plan("sys/kern/subr_shared.c", rules=rules).reasons[0]
    assert "usr.sbin/tool/one/Makefile" in reason and "${SYSDIR}/kern" in reason


def test_kernel_module_makefiles_and_documentation_are_not_world():
    files = {"sys/dev/virtual/vkernel/Makefile": ".PATH: ${.CURDIR}/../../../kern\nSRCS=x.c\n",
             "share/examples/kld/Makefile": ".PATH: ${.CURDIR}/../../../sys/kern\nSRCS=y.c\n",
             "test/x/Makefile": ".PATH: ${.CURDIR}/../../sys/kern\nSRCS=z.c\n"}
    assert treerules.derive(files) == ()


def test_a_vkernel_linked_with_nostdlib_takes_no_libraries():
    vk = MAKEFILES["sys/platform/vkernel64/conf/Makefile"].replace("-export-dynamic",
                                                                   "-nostdlib -export-dynamic")
    rules = treerules.derive({"sys/platform/vkernel64/conf/Makefile": vk})
    assert not any(r.pattern.startswith(("lib/csu", "lib/libc")) for r in rules)


def test_garbage_makefiles_do_not_crash():
    files = {"bin/x/Makefile": "${${${A}}}\n.PATH: ${\nSRCS= $(\n\\\n",
             "bin/y/Makefile": "A=${B}\nB=${A}\n.PATH: ${A}\nSRCS=${A}\n",
             "bin/z/Makefile": "\x00\xff\n", 3: "x", "bin/w/Makefile": None}
    treerules.derive(files)


def test_cache_keeps_the_most_recent_revisions():
    cache = treerules.TreeRulesCache(size=2)
    cache.put("a", ())
    cache.put("b", (1,))
    cache.get("a")
    cache.put("c", (2,))
    assert cache.get("b") is None and cache.get("a") == () and cache.get("c") == (2,)


# --- the plan step's git passes, against a real repository ------------------------------------
def _git(repo, *args):
    return subprocess.run(["git", *args], cwd=repo, check=True, stdout=subprocess.PIPE,
                          env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
                               "GIT_CONFIG_NOSYSTEM": "1"}).stdout.decode()


def test_the_two_git_grep_passes_read_the_makefiles(tmp_path):
    repo = tmp_path / "src"
    files = dict(MAKEFILES)
    files["bin/ls/Makefile"] = "PROG=\tls\n.include <bsd.prog.mk>\n"
    files["usr.sbin/acpi/acpidump/odd name [1].c"] = "int x;\n"
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "tree")
    rev = _git(repo, "rev-parse", "--verify", "HEAD^{commit}").strip()
    hits = _git(repo, "-c", "core.quotepath=off", "grep", "-l", "-z", "-I", "-E", "-e",
                treerules.REACHES_SYS, rev, "--", *plan_step.MAKEFILE_SPECS)
    names = treerules.parse_name_list(hits, rev)
    assert "lib/libkvm/Makefile" in names and "bin/ls/Makefile" not in names
    specs = treerules.wanted_makefiles(names)
    text = _git(repo, "-c", "core.quotepath=off", "grep", "-z", "-n", "-I", "-e", "", rev, "--",
                *specs)
    got = treerules.parse_grep(text, rev)
    assert got["lib/libkvm/Makefile"] == MAKEFILES["lib/libkvm/Makefile"]
    assert "usr.sbin/acpi/acpidump/Makefile" in got   # below a Makefile.inc that reaches sys/
    assert "Makefile.inc1" in got and "sys/conf/kern.pre.mk" in got
    assert treerules.derive(got) == RULES


def test_every_derived_pattern_is_a_valid_glob():
    for rule in RULES:
        rule.regex  # compiles
        assert rule.reason and rule.stages in (Stage.WORLD, Stage.KERNEL)
    assert changes.classify_paths(["x"], tree_rules=RULES).describe() == EVERYTHING


def test_the_benchmark_keeps_the_savings_and_every_unsafe_case_safe(capsys):
    import importlib.util
    import re
    spec = importlib.util.spec_from_file_location("plan_benchmark",
                                                  os.path.join(ROOT, "benchmarks", "plan.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main([]) == 0
    out = capsys.readouterr().out
    per_push = out.split("batched")[0]
    skip = float(re.search(r"skip buildworld\s+\d+\s+([\d.]+) %", per_push).group(1))
    saved = float(re.search(r"saved ([\d.]+) %", per_push).group(1))
    assert skip >= 33.0 and saved >= 30.0           # issue 13's floor
    assert "FAIL" not in out


def test_a_pushed_makefile_cannot_make_a_slow_or_wide_pattern():
    # the Makefiles come from the push: a literal "*" stays a character, a run of unknowns is
    # one wildcard, a name of many unknowns the whole directory, and the reason stays short
    import time
    text = (".PATH: ${.CURDIR}/../../sys/kern\n"
            "SRCS= a*b.c " + "${X}a" * 40 + ".c ${A}${B}${C}.c ${Y_${Z}}.c\n"
            "PROG= p\n# " + "x" * 5000 + "\n.PATH: ${.CURDIR}/../../sys/" + "d" * 400 + "\n")
    rules = treerules.derive({"bin/p/Makefile": text})
    kern = next(r for r in rules if r.pattern.startswith("sys/kern/"))
    assert kern.pattern == "sys/kern/{a\\*b.c,*,*.c,*,*.h}"   # ${Y_${Z}}.c: all unknown
    assert all(len(r.reason) < 400 for r in rules)
    started = time.monotonic()
    assert plan("sys/kern/" + "a" * 5000 + "b", rules=rules).world
    assert not plan("sys/kern/axb.c/x", rules=rules).world
    assert time.monotonic() - started < 1


def test_kernel_makefile_includes_resolve_from_the_including_file():
    # bsd.kern.mk: .include "../platform/${MACHINE_PLATFORM}/conf/kern.mk" (relative to
    # sys/conf, the vkernel's platform); kern.post.mk includes it with $S
    reasons = {r.pattern: r.reason for r in RULES}
    assert reasons["sys/platform/vkernel64/conf/kern.mk"] == (
        'included by the vkernel build (sys/conf/bsd.kern.mk: .include '
        '"../platform/${MACHINE_PLATFORM}/conf/kern.mk")')
    assert "sys/conf/bsd.kern.mk" in reasons and "sys/conf/kern.paths.mk" in reasons


def test_the_first_pass_finds_every_way_to_name_sys(tmp_path):
    repo = tmp_path / "src"
    files = {"a/x/Makefile": ".PATH: ${.CURDIR}/../../sys/kern\n",
             "a/y/Makefile": ".PATH: ${SRCDIR}/sys/libkern\n",
             "a/z/Makefile": "SYSDIR?= /usr/src/sys\n",
             "a/w/Makefile": ".PATH: ${SRCTOP}/sys\n",
             "a/v/Makefile": "PROG= v\n",
             "a/u/Makefile": "SRCS= system.c sysctl.c\n"}
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "tree")
    hits = _git(repo, "grep", "-l", "-z", "-I", "-E", "-e", treerules.REACHES_SYS, "HEAD", "--",
                *plan_step.MAKEFILE_SPECS)
    assert sorted(treerules.parse_name_list(hits, "HEAD")) == [
        "a/w/Makefile", "a/x/Makefile", "a/y/Makefile", "a/z/Makefile"]


def test_an_unknown_top_before_sys_is_taken_as_the_tree():
    text = ".PATH: ${SRCTOP}/sys/libkern ${UNKNOWN}/other\nSRCS= prog.c crc.c\nPROG= prog\n"
    rules = treerules.derive({"usr.bin/prog/Makefile": text})
    assert [r.pattern for r in rules] == ["sys/libkern/{prog.c,crc.c,*.h}"]


def test_read_checkout_and_the_command_line(tmp_path, capsys):
    repo = tmp_path / "src"
    for path in ("lib/libkvm/Makefile", "sys/conf/kern.pre.mk"):
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(MAKEFILES[path])
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "tree")
    assert set(treerules.read_checkout(repo)) == {"lib/libkvm/Makefile", "sys/conf/kern.pre.mk"}
    assert changes.main(["--tree", str(repo), "sys/kern/kern_kinfo.c"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(EVERYTHING + "\n  sys/kern/kern_kinfo.c: compiled into world by "
                          "lib/libkvm/Makefile")
    with pytest.raises(RuntimeError):
        treerules.read_checkout(tmp_path)   # not a git checkout


def test_a_for_loop_variable_takes_each_value():
    # bsd.kmod.mk-style search for the kernel tree
    text = (".for _dir in ${.CURDIR}/../.. ${.CURDIR}/../../sys /usr/src/sys\n"
            ".if !defined(SYSDIR) && exists(${_dir}/kern/)\n"
            "SYSDIR=\t${_dir}\n"
            ".endif\n"
            ".endfor\n"
            ".PATH: ${SYSDIR}/kern\n"
            "PROG= tool\nSRCS= tool.c subr_x.c\n")
    rules = treerules.derive({"usr.sbin/tool/Makefile": text})
    assert [r.pattern for r in rules] == ["sys/kern/{tool.c,subr_x.c,*.h}"]
