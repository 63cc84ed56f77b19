"""probe's decisions (agent/probe.py) on the functions themselves: what a real DragonFly host
needs and the simulator rarely reaches. Whole probes on the simulated host: test_cycle.py,
test_flavours.py."""
import io

import pytest

from buildbot_vkckpt.agent import probe
from buildbot_vkckpt.agent.events import Emitter
from buildbot_vkckpt.agent.session import Session

GIB = 1 << 30


def checks_of(tmp_path, monkeypatch, argv, sysctls=None, soft=None, free=4 * GIB):
    values = {"kern.ckptgroup": "0", "kern.ckptfile": "%N.ckpt", "vm.vkernel_enable": "1",
              **(sysctls or {})}
    monkeypatch.setattr(probe, "sysctl", values.get)
    monkeypatch.setattr(probe, "handler_check", lambda pid, argv: (True, "handler present"))
    monkeypatch.setattr(probe, "core_limit", lambda pid, status: (soft, "test"))
    monkeypatch.setattr(probe, "free_bytes", lambda directory: free)
    monkeypatch.setattr(probe.hostckpt, "cached", lambda session, template: {
        "supported": True, "reason": "GSoC host kernel"})
    status = {"vkernel_target": 4242, "vkernel_argv": ["/boot/kernel/kernel", *argv]}
    checks, _ = probe.run_checks(Session(str(tmp_path)), status, Emitter(stream=io.StringIO()))
    return {c["name"]: c for c in checks.items}


def test_no_d_flag_is_vmm_unless_the_host_has_no_vmm(tmp_path, monkeypatch):
    vmm = checks_of(tmp_path, monkeypatch, ["-m", "1g"], {"hw.vmm.enable": "1"})["vmm"]
    assert not vmm["ok"] and vmm["text"].startswith("VMM on: ")
    vmm = checks_of(tmp_path, monkeypatch, ["-m", "1g"], {"hw.vmm.enable": "0"})["vmm"]
    assert vmm["ok"] and "hw.vmm.enable=0" in vmm["text"]


def test_vmm_fix_follows_the_flavour(tmp_path, monkeypatch):
    """A GSoC 2013 binary has no -d: only the host's hw.vmm.enable=0 turns VMM off (§23)."""
    def fix(options):
        values = {"kern.ckptgroup": "0", "kern.ckptfile": "%N.ckpt", "vm.vkernel_enable": "1",
                  "hw.vmm.enable": "1"}
        monkeypatch.setattr(probe, "sysctl", values.get)
        monkeypatch.setattr(probe, "handler_check", lambda pid, argv: (True, "present"))
        monkeypatch.setattr(probe, "core_limit", lambda pid, status: (None, "test"))
        monkeypatch.setattr(probe, "free_bytes", lambda directory: 4 * GIB)
        monkeypatch.setattr(probe.hostckpt, "cached", lambda s, t: {"supported": True,
                                                                     "reason": "gsoc"})
        status = {"vkernel_target": 1, "vkernel_argv": ["/k", "-m", "1g"],
                  "flavour_options": options}
        checks, _ = probe.run_checks(Session(str(tmp_path)), status,
                                     Emitter(stream=io.StringIO()))
        return {c["name"]: c for c in checks.items}["vmm"]["fix"]
    assert fix("IUbBcehilmnprsv").startswith("sysctl hw.vmm.enable=0")
    assert "without --vmm" in fix("IRTUcdehilmnprstvz")


@pytest.mark.parametrize("soft, ok", [(None, True), (64 << 20, True), (1 << 20, False),
                                      (0, False)])
def test_soft_core_limit_bounds_only_the_vkernels_own_segments(tmp_path, monkeypatch, soft,
                                                               ok):
    """Guest RAM stays in the memory image (§23): a limit far below -m is fine."""
    rl = checks_of(tmp_path, monkeypatch, ["-m", "1g", "-d"], soft=soft)["RLIMIT_CORE"]
    assert rl["ok"] is ok
    if not ok:
        assert rl["class"] == "infrastructure"


