import json
import os
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buildbot_vkckpt import changes
from buildbot_vkckpt.changes import (
    RULES, Plan, classify_paths, glob_to_regex, is_important, merge, plan_for_changes,
    reuse_note, rule_for, rules_for, rules_table_rst)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

EVERYTHING = "world + kernel + image + tests"
WORLD = "world + image + tests"
KERNEL = "kernel + image + tests"
IMAGE = "image + tests"
TESTS = "tests"
DOCS = "nothing (documentation only)"
UNUSED = "nothing (no change reaches the vkernel test)"

# Real paths from the DragonFly tree (most from benchmarks/data/dragonfly-commits.jsonl),
# with the plan each one alone must produce. Every rule needs at least one example here.
EXAMPLES = {
    # documentation
    "bin/ls/ls.1": DOCS,
    "share/man/man4/vke.4": DOCS,
    "lib/libc/sys/sys_checkpoint.2": DOCS,
    "gnu/usr.bin/binutils234/block2/ld/ld234.1": DOCS,
    "share/man/Makefile": DOCS,
    "share/doc/smm/01.setup/spell.ok": DOCS,
    "share/examples/kld/Makefile": DOCS,
    "test/libpthread/README": DOCS,
    "share/mk/bsd.README": DOCS,
    "contrib/dhcpcd/README.md": DOCS,
    "contrib/ldns/CHANGES.md": DOCS,
    "UPDATING": DOCS,
    "COPYRIGHT": DOCS,
    "contrib/file/LICENSE": DOCS,
    ".gitignore": UNUSED,
    # tests and things outside the build
    "test/vkckpt/ckpt_pipe.c": TESTS,
    "test/vkernel/Makefile": IMAGE,
    "test/debug/vmpageinfo.c": UNUSED,
    "test/testcases/posixipc/common/common.c": UNUSED,
    "tools/tools/drm/radeon/mkregtable/mkregtable.c": UNUSED,
    "tools/regression/lib/libc/gen/test-fnmatch.c": UNUSED,
    "nrelease/Makefile": UNUSED,
    # build machinery and toolchain
    "Makefile": EVERYTHING,
    "Makefile.inc1": EVERYTHING,
    "Makefile_upgrade.inc": IMAGE,          # 18a5eb3635: installworld copies it to /etc/upgrade
    "Makefile.ssh.common": WORLD,
    "share/mk/bsd.prog.mk": EVERYTHING,
    "share/mk/sys.mk": EVERYTHING,
    "contrib/gcc-8.0/gcc/cfgexpand.c": EVERYTHING,
    "contrib/binutils-2.25/bfd/elf.c": EVERYTHING,
    "gnu/usr.bin/cc80/Makefile": EVERYTHING,
    "gnu/usr.bin/binutils234/Makefile": EVERYTHING,
    "gnu/lib/gcc80/libgcc/Makefile": EVERYTHING,
    "usr.bin/bmake/Makefile": EVERYTHING,   # ee2cba8aae: DragonFly's make is usr.bin/bmake
    "contrib/gcc-8.0/gcc/config/i386/i386.md": EVERYTHING,  # machine description
    "gnu/usr.bin/cc80/cc_tools/Makefile": EVERYTHING,
    "contrib/bmake/job.c": EVERYTHING,
    "usr.sbin/config/mkmakefile.c": EVERYTHING,
    "tools/install.sh": EVERYTHING,
    "tools/gitrev.sh": EVERYTHING,
    "tools/commit-msg": UNUSED,
    # kernel configs and platforms
    "sys/config/VKERNEL64": KERNEL,
    "sys/config/LINT64": UNUSED,
    "sys/config/X86_64_GENERIC": UNUSED,
    "sys/platform/vkernel64/platform/pmap.c": KERNEL,
    "sys/platform/vkernel64/include/md_var.h": KERNEL,
    "sys/platform/pc64/include/pmap.h": EVERYTHING,
    "sys/platform/pc64/x86_64/trap.c": UNUSED,
    "sys/platform/pc64/vmm/ept.c": UNUSED,
    "sys/cpu/x86_64/include/cpufunc.h": EVERYTHING,
    "sys/cpu/x86_64/misc/lwbuf.c": KERNEL,
    # sys/ pieces world takes
    "sys/kern/syscalls.master": EVERYTHING,
    "sys/sys/syscall.mk": EVERYTHING,
    "sys/conf/newvers.sh": EVERYTHING,
    "sys/conf/acpi.mk": EVERYTHING,         # kern.pre.mk includes it (66e66c3daf)
    "sys/conf/kmod.mk": KERNEL,
    "sys/conf/files": KERNEL,
    "sys/conf/kern.pre.mk": KERNEL,
    "sys/boot/efi/loader/main.c": WORLD,
    "sys/boot/pc32/boot2/boot2.c": WORLD,
    "sys/contrib/dev/acpica/source/compiler/aslmain.c": WORLD,
    "sys/contrib/edk2/Include/Uefi.h": WORLD,
    "sys/contrib/dev/iwm/iwm-8265-22.fw.uu": UNUSED,
    "sys/sys/param.h": EVERYTHING,
    "sys/sys/checkpoint.h": EVERYTHING,
    "sys/net/if.h": EVERYTHING,
    "sys/net/pf/pfvar.h": EVERYTHING,
    "sys/netinet/tcp_var.h": EVERYTHING,
    "sys/netinet6/nd6.h": EVERYTHING,
    "sys/vm/vm_map.h": EVERYTHING,
    "sys/bus/cam/scsi/scsi_all.h": EVERYTHING,
    "sys/vfs/hammer2/hammer2_disk.h": EVERYTHING,
    "sys/dev/raid/mfi/mfireg.h": EVERYTHING,
    "sys/netgraph7/ether/ng_ether.h": EVERYTHING,
    "sys/opencrypto/cryptodev.h": EVERYTHING,
    "sys/dev/acpica/acpiio.h": EVERYTHING,
    "sys/dev/drm/include/uapi/linux/types.h": EVERYTHING,
    "sys/dev/acpica/acpivar.h": WORLD,
    "sys/libkern/icrc32.c": EVERYTHING,
    "sys/libprop/prop_number.h": EVERYTHING,
    "sys/vfs/hammer2/xxhash/xxhash.c": EVERYTHING,
    # what VKERNEL64 compiles, and hardware it does not
    "sys/dev/virtual/vkernel/net/if_vke.c": KERNEL,
    "sys/dev/disk/vn/vn.c": KERNEL,
    "sys/dev/disk/md/md.c": KERNEL,
    "sys/dev/Makefile": KERNEL,
    "sys/dev/drm/i915/intel_display.c": UNUSED,
    "sys/dev/drm/include/linux/list.h": UNUSED,
    "sys/dev/netif/iwm/if_iwm.c": UNUSED,
    "sys/dev/virtual/virtio/block/virtio_blk.c": UNUSED,
    "sys/kern/kern_checkpoint.c": KERNEL,
    "sys/kern/vfs_cache.c": KERNEL,
    "sys/vfs/hammer2/hammer2_vnops.c": KERNEL,
    "sys/net/if.c": KERNEL,
    "sys/netgraph7/bluetooth/include/ng_btsocket.h": EVERYTHING,  # LDIRS symlink
    "sys/vfs/procfs/procfs.h": KERNEL,
    "sys/vm/vm_pageout.c": KERNEL,
    # userland
    "include/unistd.h": EVERYTHING,         # ee5bd763df: the vkernel compiles against it
    "lib/csu/x86_64/crt1.c": EVERYTHING,
    "etc/Makefile": WORLD,
    "etc/mtree/BSD.include.dist": WORLD,
    "etc/rc.d/dhcpcd": IMAGE,
    "etc/defaults/rc.conf": IMAGE,
    "initrd/mkinitrd.sh": WORLD,
    "bin/ls/ls.c": WORLD,
    "sbin/hammer2/cmd_debug.c": WORLD,
    "lib/libc/gen/utmpx.c": WORLD,
    "libexec/rbootd/utils.c": WORLD,
    "usr.bin/checkpt/checkpt.c": WORLD,
    "usr.sbin/acpi/acpicall/acpicall.c": WORLD,
    "gnu/usr.bin/grep/Makefile": WORLD,
    "contrib/dhcpcd/src/dhcp.c": WORLD,
    "contrib/tcsh-6/config/bsd4.4": WORLD,
    "crypto/libressl/ssl/ssl_lib.c": WORLD,
    "games/hack/hack.c": WORLD,
    "share/zoneinfo/europe": IMAGE,         # 9e66d69116: zic runs at install time
    "share/misc/pci_vendors": IMAGE,        # 4f8e8636b6: data installworld copies
    "share/zoneinfo/Makefile": WORLD,
    "secure/lib/libssh/Makefile": WORLD,
    # outside the known layout
    "newtopdir/foo.c": EVERYTHING,
    "Makefile.local": EVERYTHING,
}


