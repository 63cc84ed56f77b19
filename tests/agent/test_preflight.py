"""preflight on the simulated host: a clean host passes; each problem is named with its fix."""
import os
import resource

from buildbot_vkckpt.agent.preflight import TOOLS


def checks(run):
    return {e["name"]: e for e in run.events if e.get("ev") == "check"}


def test_clean_host_is_ready(sim):
    run = sim.agent("preflight", "--image-size", "64m", "--memory", "128m")
    assert run.returncode == 0, run
    assert run.summary == "host ready for a vkernel session"
    got = checks(run)
    assert all(c["ok"] for c in got.values()), got
    assert got["vm.vkernel_enable"]["text"] == "1"
    assert got["vn"]["text"] == "4 free unit(s), first vn0"
    assert {"tools", "disk", "kern.ckptgroup", "RLIMIT_CORE", "hw.vmm.enable"} <= set(got)
    assert run.details["host_kernel"] == "5.9-DEVELOPMENT"     # the host's kern.osrelease


def test_vkernel_enable_0_is_infrastructure_with_the_sysctl_fix(sim):
    with sim.host.update_state() as st:
        st["sysctl"]["vm.vkernel_enable"] = 0
    run = sim.agent("preflight", "--image-size", "64m")
    assert run.returncode == 4 and run.result["kind"] == "infrastructure", run
    assert run.summary.startswith("host not ready: vm.vkernel_enable is 0")
    assert run.details["host_kernel"] == "5.9-DEVELOPMENT"     # named even when not ready
    assert run.result["fix"].startswith("sysctl vm.vkernel_enable=1")


def test_vkernel_disabled_fault_is_seen_by_preflight(sim):
    sim.fault(vkernel_disabled=None)
    run = sim.agent("preflight", "--image-size", "64m")
    assert run.returncode == 4 and not checks(run)["vm.vkernel_enable"]["ok"], run


def test_no_vn_device_is_infrastructure(sim):
    sim.fault(no_vn_device=None)
    run = sim.agent("preflight", "--image-size", "64m")
    assert run.returncode == 4, run
    assert run.summary.startswith("host not ready: vn no free vn unit")
    assert "cleanup --stale" in run.result["fix"] and "vnconfig -u" in run.result["fix"]


def test_missing_tool_is_named(sim, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in os.listdir(sim.host.bin):
        if tool != "disklabel":
            os.symlink(sim.host.bin / tool, bindir / tool)
    env = sim.env()
    env["PATH"] = f"{bindir}:/usr/bin:/bin"
    run = sim.agent("preflight", "--image-size", "64m", env=env)
    assert "disklabel" in TOOLS
    assert run.returncode == 4, run
    assert run.summary == "host not ready: tools missing on PATH: disklabel"
    assert "PATH" in run.result["fix"]


def test_core_limit_0_is_reported(sim):
    def no_cores():
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    run = sim.agent("preflight", "--image-size", "64m", preexec_fn=no_cores)
    assert run.returncode == 4, run
    check = checks(run)["RLIMIT_CORE"]
    assert not check["ok"] and "core size hard limit is 0" in check["text"]
    assert run.summary.startswith("host not ready: RLIMIT_CORE core size hard limit is 0")


def test_several_problems_are_all_listed(sim):
    sim.fault(vkernel_disabled=None, no_vn_device=None)
    run = sim.agent("preflight", "--image-size", "64m")
    assert run.returncode == 4
    assert [p["check"] for p in run.details["problems"]] == ["vm.vkernel_enable", "vn"]
    assert run.summary.endswith("(+1 more)")


def test_not_enough_disk_is_reported(sim):
    run = sim.agent("preflight", "--image-size", "100000g")
    assert run.returncode == 4, run
    check = checks(run)["disk"]
    assert not check["ok"] and "need" in check["text"]
