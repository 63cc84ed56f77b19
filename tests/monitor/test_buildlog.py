"""Tests for the build-output monitor (reference/dragonfly.md §9, §12, §13)."""
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buildbot_vkckpt.monitor.buildlog import (
    BuildLogMonitor, BuildReport, CompilerMessage, classify_build,
)

from .chunking import every_boundary, pieces

SAMPLES = Path(__file__).parent / "samples"
DASHES = b"-" * 62


def sample(name):
    return (SAMPLES / f"build-{name}.log").read_bytes()


def run(chunks, **kwargs):
    """Feed chunks, close; return (events as JSON, report as JSON)."""
    monitor = BuildLogMonitor(clock=lambda: 0.0, **kwargs)
    events = []
    for chunk in chunks:
        events += monitor.feed(chunk)
    events += monitor.close()
    return [e.to_json() for e in events], monitor.report().to_json()


def whole(data, **kwargs):
    return run([data], **kwargs)


def report_of(data, **kwargs):
    monitor = BuildLogMonitor(clock=lambda: 0.0, **kwargs)
    monitor.feed(data)
    monitor.close()
    return monitor.report()


ALL_SAMPLES = sorted(p.name[len("build-"):-len(".log")] for p in SAMPLES.glob("build-*.log"))


def test_samples_present():
    for name in ("buildworld-ok", "fail-4b-j", "fail-serial", "fail-nested", "compile-error",
                 "kernel-ok", "kernel-needs-world", "kernel-missing-conf", "installworld-ok"):
        assert name in ALL_SAMPLES


# --- what each sample means -------------------------------------------------------------------

def test_successful_buildworld():
    events, rep = whole(sample("buildworld-ok"))
    assert rep["state"] == "succeeded" and rep["target"] == "buildworld"
    names = [s["name"] for s in rep["stages"]]
    assert names == ["init", "tmp", "1", "2b", "2c", "3", "4a", "4b", "4c", "4d", "5", "done"]
    assert rep["stages"][7]["title"] == "building libraries"
    assert rep["stages"][6]["title"] == "populating /usr/obj/usr/src/world_x86_64/usr/include"
    assert (rep["stage_index"], rep["stage_count"]) == (12, 12)
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "target_start" and kinds[-1] == "target_complete"
    assert kinds.count("stage") == 10
    stage_4b = next(e for e in events if e.get("stage") == "4b")
    assert (stage_4b["index"], stage_4b["count"], stage_4b["line"]) == (8, 12, 43)
    # the getcwd warning appears twice (static and PIC objects): one entry, count 2
    assert rep["warning_count"] == 4 and len(rep["warnings"]) == 3
    getcwd = next(w for w in rep["warnings"] if w["file"] == "/usr/src/lib/libc/gen/getcwd.c")
    assert (getcwd["line"], getcwd["column"], getcwd["count"]) == (88, 6, 2)
    assert getcwd["flag"] == "-Wunused-variable" and getcwd["message"] == "unused variable 'len'"
    assert any(w["file"] is None and "DT_TEXTREL" in w["message"] for w in rep["warnings"])
    assert rep["errors"] == [] and rep["first_error"] is None
    assert rep["summary"] == "buildworld done (12/12 stages) · 4 warnings"