@pytest.mark.parametrize("path,expected", sorted(EXAMPLES.items()))
def test_example_path(path, expected):
    assert classify_paths([path]).describe() == expected


def test_every_rule_has_an_example():
    hit = {rule_for(path) for path in EXAMPLES}
    missing = [r.pattern for r in rules_for() if r not in hit]
    assert missing == []


def test_rules_are_reachable_in_order():
    # A rule shadowed by an earlier one would never decide anything.
    for path in EXAMPLES:
        rule = rule_for(path)
        earlier = rules_for()[:rules_for().index(rule)]
        assert not any(r.matches(path) for r in earlier)


@pytest.mark.parametrize("paths", [None, [], [""], ["\n"], [None, 3, b""]])
def test_no_usable_file_list_builds_everything(paths):
    plan = classify_paths(paths)
    assert plan.describe() == EVERYTHING
    assert "no file list" in plan.reasons[0]


def test_values_that_are_no_path_are_skipped_not_fatal():
    plan = classify_paths([None, 42, b"bin/ls/ls.1", "./bin/ls/ls.1"])
    assert plan.describe() == DOCS


# Odd names are never dropped (issue 13): each is classified, conservatively where the name
# cannot be trusted as a tree path.
@pytest.mark.parametrize("name,expected", [
    ("../etc/passwd", EVERYTHING),                   # an escape: not a tree path
    ("sys/kern/../../bin/ls/ls.c", EVERYTHING),
    ("sys\\..\\include\\unistd.h", EVERYTHING),      # was turned into sys/../.. and dropped
    ("sys/dev/drm/a\\..h", UNUSED),                    # a backslash is a character of the name
    ("bin/ls/a\nb.c", EVERYTHING),                    # a newline: everything
    ("  ", EVERYTHING),                              # a name of blanks
    (b"bin/ls/\xff\xfe.c", WORLD),                    # not UTF-8: decoded with replacement
    ("bin/ls/\udcff.c", WORLD),                       # surrogate-escaped bytes
])
def test_odd_names_are_classified_never_dropped(name, expected):
    plan = classify_paths([name, "bin/ls/ls.1"])
    assert plan.describe() == expected, plan.reasons


