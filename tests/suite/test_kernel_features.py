"""An xfail test with pass_with=vkernel_chkpt must pass on a kernel that carries the 2013 GSoC
checkpoint work (threads and kqueues restored) and stays xfail on a stock one."""
import pytest

from buildbot_vkckpt.suite.meta import MetaError, parse_meta


def by_name(report):
    return {r.name: r for r in report.results}


def test_stock_rules_lose_threads_and_kqueue_and_they_stay_xfail(run_suite, emulated_checkpt):
    run = run_suite("--only", "kqueue,threads", env={**emulated_checkpt,
                                                     "CKPT_EMULATE": "dragonfly"})
    results = by_name(run.report)
    assert run.proc.returncode == 0, run.proc.stdout + run.proc.stderr
    assert results["kqueue"].outcome == "xfail"
    assert results["threads"].outcome == "xfail"


def test_gsoc_rules_restore_threads_and_kqueue_and_they_must_pass(run_suite, emulated_checkpt):
    run = run_suite("--only", "kqueue,threads", "--kernel-has", "vkernel_chkpt",
                    env={**emulated_checkpt, "CKPT_EMULATE": "vkernel_chkpt"})
    results = by_name(run.report)
    assert run.proc.returncode == 0, run.proc.stdout + run.proc.stderr
    assert results["kqueue"].outcome == "pass", run.tap
    assert results["threads"].outcome == "pass", run.tap
    assert "expect: pass" in run.tap


def test_a_gsoc_kernel_that_loses_threads_fails_the_suite(run_suite, emulated_checkpt):
    # the kernel claims the GSoC work but restores like stock: an unexpected failure
    run = run_suite("--only", "threads", "--kernel-has", "vkernel_chkpt",
                    env={**emulated_checkpt, "CKPT_EMULATE": "dragonfly"})
    assert run.proc.returncode == 1, run.tap
    assert by_name(run.report)["threads"].outcome == "fail"


def test_list_shows_the_expectation_for_the_kernel(run_suite):
    stock = run_suite("--list", "--only", "threads").proc.stdout
    gsoc = run_suite("--list", "--only", "threads", "--kernel-has", "vkernel_chkpt").proc.stdout
    assert stock.split("\t")[1] == "xfail"
    assert gsoc.split("\t")[1] == "pass"


def test_pass_with_names_a_known_feature_on_an_xfail_test():
    base = "description=d\ntimeout=5\n"
    meta = parse_meta(base + "expect=xfail\nreason=r\npass_with=vkernel_chkpt\n", "t")
    assert meta.expect_on(()) == "xfail"
    assert meta.expect_on(("vkernel_chkpt",)) == "pass"
    with pytest.raises(MetaError, match="pass_with must be one of"):
        parse_meta(base + "expect=xfail\nreason=r\npass_with=magic\n", "t")
    with pytest.raises(MetaError, match="only makes sense on an xfail"):
        parse_meta(base + "expect=pass\npass_with=vkernel_chkpt\n", "t")