def test_failure_in_stage_4b_parallel_form():
    events, rep = whole(sample("fail-4b-j"))
    assert rep["state"] == "failed" and rep["stage"] == "4b"
    # four nesting levels: the innermost (first) pair names the failing target and directory
    assert rep["failing_target"] == "getcwd.o"
    assert rep["failing_dir"] == "/usr/src/lib/libc"
    assert rep["error_code"] == 1
    assert [e["kind"] for e in events].count("make_error") == 4
    assert [e["count"] for e in events if e["kind"] == "make_error_count"] == [1, 1, 1, 1]
    assert rep["errors"] == [{"file": "/usr/src/lib/libc/gen/getcwd.c", "line": 88,
                              "message": "unused variable 'len'"}]
    assert rep["summary"].startswith(
        "failed in stage 4b: *** [getcwd.o] Error code 1 in /usr/src/lib/libc")
    first = rep["first_error"]
    assert first["file"] == "/usr/src/lib/libc/gen/getcwd.c" and first["line"] == 88
    assert first["log_line"] == 20
    assert first["context_before"][-1] == "--- getcwd.o ---" and len(first["context_before"]) == 5
    assert first["context_after"][:2] == ["   88 |  int len;", "      |      ^~~"]
    assert first["context"][5].startswith("/usr/src/lib/libc/gen/getcwd.c:88:6: error:")


def test_serial_mode_failure_with_linker_error():
    events, rep = whole(sample("fail-serial"))
    assert rep["state"] == "failed" and rep["stage"] == "4d"
    assert rep["failing_dir"] == "/usr/src/usr.bin/vmstat" and rep["error_code"] == 1
    assert rep["failing_target"] is None          # serial form names no target
    assert rep["errors"][0] == {"file": "vmstat.c", "line": None,
                                "message": "undefined reference to `kvm_getcptime'"}
    assert "ld returned 1 exit status" in rep["errors"][1]["message"]
    assert rep["summary"].startswith(
        "failed in stage 4d: *** Error code 1 in /usr/src/usr.bin/vmstat")


def test_nested_serial_failure_names_innermost_level():
    events, rep = whole(sample("fail-nested"))
    assert rep["target"] == "quickworld" and rep["stage"] == "4b"
    assert (rep["stage_index"], rep["stage_count"]) == (5, 9)
    assert rep["failing_dir"] == "/usr/src/lib/libutil"
    assert rep["failing_target"] == "pw_util.o"    # from "*** Failed target:"
    assert rep["signal"] == 9 and rep["error_code"] is None
    stopped = [e["dir"] for e in events if e["kind"] == "make_stopped"]
    assert stopped == ["/usr/src/lib/libutil", "/usr/src/lib", "/usr/src", "/usr/src"]
    assert rep["summary"] == "failed in stage 4b: *** Signal 9 in /usr/src/lib/libutil"


def test_compiler_error_in_named_file():
    events, rep = whole(sample("compile-error"))
    err = next(e for e in events if e["kind"] == "compile_error")
    assert err["file"] == "/usr/src/sbin/hammer2/cmd_debug.c"
    assert (err["source_line"], err["column"], err["severity"]) == (530, 17, "error")
    assert err["line"] == 14                       # the log line
    assert err["message"].startswith("'HAMMER2_BREF_TYPE_FREEMAP_LEAFX' undeclared")
    assert rep["warning_count"] == 1 and rep["warnings"][0]["line"] == 412
    assert rep["failing_target"] == "cmd_debug.o"
    assert rep["failing_dir"] == "/usr/src/sbin/hammer2"
    assert "cmd_debug.c:530" in rep["summary"]
    assert classify_build(sample("compile-error")) == {
        "kind": "build", "state": "failed", "stage": "4d", "target": "buildworld",
        "errors": [{"file": "/usr/src/sbin/hammer2/cmd_debug.c", "line": 530,
                    "message": "'HAMMER2_BREF_TYPE_FREEMAP_LEAFX' undeclared (first use in "
                               "this function)"}],
        "first_error": "'HAMMER2_BREF_TYPE_FREEMAP_LEAFX' undeclared (first use in this "
                       "function)",
        "warnings": 1, "summary": rep["summary"],
    }


def test_buildkernel_success():
    events, rep = whole(sample("kernel-ok"))
    assert [e["kind"] for e in events] == ["kernel_start", "warning", "kernel_complete"]
    assert events[0]["kernconf"] == "VKERNEL64"
    assert events[0]["date"] == "Fri Jul 24 10:02:11 UTC 2020"
    assert rep["state"] == "succeeded" and rep["target"] == "buildkernel"
    assert rep["stage"] == "kernel VKERNEL64"
    assert rep["summary"] == "buildkernel done (VKERNEL64) · 1 warning"