def test_rename_written_with_an_arrow_counts_both_sides():
    # a hook that sends renames as "old => new" (git diff --stat style); taken literally, the
    # header moved out of sys/sys/ was one unknown top-level name
    assert classify_paths(["sys/sys/ckpt.h => sys/platform/vkernel64/include/ckpt.h"]) \
        .describe() == EVERYTHING
    plan = classify_paths(["sys/{sys => platform/vkernel64/include}/ckpt.h"])
    assert plan.describe() == EVERYTHING
    assert plan.reasons[0].startswith("sys/sys/ckpt.h: kernel header installed")
    assert any(r.startswith("sys/platform/vkernel64/include/ckpt.h: vkernel64")
               for r in plan.reasons)
    assert classify_paths(["bin/ls/{ => old}/x.1"]).describe() == DOCS


def test_bare_string_is_one_path():
    assert classify_paths("sys/kern/kern_exit.c").describe() == KERNEL


def test_paths_are_normalized():
    assert classify_paths(["/sys//kern/kern_exit.c"]).describe() == KERNEL
    # a backslash is part of the name (DragonFly's paths use "/"): an unknown top-level name
    assert classify_paths(["sys\\sys\\param.h"]).describe() == EVERYTHING


def test_union_over_paths_and_reasons():
    plan = classify_paths(["sys/kern/kern_checkpoint.c", "bin/ls/ls.1",
                           "sys/sys/param.h", "sys/kern/kern_exit.c"])
    assert (plan.world, plan.kernel, plan.image, plan.tests) == (True, True, True, True)
    assert plan.reasons[0] == ("sys/sys/param.h: kernel header installed into /usr/include "
                               "by buildworld")
    assert "sys/kern/kern_checkpoint.c (+1 more): kernel source compiled into VKERNEL64 or " \
           "its modules" in plan.reasons
    assert plan.reasons[-2] == "bin/ls/ls.1: documentation: manual page"
    # kern_checkpoint.c is also the host half of a vkernel checkpoint: said last, always
    assert plan.reasons[-1] == ("sys/kern/kern_checkpoint.c: host-side vkernel code, tested "
                                "only inside the guest: the host keeps running its own kernel")
    assert plan.untested_host_paths == ("sys/kern/kern_checkpoint.c",)


