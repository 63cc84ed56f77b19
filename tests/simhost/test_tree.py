"""The fake DragonFly source tree: shape, git history, changes pushed by tests."""
import subprocess

from buildbot_vkckpt.simhost import tree
from buildbot_vkckpt.simhost.host import SimHost


def make_host(tmp_path):
    host = SimHost(tmp_path / "host").create()
    return host, tree.create_source_tree(host)


def test_tree_has_dragonfly_shape(tmp_path):
    host, rev = make_host(tmp_path)
    for rel in ("Makefile", "Makefile.inc1", "share/mk/sys.mk", "sys/config/VKERNEL64",
                "sys/config/X86_64_GENERIC", "sys/kern/kern_checkpoint.c", "sys/sys/param.h",
                "sys/platform/vkernel64/platform/init.c", "bin/ls/ls.c", "bin/sh/main.c",
                "lib/libc/stdlib/malloc.c", "usr.bin/checkpt/checkpt.c",
                "share/man/man7/vkernel.7", "etc/Makefile", "etc/etc.x86_64/ttys",
                "test/vkernel/Makefile"):
        assert (host.src / rel).is_file(), rel
    config = (host.src / "sys/config/VKERNEL64").read_text()
    assert "platform\tvkernel64" in config and "makeoptions\tDEBUG=-g" in config
    assert len(rev) == 40


def test_tree_is_committed_with_fixed_author(tmp_path):
    host, rev = make_host(tmp_path)
    author = tree.git(host.src, "log", "-1", "--format=%an <%ae>")
    assert author == f"{tree.AUTHOR[0]} <{tree.AUTHOR[1]}>"
    assert tree.git(host.src, "status", "--porcelain") == ""
    assert tree.revision(host.src) == rev
    assert tree.commit_count(host.src) == 1


def test_create_twice_keeps_the_repository(tmp_path):
    host, rev = make_host(tmp_path)
    assert tree.create_source_tree(host) == rev
    assert tree.commit_count(host.src) == 1


def test_commit_change_pushes_realistic_paths(tmp_path):
    host, rev = make_host(tmp_path)
    new = tree.commit_change(host.src, {"sys/kern/kern_checkpoint.c": "/* fixed */\n",
                                        "usr.bin/checkpt/new.c": "int x;\n"}, "checkpoint fix")
    assert new != rev and tree.commit_count(host.src) == 2
    changed = tree.git(host.src, "diff", "--name-only", rev, new).splitlines()
    assert sorted(changed) == ["sys/kern/kern_checkpoint.c", "usr.bin/checkpt/new.c"]


def test_clone_works_like_a_worker_checkout(tmp_path):
    host, rev = make_host(tmp_path)
    dest = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", f"file://{host.src}", str(dest)], check=True)
    assert tree.revision(dest) == rev


def test_revision_of_a_plain_directory_is_empty(tmp_path):
    assert tree.revision(tmp_path) == ""
    assert tree.commit_count(tmp_path) == 0