def test_buildkernel_before_buildworld():
    events, rep = whole(sample("kernel-needs-world"))
    assert rep["state"] == "failed"
    assert rep["precondition"] == "You must buildworld before buildkernel."
    assert rep["failing_dir"] == "/usr/src"
    assert rep["first_error"]["message"] == "You must buildworld before buildkernel."
    assert rep["summary"] == ("failed: You must buildworld before buildkernel. "
                              "(*** Error code 1 in /usr/src)")


def test_missing_kernconf():
    events, rep = whole(sample("kernel-missing-conf"))
    assert [e["kind"] for e in events][:2] == ["precondition", "precondition"]
    assert rep["precondition"] == ("ERROR: Missing kernel configuration file(s). "
                                   "VKERNELX not found in /usr/src/sys/config.")
    assert rep["state"] == "failed" and "VKERNELX not found" in rep["summary"]


def test_installworld_and_installkernel():
    events, rep = whole(sample("installworld-ok"))
    assert [e["kind"] for e in events] == ["install_start", "stage", "stage", "install_complete"]
    assert [s["name"] for s in rep["stages"]] == ["init", "hierarchy", "install", "done"]
    assert rep["state"] == "succeeded" and rep["target"] == "installworld"
    events, rep = whole(sample("installkernel-ok"))
    assert [e["kind"] for e in events] == ["install_start", "install_complete"]
    assert rep["state"] == "succeeded" and rep["target"] == "installkernel"


def test_installworld_needs_preupgrade():
    _, rep = whole(sample("installworld-preupgrade"))
    assert rep["state"] == "failed"
    assert rep["precondition"] == "You need to run 'make preupgrade' first."
    assert rep["summary"].startswith("failed in installworld: You need to run")


def test_explicit_target_required():
    _, rep = whole(sample("no-target"))
    assert rep["state"] == "failed"
    assert rep["precondition"] == "Explicit target required.  See build(7)."


def test_world_then_kernel_in_one_log():
    data = sample("buildworld-ok") + sample("kernel-ok")
    mon = BuildLogMonitor(clock=lambda: 0.0)
    mon.feed(sample("buildworld-ok"))
    assert mon.report().state == "succeeded"
    mon.feed(sample("kernel-ok")[:200])          # kernel build started, not finished
    assert mon.report().state == "incomplete" and mon.report().target == "buildkernel"
    assert report_of(data).state == "succeeded"


def test_ignored_error_does_not_fail():
    _, rep = whole(b"*** [clean] Error code 1 (ignored)\n")
    assert rep["state"] == "incomplete" and rep["first_error"] is None
    _, rep = whole(b"*** [clean] Error code 1 (continuing)\n")
    assert rep["state"] == "failed"


def test_live_summary_while_building():
    data = sample("fail-4b-j")
    cut = data.index(b"/usr/src/lib/libc/gen/getcwd.c:88:6")
    mon = BuildLogMonitor(clock=lambda: 0.0)
    mon.feed(data[:cut])
    rep = mon.report()
    assert isinstance(rep, BuildReport) and rep.state == "incomplete"
    assert rep.live_summary() == "stage 4b: building libraries (8/12) · 0 warnings"
    assert rep.summary().startswith("incomplete: stage 4b")


def test_stage_timing_from_clock():
    now = [100.0]
    mon = BuildLogMonitor(clock=lambda: now[0])
    mon.feed(DASHES + b"\n>>> starting buildworld target\n" + DASHES + b"\n")
    now[0] = 110.0
    mon.feed(b">>> stage 1: bootstrap tools\n")
    now[0] = 125.5
    mon.feed(b">>> stage 2b: rebuilding the object tree\n")
    stages = mon.report().stages
    assert [(s["name"], s["started"], s["duration"]) for s in stages] == [
        ("init", 0.0, 10.0), ("1", 10.0, 15.5), ("2b", 25.5, None)]