def test_large_import_keeps_few_reasons():
    paths = [f"sys/dev/drm/amd/file{i}.c" for i in range(700)] + ["sys/kern/kern_exit.c"]
    plan = classify_paths(paths)
    assert plan.describe() == KERNEL
    assert len(plan.reasons) == 2
    assert plan.reasons[1].startswith("sys/dev/drm/amd/file0.c (+699 more): hardware driver")


def test_reasons_are_capped():
    rules = [r for r in rules_for()]
    paths = [p for p in EXAMPLES]
    plan = classify_paths(paths)
    assert len(rules) > changes.MAX_REASONS
    assert len(plan.reasons) == changes.MAX_REASONS


def test_nothing_without_docs_says_so():
    assert classify_paths(["sys/dev/drm/i915/i915_gem.c", "bin/ls/ls.1"]).describe() == UNUSED
    assert classify_paths(["README", "bin/ls/ls.1"]).describe() == DOCS


def test_suite_prefix_is_configurable():
    assert classify_paths(["test/vkckpt/a.c"], suite_prefix=None).describe() == UNUSED
    assert classify_paths(["tests/ckpt/a.c"], suite_prefix="tests/ckpt/").describe() == TESTS
    assert classify_paths(["test/ckpt[1]/a.c"], suite_prefix="test/ckpt[1]").describe() == TESTS
    assert classify_paths(["test/ckpt1/a.c"], suite_prefix="test/ckpt[1]").describe() == UNUSED
    assert classify_paths(["test/{a,b}/x.c"], suite_prefix="test/{a,b}/").describe() == TESTS
    assert classify_paths(["test/a/x.c"], suite_prefix="test/{a,b}/").describe() == UNUSED
    assert classify_paths(["test/vkckpt/a.c"], suite_prefix="../x").describe() == UNUSED
    # documentation inside the suite still needs nothing
    assert classify_paths(["test/vkckpt/README"]).describe() == DOCS


def test_closure_world_and_kernel_imply_image_and_tests():
    assert Plan.from_stages(changes.Stage.WORLD).describe() == WORLD
    assert Plan.from_stages(changes.Stage.KERNEL).describe() == KERNEL
    assert Plan.from_stages(changes.Stage.IMAGE).describe() == IMAGE
    assert Plan.from_stages(changes.Stage.TESTS).describe() == TESTS
    assert Plan.from_stages(changes.Stage.NONE).nothing()


