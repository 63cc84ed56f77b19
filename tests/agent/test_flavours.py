"""One session per real DragonFly flavour (reference/dragonfly.md §23), on the simulated host
playing that flavour, with the agent's BSD code paths: every agent command runs where /proc
cannot be read (a private mount namespace with an empty /proc; the simulator's own tools read
the real one from its hostproc).

* gsoc2013 — no ``-d``: VMM is off only because the host has ``hw.vmm.enable=0``; its
  fork-wrapper parent does not forward SIGTERM; it has the checkpoint handler.
* master-with-port — master's options (``-d``) plus the handler.
* master2020 — stock: no handler, so the cycle is "unsupported" before any signal.

The gsoc2013 and master-with-port sessions run boot, probe, verify --prepare, checkpoint,
restore, verify and shutdown with /proc hidden.
"""
import os

import pytest

from buildbot_vkckpt.agent import procs
from buildbot_vkckpt.agent.ledger import Ledger

from .simsupport import AGENT, journal, noproc_available


@pytest.fixture(autouse=True)
def proc_can_be_hidden():
    """A test that cannot run says so and fails: it is never skipped."""
    assert noproc_available(), ("these tests hide /proc from the agent, as on DragonFly: they "
                                "need root and unshare(1) (util-linux)")


def vkernel_entry(session):
    return [e for e in Ledger(session).entries().values() if e["kind"] == "vkernel"][0]


def metrics(run):
    return {e["name"]: e["value"] for e in run.events if e.get("ev") == "metric"}


def checks(run):
    return {e["name"]: e for e in run.events if e.get("ev") == "check"}


def boot_checked(sim, flavour):
    run = sim.boot()
    assert run.returncode == 0, run
    assert run.details["flavour"] == flavour and run.summary.endswith(" · " + flavour), run
    argv = vkernel_entry(sim.session)["argv"]
    # the session's own copy of the kernel, never the obj dir's (the next buildkernel
    # deletes it, and a thaw reopens the binary by handle)
    assert argv[0] == str(sim.session / "kernel" / "kernel.debug") != str(sim.built.kernel)
    assert ("-d" in argv) == (flavour != "gsoc2013"), argv
    return run


def shutdown_clean(sim):
    child = procs.read_pidfile(sim.session / "vkernel.pid")
    run = sim.agent("shutdown")
    assert run.returncode == 0 and "halted cleanly" in run.summary, run
    if child:
        assert not procs.alive(child)
    for pid in sim.session_processes():
        procs.wait_exit(pid, 5.0)
    return run


@pytest.mark.parametrize("flavour", ["gsoc2013", "master-with-port"])
def test_cycle_without_proc(sim_of, flavour):
    sim = sim_of(flavour)
    sim.noproc = True
    if flavour == "gsoc2013":
        with sim.host.update_state() as st:   # no -d: the host must keep VMM off
            st["sysctl"]["hw.vmm.enable"] = 0
    boot_checked(sim, flavour)
    run = sim.agent("probe")
    assert run.returncode == 0, run
    assert run.details["host_kernel"] == "gsoc" and run.details["supported"] is True
    assert "/proc" not in checks(run)["RLIMIT_CORE"]["text"]   # read without procfs
    prep = sim.agent("verify", "--prepare")
    assert prep.returncode == 0, prep
    ck = sim.agent("checkpoint")
    assert ck.returncode == 0, ck
    m = metrics(ck)
    # guest RAM stays in the memory image: the file is a few MB, whatever -m is (§23)
    assert m["ckpt_bytes"] < 16 << 20 and m["memimg_bytes"] == 128 << 20, m
    assert ck.summary.endswith(" threads · memory image 128.0 MiB"), ck
    full = [e for e in journal(sim.session) if e.get("ev") == "result"][-1]["details"]
    refs = {os.path.basename(r.get("path") or "?") for r in full["referenced"]}
    assert {"memimg", "kernel.debug", "results.img", "vkernel.pid"} <= refs, ck.details
    # the pidfile stays: the thaw needs it (§23)
    assert (sim.session / "vkernel.pid").exists()
    rs = sim.agent("restore", "--file", full["file"])
    assert rs.returncode == 0, rs
    assert rs.summary.startswith("restored in "), rs
    vf = sim.agent("verify")
    assert vf.returncode == 0 and vf.summary.startswith("guest continued: "), vf
    shutdown_clean(sim)