def test_report_is_a_snapshot():
    mon = BuildLogMonitor(clock=lambda: 0.0)
    mon.feed(b"a.c:1:2: warning: x [-Wx]\n")
    rep = mon.report()
    rep.warnings[0].count = 99
    assert mon.report().warnings[0] == CompilerMessage("a.c", 1, 2, "x", "-Wx", 1)


def test_close_flushes_unterminated_line():
    mon = BuildLogMonitor(clock=lambda: 0.0)
    fed = mon.feed(b"*** Error code 1\n\nStop.\n\nmake: stopped in /usr/src")
    assert [e.kind for e in fed] == ["make_error"]
    events = mon.close()
    assert [(e.kind, e.line, e.offset) for e in events] == [("make_stopped", 5, 25)]
    assert mon.report().failing_dir == "/usr/src" and mon.close() == []


# --- chunking independence --------------------------------------------------------------------

@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_every_split_point_and_bytewise_feed_agree(name):
    data = sample(name)
    expected = whole(data)
    assert expected[0], "every sample yields events"
    for cuts in every_boundary(len(data)):          # every offset is a boundary once
        assert run(pieces(data, cuts)) == expected, f"split at {cuts}"
    assert run([data[i:i + 1] for i in range(len(data))]) == expected


def test_crlf_line_endings():
    data = sample("fail-4b-j")
    events, rep = whole(data.replace(b"\n", b"\r\n"))
    ref_events, ref = whole(data)
    assert [(e["kind"], e["line"], e["text"]) for e in events] == \
        [(e["kind"], e["line"], e["text"]) for e in ref_events]
    for key in ("state", "stage", "failing_target", "failing_dir", "errors", "summary"):
        assert rep[key] == ref[key]
    crlf = data.replace(b"\n", b"\r\n")
    assert run([crlf[i:i + 3] for i in range(0, len(crlf), 3)]) == (events, rep)


def test_invalid_utf8_is_tolerated():
    data = (b"\xff\xfe===> lib/libc (all)\n"
            b"/usr/src/lib/libc/\xe9t\xe9.c:3:1: warning: bad \xc3\x28 byte [-Wfoo]\n"
            b"\x00\x1b[0m*** [x.o] Error code 1\n")
    events, rep = whole(data)
    assert events[0]["kind"] == "warning" and events[0]["file"] == "/usr/src/lib/libc/\ufffdt\ufffd.c"
    assert events[0]["line"] == 2 and "\ufffd" in events[0]["message"]
    assert rep["warning_count"] == 1
    assert run([data[i:i + 1] for i in range(len(data))]) == (events, rep)


def test_megabyte_line_is_capped_and_counted():
    cap = 16384
    long_line = b"cc " + b"x" * (1 << 20) + b": warning: beyond the cap [-Wz]"
    data = (b">>> stage 4b: building libraries\n" + long_line + b"\n"
            + b"f.c:7:1: error: after the long line\n")
    events, rep = whole(data)
    assert [e["kind"] for e in events] == ["stage", "compile_error"]
    assert events[1]["line"] == 3 and events[1]["offset"] == len(data) - 36
    assert rep["long_lines"] == 1 and rep["dropped_bytes"] == len(long_line) - cap
    assert rep["warning_count"] == 0              # its marker lay beyond the cap
    assert rep["lines"] == 3
    for size in (1000, 65536, cap, cap + 1):
        assert run([data[i:i + size] for i in range(0, len(data), size)]) == (events, rep)


