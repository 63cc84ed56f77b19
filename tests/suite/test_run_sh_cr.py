"""run.sh's checkpoint path on Linux, under the fork emulation (compat.c) and an emulated checkpt."""
import os

CR_TESTS = "memory,files,fpu,selfckpt,signals,mmap_private,mmap_shared_anon,mmap_shared_file"


def test_iterations_checkpoint_and_restore_each_test(run_suite, emulated_checkpt):
    run = run_suite("--iterations", "2", "--only", CR_TESTS, env=emulated_checkpt)
    assert run.proc.returncode == 0, run.tap
    results = run.report.results
    assert [r.name for r in results] == CR_TESTS.split(",")
    for r in results:
        assert r.ok, f"{r.name}: {r.message}"
        assert r.diagnostics["mode"] == "cr" and r.diagnostics["cycles"] == "2"
        work = run.results / r.name
        assert (work / "resumed.1").exists() and (work / "resumed.2").exists()
        assert not (work / "images").exists()          # removed after a pass
    log = (run.results / "selfckpt" / "output.log").read_text()
    assert log.count("resuming from checkpoint") == 2


def test_keep_images_keeps_one_file_per_cycle(run_suite, emulated_checkpt):
    run = run_suite("--iterations", "3", "--only", "memory", "--keep-images",
                    env=emulated_checkpt)
    assert run.proc.returncode == 0, run.tap
    images = run.results / "memory" / "images"
    assert sorted(p.name for p in images.iterdir()) == ["1.ckpt", "2.ckpt", "3.ckpt"]


def test_a_failing_restore_is_reported_with_checkpts_message(run_suite, emulated_checkpt,
                                                             tmp_path):
    broken = tmp_path / "brokenbin"
    broken.mkdir()
    (broken / "checkpt").write_text(
        "#!/bin/sh\necho 'thaw failed error 5 Input/output error' >&2\nexit 5\n")
    (broken / "checkpt").chmod(0o755)
    env = dict(emulated_checkpt, PATH=f"{broken}{os.pathsep}{os.environ['PATH']}")
    run = run_suite("--only", "memory,pipe", "--keep-images", env=env)
    assert run.proc.returncode == 1
    memory, pipe = run.report.results
    assert not memory.ok
    assert memory.message == ("cycle 1: checkpt -r exited with status 5: "
                              "thaw failed error 5 Input/output error")
    assert (run.results / "memory" / "images" / "1.ckpt").exists()   # kept for a failure
    # An xfail test failing this way is an expected failure, not a suite failure.
    assert not pipe.ok and pipe.outcome == "xfail"


def test_no_checkpoint_file_is_reported(run_suite, emulated_checkpt):
    # Without the emulation, signal 34 just kills the program on Linux: no file.
    env = {"PATH": emulated_checkpt["PATH"]}
    run = run_suite("--only", "memory", env=env)
    assert run.proc.returncode == 1
    [memory] = run.report.results
    assert memory.message.startswith("cycle 1: no checkpoint file after SIGCKPTEXIT (exit status ")
