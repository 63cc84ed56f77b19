"""probe / checkpoint / restore / verify against the simulated vkernel (GSoC 2013 handler).

Every test runs on the shared simulated host; the ``sim`` fixture asserts afterwards that no
ledger entry, vn unit, mount or session process is left.
"""
import os
import shutil

from buildbot_vkckpt.agent import procs
from buildbot_vkckpt.agent.ledger import Ledger

from .simsupport import journal, run_agent


def metrics(run):
    return {e["name"]: e["value"] for e in run.events if e.get("ev") == "metric"}


def full(sim):
    """The last result as the session's journal holds it: the printed event may shorten a
    long inspection to keep the line under the worker's limit."""
    return [e for e in journal(sim.session) if e.get("ev") == "result"][-1]["details"]


def checks(run):
    return {e["name"]: e for e in run.events if e.get("ev") == "check"}


def ckpt_file(sim):
    return sim.session / "kernel.debug.ckpt"


def booted(sim):
    run = sim.boot()
    assert run.returncode == 0, run
    return run


def shutdown(sim):
    """shutdown, then wait for what the simulator's checkpoint keeper holds to go (it watches
    the checkpoint file, which shutdown removes, every 0.1 s)."""
    run = sim.agent("shutdown")
    assert run.returncode == 0, run
    for pid in sim.session_processes():
        procs.wait_exit(pid, 5.0)
    record = sim.session / "verify.json"
    if record.exists():
        import json
        shutil.rmtree(json.loads(record.read_text())["dir"], ignore_errors=True)
    return run


def test_probe_ok_without_harm(sim):
    booted(sim)
    run = sim.agent("probe")
    assert run.returncode == 0, run
    assert run.summary == ("checkpoint supported: handler present, host kernel gsoc, "
                           "RLIMIT_CORE unlimited, file kernel.debug.ckpt"), run
    assert run.details["supported"] is True
    assert run.details["ckpt_path"] == str(ckpt_file(sim))
    got = checks(run)
    assert set(got) == {"handler", "host kernel", "vmm", "RLIMIT_CORE", "kern.ckptgroup",
                        "kern.ckptfile", "disk", "vm.vkernel_enable"}
    assert "NT_DRAGONFLY_FILES" in got["host kernel"]["text"]
    # the host probe's helper and its files are gone
    assert not [n for n in os.listdir(sim.session) if n.startswith("vkckpt-hostprobe")]
    assert all(c["ok"] for c in got.values()), got
    assert "catches signal 34" in got["handler"]["text"]
    assert "/proc/" in got["RLIMIT_CORE"]["text"]   # the vkernel's own limit, raised by boot
    # harmless: the guest still answers and no file was written
    assert sim.agent("exec", "--", "true").returncode == 0
    assert not ckpt_file(sim).exists()
    shutdown(sim)


def test_probe_follows_kern_ckptfile(sim):
    booted(sim)
    with sim.host.update_state() as st:
        st["sysctl"]["kern.ckptfile"] = "ck-%N-%P-%U.%%"
    run = sim.agent("probe")
    pid = run.details["pid"]
    assert run.details["ckpt_path"] == str(sim.session / f"ck-kernel.debug-{pid}-{os.getuid()}.%")
    with sim.host.update_state() as st:
        st["sysctl"]["kern.ckptgroup"] = 4242
    run = sim.agent("probe")
    # groupmember() with no privilege bypass: root is refused too (§23)
    assert (run.returncode, run.result["kind"]) == (4, "infrastructure"), run
    assert run.summary.startswith("host cannot checkpoint: kern.ckptgroup: 4242"), run
    assert "root is not exempt" in run.summary and "kern.ckptgroup=-1" in run.result["fix"]
    shutdown(sim)


def test_ckptgroup_refusal_of_the_vkernel_is_eperm_with_its_fix(sim):
    booted(sim)
    assert sim.agent("probe").returncode == 0        # the host answer is kept in the session
    with sim.host.update_state() as st:
        st["sysctl"]["kern.ckptgroup"] = 4242
    run = sim.agent("checkpoint")
    assert (run.returncode, run.result["kind"]) == (4, "infrastructure"), run
    assert "(EPERM)" in run.summary and "kern.ckptgroup" in run.result["fix"], run
    shutdown(sim)


