"""run.sh on Linux: --nocr over every test, faults that must fail, the CLI, the results disk."""
import re
import tarfile
import time

from buildbot_vkckpt.suite import list_tests

RESULT_LINE = re.compile(r"^(not )?ok (\d+) - ([a-z0-9_]+)( # TODO xfail: [^#]+)?$")


def assert_valid_tap13(text: str, names: list[str]) -> None:
    """Strict check of what run.sh promises: TAP 13, a plan, numbered results, YAML blocks."""
    lines = text.splitlines()
    assert lines[0] == "TAP version 13"
    plans = [line for line in lines if re.fullmatch(r"1\.\.\d+", line)]
    assert plans == [f"1..{len(names)}"]
    seen, in_yaml, plan_seen = [], False, False
    for line in lines[1:]:
        if in_yaml:
            if line == "  ...":
                in_yaml = False
            else:
                assert re.fullmatch(r"  [a-z_]+: .+", line), line
            continue
        if line == "  ---":
            assert seen, "YAML block before any result"
            in_yaml = True
        elif line.startswith("#"):
            pass
        elif line == plans[0]:
            assert not seen, "plan after results"
            plan_seen = True
        else:
            m = RESULT_LINE.match(line)
            assert m, f"not a TAP line: {line!r}"
            assert plan_seen
            seen.append((int(m.group(2)), m.group(3)))
    assert not in_yaml, "unterminated YAML block"
    assert seen == list(enumerate(names, 1))


def test_nocr_every_test_passes_and_the_tap_is_valid(run_suite):
    started = time.monotonic()
    run = run_suite("--nocr")
    elapsed = time.monotonic() - started
    tests = list_tests()
    assert run.proc.returncode == 0, run.proc.stdout + run.proc.stderr
    assert_valid_tap13(run.tap, [t.name for t in tests])
    assert run.proc.stdout == run.tap            # the same TAP on stdout
    by_name = {r.name: r for r in run.report.results}
    for t in tests:
        r = by_name[t.name]
        # Without a checkpoint every program, xfail or not, must pass: an xfail
        # test shows up as "ok ... # TODO xfail: reason" (TAP's unexpected pass).
        assert r.ok, f"{t.name}: {r.message}"
        assert r.todo == t.xfail and r.outcome == ("xpass" if t.xfail else "pass")
        assert r.diagnostics["mode"] == "nocr" and r.duration_ms is not None
        assert (run.results / t.name / "result").read_text() == "PASS\n"
    assert elapsed < 20


def test_corrupted_state_is_reported_as_failure_by_every_test(run_suite):
    run = run_suite("--nocr", env={"CKPT_FAULT": "corrupt"})
    assert run.proc.returncode == 1
    results = run.report.results
    assert len(results) == len(list_tests())
    for r in results:
        assert not r.ok, f"{r.name} did not notice its corrupted state"
        assert r.message.startswith("FAIL: "), r.message
        assert "no fault hook" not in r.message
    assert "# 0 of" in run.tap


def test_a_hanging_test_times_out_and_is_killed(run_suite):
    run = run_suite("--nocr", "--only", "memory", "--timeout", "1", env={"CKPT_FAULT": "hang"})
    assert run.proc.returncode == 1
    [r] = run.report.results
    assert not r.ok and r.message == "no result 1s after go"
    pid = int((run.results / "memory" / "pid.0").read_text())
    assert "killing leftover pid" in (run.results / "memory" / "runner.log").read_text()
    assert (run.results / "memory" / "exit.0").exists()       # reaped, not left running
    try:
        with open(f"/proc/{pid}/stat") as f:
            assert f.read().split()[2] == "Z"
    except FileNotFoundError:
        pass


def test_list_only_and_usage_errors(run_suite):
    listed = run_suite("--list").proc
    assert listed.returncode == 0
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert [(r[0], r[1]) for r in rows] == [(t.name, t.expect) for t in list_tests()]

    only = run_suite("--nocr", "--only", "socket,memory")
    assert [r.name for r in only.report.results] == ["socket", "memory"]

    assert run_suite("--only", "nosuch").proc.returncode == 2
    assert run_suite("--iterations", "0").proc.returncode == 2
    assert run_suite("--bogus").proc.returncode == 2


def test_missing_build_bails_out(run_suite, tmp_path):
    run = run_suite("--nocr", "--bin", str(tmp_path / "empty"))
    assert run.proc.returncode == 4
    assert run.report.bail_out.startswith(str(tmp_path / "empty" / "ckpt_util"))


def test_cr_mode_without_checkpt_bails_out(run_suite):
    run = run_suite("--only", "memory", env={"PATH": "/usr/bin:/bin"})
    assert run.proc.returncode == 4
    assert run.report.bail_out == "checkpt(1) not found on PATH"


def test_results_disk_is_a_tar_of_the_results(run_suite, tmp_path):
    disk = tmp_path / "vkd1"
    run = run_suite("--nocr", "--only", "memory,pipe", "--results-disk", str(disk))
    assert run.proc.returncode == 0
    with tarfile.open(disk) as tar:
        names = set(tar.getnames())
        assert {"./results.tap", "./memory/result", "./memory/output.log",
                "./pipe/runner.log"} <= names
        assert tar.extractfile("./results.tap").read().decode() == run.tap


def test_programs_that_die_are_reported_with_their_status(run_suite, bindir, tmp_path):
    fake = tmp_path / "fakeprogs"
    fake.mkdir()
    (fake / "ckpt_util").symlink_to(bindir / "ckpt_util")
    scripts = {
        "memory": "echo dying >&2\nexit 3\n",
        "files": 'echo "ready $$" > ready\nwhile [ ! -f go ]; do sleep 0.01; done\nexit 7\n',
    }
    for name, body in scripts.items():
        (fake / name).write_text("#!/bin/sh\n" + body)
        (fake / name).chmod(0o755)
    run = run_suite("--nocr", "--only", "memory,files", "--bin", str(fake))
    assert run.proc.returncode == 1
    memory, files = run.report.results
    assert memory.message == "exited with status 3 before ready: dying"
    assert files.message == "exited with status 7 without a result"
