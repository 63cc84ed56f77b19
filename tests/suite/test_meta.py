"""Metadata: every program has a valid .meta and every .meta a program."""
import pytest

from buildbot_vkckpt.suite import MetaError, list_tests, parse_meta

from .conftest import SUITE


def test_programs_and_metadata_match():
    programs = {p.stem for p in (SUITE / "tests").glob("*.c")}
    metas = {p.stem for p in (SUITE / "tests").glob("*.meta")}
    assert programs == metas
    assert len(programs) >= 15


def test_every_metadata_file_parses_and_names_its_source():
    tests = list_tests()
    assert [t.name for t in tests] == sorted(t.name for t in tests)
    for t in tests:
        assert t.source.exists(), t.name
        assert t.timeout >= 1
        assert t.description


def test_documented_limits_are_expected_failures_with_a_reason():
    by_name = {t.name: t for t in list_tests()}
    for name in ("pipe", "unlinked", "socket"):
        assert by_name[name].xfail
        assert "checkpt(1)" in by_name[name].reason or "sys_checkpoint(2)" in by_name[name].reason
    assert not by_name["memory"].xfail and by_name["memory"].reason == ""
    assert by_name["threads"].requires == ("threads",)


def test_parse_meta_reads_all_keys():
    meta = parse_meta("# comment\ndescription=d\ntimeout=5\nexpect=xfail\n"
                      "reason=man page says so\nrequires=threads, kqueue\n", "x")
    assert (meta.name, meta.timeout, meta.expect, meta.requires) == ("x", 5, "xfail",
                                                                     ("threads", "kqueue"))
    assert meta.xfail


@pytest.mark.parametrize("text, problem", [
    ("description=d\ntimeout=5\nexpect=maybe\n", "expect"),
    ("description=d\ntimeout=5\nexpect=xfail\n", "reason"),
    ("description=d\ntimeout=0\nexpect=pass\n", "timeout"),
    ("description=d\ntimeout=five\nexpect=pass\n", "timeout"),
    ("description=d\ntimeout=5\nexpect=pass\ncolour=red\n", "colour"),
    ("description=d\ntimeout=5\nexpect=pass\nexpect=pass\n", "twice"),
    ("description=d\ntimeout=5\nexpect=pass\njust words\n", "just words"),
    ("timeout=5\nexpect=pass\n", "description"),
    ("description=d\ntimeout=5\nexpect=xfail\nreason=a # b\n", "#"),
])
def test_parse_meta_rejects_bad_files(text, problem):
    with pytest.raises(MetaError, match=problem):
        parse_meta(text, "bad")