def test_long_line_with_marker_inside_cap_is_classified_the_same_way():
    line = b"a.c:1:1: warning: head" + b" pad" * 10000
    data = line + b"\n" + line + b"\n"
    expected = whole(data)
    assert expected[1]["warning_count"] == 2 and expected[1]["long_lines"] == 2
    assert run([data[i:i + 777] for i in range(0, len(data), 777)]) == expected


def test_unterminated_flood_keeps_memory_bounded():
    mon = BuildLogMonitor(clock=lambda: 0.0, max_line_bytes=1024)
    for _ in range(200):
        mon.feed(b"y" * 50000)
    assert len(mon._partial) <= 1024
    assert mon.report().dropped_bytes == 200 * 50000 - 1024


# --- property tests ---------------------------------------------------------------------------

def _chunked(data, cuts):
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0] + points + [len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000), st.lists(st.integers(min_value=0), max_size=12))
def test_random_bytes_never_crash_and_are_chunking_independent(data, cuts):
    expected = run([data], max_line_bytes=256)
    assert run(_chunked(data, cuts), max_line_bytes=256) == expected


_PIECES = [b"\n", b"\r\n", b">>> ", b"*** ", b": warning: ", b": error: ", b"Stop.", b"\xff",
           b"make: stopped in ", b"*** [t] Error code 99999999999999999999", b"1 error",
           b">>> stage 4b: x", b">>> Kernel build for K started on ", b"You must "]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(ALL_SAMPLES),
       st.lists(st.tuples(st.integers(min_value=0), st.sampled_from(_PIECES)), max_size=8),
       st.lists(st.integers(min_value=0), max_size=8))
def test_mutated_samples_are_chunking_independent(name, mutations, cuts):
    data = bytearray(sample(name))
    for pos, piece in mutations:
        at = pos % (len(data) + 1)
        data[at:at] = piece
    data = bytes(data)
    expected = run([data], max_line_bytes=64)
    assert run(_chunked(data, cuts), max_line_bytes=64) == expected


def test_seeded_random_chunking_of_large_mix():
    rng = random.Random(7)
    data = b"".join(sample(n) for n in ALL_SAMPLES) * 3
    expected = whole(data)
    cuts = sorted(rng.randrange(len(data)) for _ in range(300))
    assert run(_chunked(data, cuts)) == expected


def test_many_markers_on_one_huge_line_stay_linear():
    import time
    line = b": error: x" * 200000                   # 2 MB, 200k markers on one line
    data = line + b"\n" + b"f.c:1:1: warning: w\n"
    t0 = time.perf_counter()
    events, rep = whole(data)
    assert time.perf_counter() - t0 < 2.0
    assert [e["kind"] for e in events] == ["warning"] and rep["long_lines"] == 1


@pytest.mark.parametrize("line", [
    b"You " + b"a" * 16000, b"x.c:1: warning: " + b" [-Wa" * 4000, b"a: warning: " + b" [-Wa" * 4000,
    b"make: stopped making \"" + b"\"" * 16000, b"a" * 16000 + b": error: ",
    b"You " + b"a: " * 5000, b">>> " + b"a" * 16000 + b" not found in",
    b"x" + b": undefined reference to " * 600, b"*** [" + b"[" * 16000,
])
def test_pathological_lines_classify_quickly(line):
    import time
    mon = BuildLogMonitor(clock=lambda: 0.0)
    t0 = time.perf_counter()
    mon.feed(line + b"\n")
    assert time.perf_counter() - t0 < 0.1


# --- the digest: what BuildWorld/BuildKernel stream live in log_mode="digest" ------------------

from buildbot_vkckpt.monitor.buildlogdigest import DIGEST_NOTE, BuildLogDigest  # noqa: E402


def comparable(data):
    """The report of a whole stream, without what a digest changes by design (line numbers,
    byte counts)."""
    rep = report_of(data).to_json()
    for key in ("lines", "bytes", "dropped_bytes", "long_lines"):
        rep.pop(key)
    if rep["first_error"]:
        rep["first_error"].pop("log_line")
        rep["first_error"].pop("offset")
    return rep