def test_merge():
    kernel = classify_paths(["sys/kern/kern_exit.c"])
    world = classify_paths(["bin/ls/ls.c"])
    docs = classify_paths(["bin/ls/ls.1"])
    both = merge([kernel, world, docs])
    assert both.describe() == EVERYTHING
    assert both.reasons == kernel.reasons + world.reasons + docs.reasons
    assert merge([docs, docs]) == docs
    assert merge([kernel]).describe() == KERNEL
    assert merge([]).describe() == EVERYTHING
    assert merge(iter([docs, classify_paths(["test/vkckpt/x.c"])])).describe() == TESTS


def test_merge_deduplicates_reasons():
    a = classify_paths(["sys/kern/kern_exit.c"])
    assert merge([a, a, a]).reasons == a.reasons


def test_to_properties():
    props = classify_paths(["sys/kern/kern_exit.c"]).to_properties()
    assert props == {
        "vkckpt_plan": KERNEL,
        "vkckpt_build_world": False,
        "vkckpt_build_kernel": True,
        "vkckpt_build_image": True,
        "vkckpt_run_tests": True,
        "vkckpt_plan_reasons": ["sys/kern/kern_exit.c: kernel source compiled into VKERNEL64 "
                                "or its modules"],
        "vkckpt_untested_host_paths": [],
    }
    json.dumps(props)  # build properties must be JSON-serializable


def test_is_important_with_fake_changes():
    assert is_important(SimpleNamespace(files=["sys/kern/kern_exit.c"])) is True
    assert is_important(SimpleNamespace(files=["bin/ls/ls.1", "README"])) is False
    assert is_important(SimpleNamespace(files=["sys/dev/drm/i915/i915_gem.c"])) is False
    assert is_important(SimpleNamespace(files=["test/vkckpt/x.c"])) is True
    assert is_important(SimpleNamespace(files=[])) is True
    assert is_important(SimpleNamespace(files=None)) is True
    assert is_important(object()) is True  # no files attribute at all
    assert is_important(SimpleNamespace(files=["t/x.c"]), suite_prefix="t/") is True


def test_plan_for_changes():
    changes_ = [SimpleNamespace(files=["bin/ls/ls.1"]),
                SimpleNamespace(files=["sys/kern/kern_exit.c"])]
    assert plan_for_changes(changes_).describe() == KERNEL
    assert plan_for_changes([]).describe() == EVERYTHING
    assert plan_for_changes([SimpleNamespace(files=["README"])]).nothing()


def test_reuse_note():
    kernel = classify_paths(["sys/kern/kern_exit.c"])
    assert reuse_note(kernel, 41) == "plan: kernel + image + tests; world reused from build 41"
    assert reuse_note(kernel, None) == ("plan: kernel + image + tests; no earlier good build "
                                        "to reuse world from")
    world = classify_paths(["bin/ls/ls.c"])
    assert reuse_note(world, 7) == "plan: world + image + tests; kernel reused from build 7"
    tests = classify_paths(["test/vkckpt/x.c"])
    assert reuse_note(tests, 9) == "plan: tests; world and kernel reused from build 9"
    assert reuse_note(classify_paths(None), 9) == "plan: world + kernel + image + tests"
    assert reuse_note(classify_paths(["README"]), 9) == "plan: nothing (documentation only)"


@pytest.mark.parametrize("pattern,path,match", [
    ("sys/*.h", "sys/param.h", True),
    ("sys/*.h", "sys/sys/param.h", False),
    ("sys/**", "sys/a/b/c", True),
    ("**/*.[1-9]", "ls.1", True),
    ("**/*.[1-9]", "a/b/ls.0", False),
    ("{a,b/c}/x", "b/c/x", True),
    ("{a,b/c}/x", "c/x", False),
    ("x/{,pc/}*.h", "x/pc/y.h", True),
    ("a.b", "axb", False),
    ("?.c", "a.c", True),
    ("?.c", "/.c", False),
])
def test_glob(pattern, path, match):
    import re
    assert (re.fullmatch(glob_to_regex(pattern), path) is not None) is match


def test_docs_table_is_in_sync():
    with open(os.path.join(ROOT, "docs", "build-plans.rst"), encoding="utf-8") as f:
        doc = f.read()
    assert rules_table_rst() in doc, "regenerate with: python -m buildbot_vkckpt.changes --rst"