def test_master2020_is_unsupported_before_any_signal(sim_of):
    sim = sim_of("master2020")
    sim.noproc = True
    boot_checked(sim, "master2020")
    run = sim.agent("probe")
    assert (run.returncode, run.result["kind"]) == (3, "unsupported"), run
    assert run.summary == ("unsupported: the vkernel has no checkpoint handler "
                           "(stock DragonFly cannot checkpoint a running vkernel)")
    run = sim.agent("checkpoint")
    assert (run.returncode, run.details.get("signalled")) == (3, False), run
    assert sim.agent("exec", "--", "true").returncode == 0
    shutdown_clean(sim)


def test_gsoc_vkernel_on_a_stock_host_is_told_before_any_signal(sim_of):
    sim = sim_of("gsoc2013", "stock")
    with sim.host.update_state() as st:
        st["sysctl"]["hw.vmm.enable"] = 0
    boot_checked(sim, "gsoc2013")
    run = sim.agent("probe")
    assert (run.returncode, run.result["kind"]) == (3, "unsupported"), run
    assert run.summary.startswith("unsupported: host kernel has no vkernel checkpoint "
                                  "support: "), run
    assert run.details["host_kernel"] == "stock"
    run = sim.agent("checkpoint")
    assert (run.returncode, run.details.get("signalled")) == (3, False), run
    assert run.summary.startswith("unsupported: host kernel has no vkernel checkpoint support")
    # the vkernel was never signalled: the guest still answers, no file was written
    assert sim.agent("exec", "--", "true").returncode == 0
    assert not (sim.session / "kernel.debug.ckpt").exists()
    assert not [p for p in os.listdir(sim.session) if p.startswith("vkckpt-hostprobe")]
    shutdown_clean(sim)


def test_gsoc_with_vmm_on_the_host_is_vmm_on(sim_of):
    sim = sim_of("gsoc2013")
    with sim.host.update_state() as st:
        st["sysctl"]["hw.vmm.enable"] = 1
    run = sim.boot()
    assert run.returncode == 0, run
    warn = [e for e in run.events if e.get("ev") == "check" and e.get("name") == "vmm"]
    assert warn and "hw.vmm.enable=0" in warn[0]["fix"], run
    run = sim.agent("probe")
    assert (run.returncode, run.result["kind"]) == (3, "unsupported"), run
    assert run.summary.startswith("unsupported: VMM on: "), run
    assert "hw.vmm.enable=0" in run.result["fix"]
    pf = sim.agent("preflight", "--kernel", sim.built.kernel, "--image-size", "64m")
    assert pf.returncode == 4 and pf.details["problems"][0]["check"] == "hw.vmm.enable", pf
    shutdown_clean(sim)


def test_gsoc_shutdown_by_sigterm_reaches_the_child(sim_of):
    """The GSoC 2013 fork-wrapper parent does not forward SIGTERM (§23): the supervisor signals
    the pidfile's child, which shuts the guest down cleanly; the parent then exits 0."""
    import subprocess
    import time

    from .simsupport import REPO
    sim = sim_of("gsoc2013")
    with sim.host.update_state() as st:
        st["sysctl"]["hw.vmm.enable"] = 0
    boot_checked(sim, "gsoc2013")
    # a guest command still runs, so shutdown cannot type halt: SIGTERM it is
    busy = subprocess.Popen([*AGENT, "exec", "--session",
                             str(sim.session), "--timeout", "60", "--", "sleep 30"],
                            env=sim.env(), cwd=str(REPO), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            st = sim.agent("status")
            if st.details.get("op") == "exec":
                break
        run = sim.agent("shutdown", "--timeout", "20")
        assert run.returncode == 0, run
    finally:
        busy.wait(30)
    console = (sim.session / "console.log").read_text(errors="replace")
    assert "Caught SIGTERM from host system. Shutting down..." in console, console[-600:]
    assert "cpu halt, exiting vkernel" in console
    phases = [e for e in journal(sim.session) if e.get("ev") == "phase"
              and e.get("name") == "shutdown"]
    child = phases[-1].get("pid")
    vk = vkernel_entry(sim.session)
    assert phases[-1]["how"] == "SIGTERM" and child and child != vk["pid"], phases
    assert not procs.alive(child) and not procs.alive(vk["pid"])