def digest_of(data, size, **kwargs):
    digest = BuildLogDigest(clock=lambda: 0.0, **kwargs)
    out = b"".join(digest.feed(data[i:i + size]) for i in range(0, len(data), size))
    return out + digest.close(), digest


def big_log(seed, lines=3000, error_at=None, tail=b""):
    """A buildworld-shaped log: banners, cc lines, ~2 % warnings, optionally a compile error
    and make's failure lines at line ``error_at``."""
    rng = random.Random(seed)
    out = []
    for stage in ("1: bootstrap tools", "4b: building libraries", "4d: building everything"):
        out += [DASHES, b">>> stage " + stage.encode(), DASHES]
        for i in range(lines // 3):
            if error_at is not None and len(out) >= error_at:
                out += [b"cc -O -pipe -c /usr/src/lib/libc/gen/glob.c",
                        b"/usr/src/lib/libc/gen/glob.c:88:5: error: expected ';'",
                        b"    88 |   return x", b"       |   ^",
                        b"*** [glob.o] Error code 1", b"", b"make: stopped in /usr/src/lib/libc",
                        b"1 error", b"", b"make: stopped in /usr/src"]
                return b"\n".join(out) + b"\n" + tail
            n = rng.randrange(10000)
            out.append(b"cc -O -pipe -c src%d.c -o src%d.o" % (n, n))
            if rng.random() < 0.02:
                out.append(b"/usr/src/bin/ls/src%d.c:%d:3: warning: unused 'x' [-Wunused]"
                           % (n % 97, n % 500 + 1))
            if rng.random() < 0.01:
                out.append(b"===> lib/libc (all)")
    out += [DASHES, b">>> buildworld target complete", DASHES]
    return b"\n".join(out) + b"\n" + tail


@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_digest_of_a_sample_reports_the_same(name):
    data = sample(name)
    for size in (1, 5, 64, len(data)):
        out, _ = digest_of(data, size)
        assert comparable(out) == comparable(data), f"chunks of {size}"


@pytest.mark.parametrize("seed,error_at", [(1, None), (2, 1500), (3, 40), (4, 2999), (5, 4)])
def test_digest_of_a_big_log_reports_the_same_and_is_small(seed, error_at):
    data = big_log(seed, error_at=error_at)
    for size in (997, 4096, 65536, len(data)):
        out, digest = digest_of(data, size)
        assert comparable(out) == comparable(data), f"chunks of {size}"
    assert digest.lines == data.count(b"\n") and digest.bytes == len(data)
    if data.count(b"\n") > 500:
        assert len(out) < len(data) / 4
    rep = report_of(out)
    if error_at is not None:
        # the first error's excerpt is the whole stream's, context before and after included
        full = report_of(data).first_error
        assert rep.first_error["context"] == full["context"]
        assert len(rep.first_error["context_before"]) == min(5, full["log_line"] - 1)
        assert rep.state == "failed"


def test_digest_keeps_the_last_lines_in_order():
    data = big_log(7)
    out, digest = digest_of(data, 4096, tail_lines=30)
    assert out.endswith(b"\n".join(data.split(b"\n")[-31:]))
    assert digest.kept_lines < digest.lines
    # only notes were added, no line changed place: the digest is a subsequence of the log
    lines = iter(data.split(b"\n"))
    for line in out.split(b"\n"):
        if line.startswith(b"[... ") and line.endswith(b" more lines in the full log ...]"):
            continue
        assert line in lines


def test_digest_notes_are_never_classified():
    note = DIGEST_NOTE.format(lines=1234).encode() + b"\n"
    events, rep = whole(note * 3)
    assert events == [] and rep["state"] == "incomplete"


def test_banners_and_errors_go_out_at_once_warnings_wait():
    digest = BuildLogDigest(clock=lambda: 0.0, tail_lines=10)
    assert digest.feed(b"cc -c a.c\n") == b""
    assert digest.feed(b"a.c:1:1: warning: x [-Wx]\n") == b""      # waits in the window
    assert digest.feed(b">>> stage 4b: building libraries\n") == \
        b"cc -c a.c\na.c:1:1: warning: x [-Wx]\n>>> stage 4b: building libraries\n"
    assert digest.feed(b"a.c:2:1: error: y\n") == b"a.c:2:1: error: y\n"
    assert digest.feed(b"after 1\nafter") == b"after 1\n"               # first error's context
    assert digest.close() == b"after\n"


def test_due_flushes_the_latest_lines_when_make_talks_without_markers():
    now = [0.0]
    digest = BuildLogDigest(clock=lambda: now[0], tail_lines=5, interval=10)
    lines = b"".join(b"cc -c f%d.c\n" % i for i in range(100))
    assert digest.feed(lines) == b""
    assert not digest.due()
    now[0] = 10.0
    assert digest.due()
    out = digest.flush()
    assert out == b"[... 95 more lines in the full log ...]\n" + \
        b"".join(b"cc -c f%d.c\n" % i for i in range(95, 100))
    assert not digest.due() and digest.flush() == b""
    now[0] = 30.0
    assert not digest.due()                 # nothing waits: make is silent, so is the digest


def test_digest_bounds_an_unterminated_line():
    digest = BuildLogDigest(clock=lambda: 0.0, max_line_bytes=100)
    for _ in range(1000):
        digest.feed(b"x" * 1000)
    assert len(digest._partial) == 100
    assert digest.close() == b"x" * 100 + b"\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10 ** 6), error_at=st.one_of(st.none(), st.integers(0, 400)),
       cuts=st.lists(st.integers(1, 5000), min_size=1, max_size=20),
       tail=st.integers(5, 60))