def test_two_full_cycles(sim):
    booted(sim)
    prep = sim.agent("verify", "--prepare")
    assert prep.returncode == 0, prep
    assert prep.summary.startswith("workload started (pid "), prep
    counters = [prep.details["counter"]]
    for cycle in (1, 2):
        ck = sim.agent("checkpoint")
        assert ck.returncode == 0, ck
        assert ck.summary.startswith("checkpoint written in ")
        assert ": kernel.debug.ckpt, " in ck.summary, ck
        assert ck.summary.endswith(" threads · memory image 128.0 MiB"), ck
        m = metrics(ck)
        # the file holds the vkernel's own segments; guest RAM stays in the memory image
        assert m["ckpt_bytes"] == os.path.getsize(ckpt_file(sim)) < 16 << 20
        assert m["memimg_bytes"] == 128 << 20
        assert 0 < m["ckpt_seconds"] < 10
        assert ck.details["file"] == str(ckpt_file(sim)) and ck.details["threads"] >= 2
        assert (sim.session / "vkernel.pid").exists()    # the thaw needs it (§23)
        assert "no problems found" in full(sim)["inspect"]
        st = sim.agent("status")
        assert st.details["parked"] and st.details["vkernel_target"] is None, st

        rs = sim.agent("restore", "--file", ckpt_file(sim))
        assert rs.returncode == 0, rs
        assert rs.summary.startswith("restored in "), rs
        m = metrics(rs)
        assert 0 < m["restore_seconds"] <= m["console_seconds"] < 10
        assert "Restored from checkpoint..." in rs.stdout

        vf = sim.agent("verify")
        assert vf.returncode == 0, vf
        before, after = vf.details["counter"]
        assert before == counters[-1] and after > before, vf
        counters.append(after)
        assert vf.summary == (f"guest continued: workload alive (counter {before}→{after}), "
                              f"uptime {vf.details['uptime']} s, files intact")
        assert checks(vf)["network"]["text"].startswith("not applicable")
        assert sum(1 for c in checks(vf).values() if c["ok"]) == 5
    # the restored vkernel is checkpt itself: status names it
    st = sim.agent("status")
    assert st.details["restored"] and st.details["vkernel_target"] == st.details["vkernel_pid"]
    run = shutdown(sim)
    assert "halted cleanly" in run.summary, run
    assert not ckpt_file(sim).exists()
    results = [e for e in journal(sim.session) if e.get("ev") == "result"]
    assert len(results) >= 8


def test_stock_vkernel_is_unsupported(sim_of):
    sim = sim_of("master2020")      # DragonFly master as of 2020: no checkpoint handler
    booted(sim)
    run = sim.agent("probe")
    assert (run.returncode, run.result["status"], run.result["kind"]) == \
        (3, "unsupported", "unsupported"), run
    assert run.summary == ("unsupported: the vkernel has no checkpoint handler "
                           "(stock DragonFly cannot checkpoint a running vkernel)")
    assert run.details["supported"] is False and "vkernel_chkpt" in run.result["fix"] \
        and "§" not in run.summary + run.result["fix"]
    assert "lacks the handler" in checks(run)["handler"]["text"]
    # checkpoint refuses rather than kill the session with signal 34
    run = sim.agent("checkpoint")
    assert (run.returncode, run.result["kind"]) == (3, "unsupported"), run
    assert run.details["signalled"] is False
    assert sim.agent("exec", "--", "true").returncode == 0
    shutdown(sim)


def test_ckpt_enospc_is_infrastructure(sim):
    booted(sim)
    sim.fault(ckpt_enospc=None)
    run = sim.agent("checkpoint")
    assert (run.returncode, run.result["kind"]) == (4, "infrastructure"), run
    assert run.summary == "the checkpoint file did not fit: No space left on device"
    assert "free disk space" in run.result["fix"]
    assert "Couldn't save checkpoint file: No space left on device" in run.details["message"]
    inspect = full(sim)["inspect"]
    assert any(p.strip().startswith("truncated") for p in inspect[-3:]) or \
        "problems:" in inspect, inspect
    shutdown(sim)


def test_ckpt_rlimit_core_is_infrastructure(sim):
    booted(sim)
    sim.fault(ckpt_rlimit_core=None)
    run = sim.agent("checkpoint")
    assert (run.returncode, run.result["kind"]) == (4, "infrastructure"), run
    assert run.summary.startswith("RLIMIT_CORE of the vkernel is 0"), run
    assert "ulimit -c unlimited" in run.result["fix"]
    shutdown(sim)


def test_ckpt_corrupt_file_is_kernel_failure(sim):
    booted(sim)
    sim.fault(ckpt_corrupt=None)
    run = sim.agent("checkpoint")
    assert (run.returncode, run.result["kind"]) == (1, "kernel"), run
    assert run.summary.startswith("checkpoint file invalid: note order: "), run
    assert "problems:" in full(sim)["inspect"]
    assert metrics(run)["ckpt_bytes"] > 0
    shutdown(sim)


