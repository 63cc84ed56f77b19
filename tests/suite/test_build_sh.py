"""Every suite program compiles with gcc -Wall -Werror, and a warning fails the build."""
import shutil

from buildbot_vkckpt.suite import list_tests

from .conftest import SUITE, build


def test_every_program_and_the_helper_are_built(bindir):
    built = {p.name for p in bindir.iterdir() if p.is_file()}
    assert built == {t.name for t in list_tests()} | {"ckpt_util"}


def test_a_warning_fails_the_build(tmp_path):
    copy = tmp_path / "suite"
    shutil.copytree(SUITE / "lib", copy / "lib")
    (copy / "tests").mkdir()
    shutil.copy(SUITE / "build.sh", copy / "build.sh")
    shutil.copy(SUITE / "tests" / "memory.c", copy / "tests" / "memory.c")
    (copy / "tests" / "warns.c").write_text(
        '#include "ckpt_test.h"\nint main(void) { int unused; return ckpt_pass(); }\n')
    proc = build(copy, tmp_path / "bin")
    assert proc.returncode == 1
    assert "failed: warns" in proc.stderr
    assert (tmp_path / "bin" / "memory").exists()      # the others still get built
    assert not (tmp_path / "bin" / "warns").exists()