def test_digest_agrees_for_any_chunking(seed, error_at, cuts, tail):
    data = big_log(seed, lines=400, error_at=error_at)
    digest = BuildLogDigest(clock=lambda: 0.0, tail_lines=tail)
    out, pos = [], 0
    for cut in sorted(cuts):
        out.append(digest.feed(data[pos:cut]))
        pos = max(pos, cut)
    out.append(digest.feed(data[pos:]))
    out.append(digest.close())
    assert comparable(b"".join(out)) == comparable(data)


@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_cheap_live_summary_is_the_reports(name):
    data = sample(name) + big_log(3, lines=300, error_at=150)
    monitor = BuildLogMonitor(clock=lambda: 0.0)
    for i in range(0, len(data), 97):
        monitor.feed(data[i:i + 97])
        assert monitor.live_summary() == monitor.report().live_summary()
    monitor.close()
    assert monitor.live_summary() == monitor.report().live_summary()


# --- a full disk is the host's problem, not the code's ----------------------------------------
@pytest.mark.parametrize("line", [
    b"install: /usr/obj/usr/src/lib/libc/libc.a: No space left on device",
    b"cc: fatal error: error writing to /tmp/ccQ2x.s: No space left on device",
    b"/usr/libexec/binutils234/elf/ld.bfd: final link failed: No space left on device",
])
def test_no_space_left_is_reported_as_such(line):
    m = BuildLogMonitor()
    events = m.feed(b">>> stage 4b: building libraries\n" + line
                    + b"\n*** Error code 1\n\nStop.\nmake: stopped in /usr/src/lib/libc\n")
    events += m.close()
    report = m.report()
    assert [e.kind for e in events if e.kind == "no_space"] == ["no_space"]
    assert report.state == "failed" and report.no_space == line.decode()
    assert report.first_error["message"] == line.decode()


def test_no_space_is_not_read_into_ordinary_output():
    m = BuildLogMonitor()
    m.feed(b"echo checking disk space\nNo space left on device is a phrase in a comment\n")
    m.close()
    assert m.report().no_space is None