def checkpointed(sim):
    booted(sim)
    assert sim.agent("verify", "--prepare").returncode == 0
    run = sim.agent("checkpoint")
    assert run.returncode == 0, run


def test_restore_thaw_fails(sim):
    checkpointed(sim)
    sim.fault(restore_thaw_fails=None)
    run = sim.agent("restore", "--file", ckpt_file(sim))
    assert (run.returncode, run.result["kind"]) == (1, "kernel"), run
    assert run.summary == "restore failed: thaw failed error 22 Invalid argument"
    assert "no problems found" in full(sim)["inspect"]
    assert any("thaw failed error 22" in ln for ln in full(sim)["tail"])
    shutdown(sim)


def test_restore_panics_with_backtrace(sim):
    checkpointed(sim)
    sim.fault(restore_panics=None)
    run = sim.agent("restore", "--file", ckpt_file(sim))
    assert (run.returncode, run.result["kind"]) == (1, "kernel"), run
    assert run.summary == ("kernel: panic: vmspace_ctl: cannot restore vmspace"
                           " · ddb trace captured"), run
    got = full(sim)
    assert got["backtrace"] and got["inspect"] and got["tail"]
    shutdown(sim)


def test_restore_loses_process(sim):
    checkpointed(sim)
    sim.fault(restore_loses_process=None)
    assert sim.agent("restore", "--file", ckpt_file(sim)).returncode == 0
    run = sim.agent("verify")
    assert (run.returncode, run.result["kind"]) == (1, "kernel"), run
    assert run.summary.startswith("restore broke the guest: workload-alive: pid "), run
    assert run.summary.endswith(" is gone")
    assert not checks(run)["workload-alive"]["ok"] and checks(run)["files-intact"]["ok"]
    shutdown(sim)


def test_restore_hangs_times_out(sim):
    checkpointed(sim)
    sim.fault(restore_hangs=None)
    run = sim.agent("restore", "--file", ckpt_file(sim), "--timeout", "1")
    assert (run.returncode, run.result["kind"]) == (1, "timeout"), run
    assert run.summary.startswith("timeout in restore: no 'Restored from checkpoint...' "
                                  "within 1 s; last line: Restoring vmspaces..."), run
    assert full(sim)["tail"][-1] == "Restoring vmspaces..." and full(sim)["inspect"]
    shutdown(sim)


def test_checkpoint_then_shutdown_without_restore(sim):
    booted(sim)
    run = sim.agent("restore", "--file", sim.built.image)   # nothing checkpointed yet
    assert (run.returncode, run.result["kind"]) == (4, "infrastructure"), run
    assert run.summary == "no checkpointed vkernel waits for a restore in this session"
    assert sim.agent("checkpoint").returncode == 0
    run = sim.agent("probe")   # parked: nothing to probe, nothing harmed
    assert run.returncode == 4 and "is checkpointed" in run.summary, run
    run = sim.agent("exec", "--", "true")
    assert run.returncode == 4 and run.summary == "no vkernel runs in this session", run
    run = shutdown(sim)
    assert run.summary.startswith("no vkernel was running"), run
    assert not ckpt_file(sim).exists()


# --- the network check (-I) ----------------------------------------------------------------------
def net_image(sim):
    """A root image built with ``image --net`` (rc.conf: ``ifconfig_vke0="DHCP"``), made once
    per run: rc brings vke0 up at boot, which the ``network`` check then expects to stay."""
    image = sim.built.root / "net.img"
    if not image.exists():
        run = sim.built.image_run(sim.built.root / "image-net-session", image, "--net")
        assert run.returncode == 0, run
    return image


def host_net(sim):
    """vkernel.7's bridged setup on the simulated host (reference §3)."""
    import subprocess
    for argv in (["kldload", "if_tap", "if_bridge"], ["ifconfig", "bridge0", "create"],
                 ["ifconfig", "bridge0", "addm", "re0", "up"]):
        subprocess.run(argv, env=sim.env(), check=True, capture_output=True)


def host_net_state(sim):
    st = sim.host.load_state()
    return st["taps"], st.get("bridges", {}).get("bridge0", {}).get("members")


def undo_host_net(sim):
    with sim.host.update_state() as st:
        st["modules"] = [m for m in st["modules"] if m not in ("if_tap", "if_bridge")]
        st.get("bridges", {}).pop("bridge0", None)
        st.pop("tap_open", None)