def test_main_prints_plan_and_table(capsys):
    assert changes.main(["sys/sys/param.h"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(EVERYTHING + "\n  sys/sys/param.h: kernel header")
    assert changes.main(["--rst"]) == 0
    assert capsys.readouterr().out == rules_table_rst()


def test_real_pushes_classify():
    path = os.path.join(ROOT, "benchmarks", "data", "dragonfly-commits.jsonl")
    with open(path, encoding="utf-8") as f:
        pushes = [json.loads(line) for line in f]
    assert len(pushes) == 2000
    plans = {c["commit"][:10]: classify_paths(c["files"]) for c in pushes}
    assert plans["f875a8eec7"].describe() == KERNEL          # sys/vfs/ext2fs/ext2_lookup.c
    # lib/, libexec/, sbin/, sys/boot/, usr.bin/ and usr.sbin/ sources
    assert plans["9317c2d05f"].describe() == WORLD
    kinds = {p.describe() for p in plans.values()}
    assert kinds == {EVERYTHING, WORLD, KERNEL, IMAGE, DOCS, UNUSED}


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.lists(st.one_of(st.text(max_size=40), st.binary(max_size=20),
                                               st.integers(), st.none()), max_size=8)))
def test_never_crashes_and_stays_consistent(paths):
    plan = classify_paths(paths)
    assert plan.tests or plan.nothing()
    assert not (plan.world or plan.kernel) or plan.image
    assert isinstance(plan.describe(), str)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(sorted(EXAMPLES)), min_size=1, max_size=5))
def test_plan_of_many_paths_is_union_of_single_paths(paths):
    assert classify_paths(paths).stages == merge(classify_paths([p]) for p in paths).stages


def test_rule_table_is_plain_data():
    assert all(isinstance(r.pattern, str) and r.reason for r in RULES)
    assert RULES[-1].pattern == "**"


# Issue 13's rule bugs, each with the real commit that showed it (from the 2,000-commit
# history; None: no commit there, the case is tested by name). "needs" must be built,
# "at most" must not be exceeded.
@pytest.mark.parametrize("commit,paths,needs,at_most", [
    ("ee5bd763df", ["include/unistd.h"], "world kernel", None),
    ("b80b4d4359", ["include/string.h"], "world kernel", None),
    ("b2ca4da505", ["include/time.h"], "world kernel", None),
    (None, ["include/assert.h"], "world kernel", None),
    (None, ["lib/csu/x86_64/crt1.c"], "world kernel", None),
    ("ee2cba8aae", ["usr.bin/bmake/Makefile", "usr.bin/bmake/util.h"], "world kernel", None),
    (None, ["contrib/gcc-8.0/gcc/config/i386/i386.md"], "world kernel", None),
    (None, ["sys/conf/acpi.mk"], "world kernel", None),
    ("18a5eb3635", ["Makefile_upgrade.inc"], "image tests", "image tests"),
    ("4f8e8636b6", ["share/misc/pci_vendors"], "image tests", "image tests"),
    ("9e66d69116", ["share/zoneinfo/africa", "share/zoneinfo/zone.tab"], "image tests",
     "image tests"),
    ("a705726d80", ["tools/tools/toeplitz/toeplitz.c"], "", ""),
    (None, ["Makefile.ssh.common"], "world", "world image tests"),
])
def test_issue_13_rule_bugs(commit, paths, needs, at_most):
    plan = classify_paths(paths)
    built = {s for s in ("world", "kernel", "image", "tests") if getattr(plan, s)}
    assert set(needs.split()) <= built, (commit, plan.reasons)
    if at_most is not None:
        assert built <= set(at_most.split()), (commit, plan.reasons)


def test_every_host_rule_is_in_the_docs():
    with open(os.path.join(ROOT, "docs", "build-plans.rst"), encoding="utf-8") as f:
        doc = f.read()
    for rule in changes.HOST_RULES:
        first = rule.pattern.split("{")[0]
        assert first in doc, rule.pattern
    assert "vkckpt_untested_host_paths" in doc