@pytest.mark.parametrize("free, ok", [(GIB + (32 << 20), True), (GIB // 2, False)])
def test_disk_must_hold_the_memory_image_flush_not_a_ram_copy(tmp_path, monkeypatch, free, ok):
    mem = tmp_path / "memimg"
    with open(mem, "wb") as fh:     # sparse: msync may still need all of it
        fh.truncate(GIB)
    disk = checks_of(tmp_path, monkeypatch, ["-m", "1g", "-d", "-i", str(mem)],
                     free=free)["disk"]
    assert disk["ok"] is ok, disk
    # a memory image already fully allocated needs only the file's own few MB
    small = checks_of(tmp_path, monkeypatch, ["-m", "1g", "-d"], free=64 << 20)["disk"]
    assert small["ok"], small


def test_root_is_not_exempt_from_kern_ckptgroup(tmp_path, monkeypatch):
    group = checks_of(tmp_path, monkeypatch, ["-m", "1g", "-d"],
                      {"kern.ckptgroup": "4242"})["kern.ckptgroup"]
    assert not group["ok"] and "root is not exempt" in group["text"]


def test_host_kernel_without_support_is_named(tmp_path, monkeypatch):
    values = {"kern.ckptgroup": "0", "kern.ckptfile": "%N.ckpt", "vm.vkernel_enable": "1"}
    monkeypatch.setattr(probe, "sysctl", values.get)
    monkeypatch.setattr(probe, "handler_check", lambda pid, argv: (True, "present"))
    monkeypatch.setattr(probe, "core_limit", lambda pid, status: (None, "test"))
    monkeypatch.setattr(probe, "free_bytes", lambda directory: 4 * GIB)
    monkeypatch.setattr(probe.hostckpt, "cached", lambda s, t: {
        "supported": False, "reason": "no NT_DRAGONFLY_FILES"})
    session = Session(str(tmp_path))
    status = {"vkernel_target": 1, "vkernel_argv": ["/k", "-m", "1g", "-d"]}
    checks, facts = probe.run_checks(session, status, Emitter(stream=io.StringIO()))
    res = probe.verdict(session, checks, facts)
    assert res["status"] == "unsupported" and res["summary"].startswith(
        "unsupported: host kernel has no vkernel checkpoint support: ")


def test_p_comm_is_the_resolved_executable(tmp_path):
    real = tmp_path / "kernel.debug"
    real.write_text("")
    link = tmp_path / "vk"
    link.symlink_to(real)
    assert probe.comm_of([str(link), "-m", "1g"]) == "kernel.debug"
    long = tmp_path / ("k" * 20)
    long.write_text("")
    assert probe.comm_of([str(long)]) == "k" * 16


def test_options_are_read_as_getopt_reads_them():
    argv = ["/k", "-m", "1g", "-r", "a.img", "-m", "2g", "-r"]
    assert probe.option(argv, "-m") == "2g"                 # the last one wins
    assert probe.option(argv, "-r") == "a.img"               # a trailing flag has no value
    assert probe.option(argv, "-i") is None
    assert probe.guest_memory(argv) == 2 * GIB
    assert probe.guest_memory(["/k", "-m", "lots"]) is None
    assert probe.guest_memory(["/k"]) is None
    assert probe.comm_of([]) == "kernel"


def test_a_supported_host_names_what_it_found_and_where_the_file_goes(tmp_path):
    session = Session(str(tmp_path))
    checks = probe.Checks(Emitter(stream=io.StringIO()))
    checks.add("handler", True, "present")
    facts = {"ckpt_path": str(tmp_path / "kernel.debug.ckpt"), "host_kernel": "gsoc",
             "rlimit_core": "unlimited"}
    res = probe.verdict(session, checks, facts)
    assert res["status"] == "ok" and res["details"]["supported"] is True
    assert res["summary"] == ("checkpoint supported: handler present, host kernel gsoc, "
                              "RLIMIT_CORE unlimited, file kernel.debug.ckpt")
    checks.add("handler", False, "no handler messages in the binary", "unsupported",
               "build from a tree with the port")
    checks.add("disk", False, "full", "infrastructure", "free space")
    res = probe.verdict(session, checks, dict(facts, handler=False))
    assert (res["status"], res["summary"]) == ("unsupported", probe.NO_HANDLER_SUMMARY)
    assert res["fix"] == "build from a tree with the port"   # unsupported comes first