def net_cycle(sim, net):
    """boot --net, verify --prepare, checkpoint, restore; the restore's run."""
    run = run_agent(sim.env(), *sim.boot_argv(image=net_image(sim)), "--net", net)
    assert run.returncode == 0, run
    prep = sim.agent("verify", "--prepare")
    assert prep.returncode == 0, prep
    assert prep.details["net"] is True and prep.details["net_up"] is True, prep.details
    ck = sim.agent("checkpoint")
    assert ck.returncode == 0, ck
    rs = sim.agent("restore", "--file", ckpt_file(sim))
    assert rs.returncode == 0, rs
    return rs


def test_network_check_tap_in_bridge_survives_restore(sim):
    host_net(sim)
    try:
        rs = net_cycle(sim, "auto:bridge0")
        assert "TAP UNIT 0" in rs.stdout and "SIOCAIFADDR" not in rs.stdout   # reopened
        assert host_net_state(sim)[1] == ["re0", "tap0"]
        vf = sim.agent("verify")
        assert vf.returncode == 0, vf
        net = checks(vf)["network"]
        assert net["ok"] and net["text"].startswith(
            "vke0: vke0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> mtu 1500"), net
        shutdown(sim)
        assert host_net_state(sim) == ({}, ["re0"])     # the cloned tap went with the vkernel
        assert len(booked_taps(sim)) == 1               # the restore's TAP UNIT booked nothing
    finally:
        undo_host_net(sim)


def booked_taps(sim):
    return [e for e in Ledger(sim.session).entries().values() if e["kind"] == "tap"]


def test_a_tap_the_admin_named_is_not_destroyed(sim):
    import subprocess
    host_net(sim)
    subprocess.run(["ifconfig", "tap3", "create"], env=sim.env(), check=True,
                   capture_output=True)
    try:
        run = run_agent(sim.env(), *sim.boot_argv(image=net_image(sim)), "--net", "tap3")
        assert run.returncode == 0, run
        assert "TAP UNIT 3" in run.stdout
        shutdown(sim)
        assert booked_taps(sim) == []
        assert "tap3" in host_net_state(sim)[0]         # still the admin's
    finally:
        subprocess.run(["ifconfig", "tap3", "destroy"], env=sim.env(), capture_output=True)
        undo_host_net(sim)


def test_network_check_fails_after_restore_on_vknetd_socket(sim):
    import socket
    path = str(sim.tmp / "vknet")
    vknetd = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)   # stands in for vknetd(8)
    vknetd.bind(path)
    vknetd.listen(8)
    try:
        rs = net_cycle(sim, path)
        # the guest is back, but netif_restore() could not give vke0 its link (§19)
        assert "kernel.debug: tap-1: ioctl(SIOCAIFADDR) failed: Device not configured" \
            in rs.stdout, rs
        assert "kernel.debug: Couldn't reinitialize network interface" in rs.stdout
        assert rs.summary.endswith(" · network not restored: "
                                   "Couldn't reinitialize network interface"), rs
        assert rs.details["netif_errors"] == [
            "tap-1: ioctl(SIOCAIFADDR) failed: Device not configured",
            "Couldn't reinitialize network interface"]
        vf = sim.agent("verify")
        assert (vf.returncode, vf.result["kind"]) == (1, "kernel"), vf
        assert vf.summary == ("restore broke the guest: network: vke0: "
                              "vke0: flags=8802<BROADCAST,SIMPLEX,MULTICAST> mtu 1500"), vf
        got = checks(vf)
        assert [n for n, c in got.items() if not c["ok"]] == ["network"], got
        shutdown(sim)
    finally:
        vknetd.close()


def test_prepare_refuses_a_link_that_never_came_up(sim):
    host_net(sim)
    try:
        # the plain image has no ifconfig_vke0 in rc.conf: vke0 exists but stays down
        run = run_agent(sim.env(), *sim.boot_argv(), "--net", "auto:bridge0")
        assert run.returncode == 0, run
        prep = sim.agent("verify", "--prepare")
        assert (prep.returncode, prep.result["kind"]) == (4, "infrastructure"), prep
        assert prep.summary.startswith("verify: vke0 is not up before the checkpoint"), prep
        assert "image --net" in prep.result["fix"]
        # the workload it had started is gone: no record was saved for shutdown to find
        workload = prep.details["workload_removed"]
        assert workload.startswith("/tmp/vkckpt-verify-") and not os.path.exists(workload)
        shutdown(sim)
    finally:
        undo_host_net(sim)
