"""Pure pieces of the agent: guest protocol, event encoding, ledger, zipapp, cleanup --stale."""
import hashlib
import json
import os
import subprocess
import sys

from buildbot_vkckpt.agent import events, guest, procs
from buildbot_vkckpt.agent.ledger import Ledger
from buildbot_vkckpt.agent.zipapp import build_zipapp


def test_guest_login_sequence_and_sentinel():
    g = guest.GuestShell(token="abcd")
    assert g.on_event("login_prompt") == b"root\r"
    assert g.on_event("shell_prompt") == b"exec /bin/sh\r"
    ps1 = g.on_event("shell_prompt").decode()
    assert ps1 == "PS1='[vk''ckpt-abcd]# '\r" and g.prompt not in ps1
    check = g.on_event("shell_prompt").decode()
    assert check == "echo VKS-abcd-1:$?:\r"
    assert g.on_line("[vkckpt-abcd]# echo VKS-abcd-1:$?:") is None and g.status is None
    g.on_line("VKS-abcd-1:0:")
    g.on_event("shell_prompt")
    assert g.ready
    g.command("ls /")
    assert g.on_line("[vkckpt-abcd]# ls /; echo VKS-abcd-2:$?:") is None
    assert g.on_line("bin") == "bin"
    assert g.on_line("kernel message interleaved") is not None
    g.on_line("etcVKS-abcd-2:3:")
    g.on_event("shell_prompt")
    assert g.ready and g.status == 3 and g.output == ["bin", "kernel message interleaved", "etc"]


def test_event_lines_stay_short_and_parse():
    line = events.encode_event({"ev": "result", "status": "failure", "summary": "x" * 10000,
                                "details": {"tail": ["y" * 3000] * 40}})
    assert len(line.encode()) < 4000
    assert json.loads(line[len(events.PREFIX):])["status"] == "failure"
    assert events.exit_code({"status": "infrastructure"}) == 4
    # a big inspection gives way; the short file path the next command needs stays whole
    path = "/tmp/dd/bb/worker-vkckpt-worker/vkckpt/vkckpt-sessions/build-1/kernel.debug.ckpt"
    line = events.encode_event({"ev": "result", "status": "ok", "summary": "written",
                                "details": {"file": path, "inspect": ["z" * 90] * 40,
                                            "referenced": [{"path": "p" * 70}] * 12}})
    assert len(line.encode()) < 4000
    assert json.loads(line[len(events.PREFIX):])["details"]["file"] == path
    assert events.exit_code({"status": "unsupported"}) == 3


def test_ledger_alloc_update_release(tmp_path):
    led = Ledger(tmp_path)
    a = led.allocate("vn", unit="vn0")
    b = led.allocate("mount", path="/mnt")
    led.update(a, configured=True)
    with open(led.path, "a") as fh:
        fh.write('{"op": "alloc", "id": ')  # torn last line from a crash
    assert [e["kind"] for e in led.outstanding()] == ["mount", "vn"]
    led.release(b)
    (left,) = led.outstanding()
    assert left["id"] == a and left["configured"] is True


def test_zipapp_is_deterministic_and_runs(tmp_path):
    h1 = build_zipapp(tmp_path / "a.pyz")
    h2 = build_zipapp(tmp_path / "b.pyz")
    assert h1 == h2 == hashlib.sha256((tmp_path / "a.pyz").read_bytes()).hexdigest()
    p = subprocess.run([sys.executable, str(tmp_path / "a.pyz"), "status", "--session",
                        str(tmp_path / "s")], stdout=subprocess.PIPE, cwd=tmp_path, timeout=30)
    assert p.returncode == 0
    assert b'@@vkckpt {"ev":"result","status":"ok"' in p.stdout


def test_cleanup_stale_releases_dead_sessions(tmp_path, run_agent, monkeypatch):
    # a registry of its own: --stale covers every session the run's registry knows
    monkeypatch.setenv("VKCKPT_STATE_DIR", str(tmp_path / "registry"))
    # an orphan (reaped by init, as a crashed session's processes are), not our child
    pid = int(subprocess.run(["sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!"],
                             stdout=subprocess.PIPE).stdout)
    try:
        (tmp_path / "old").mkdir()
        led = Ledger(tmp_path / "old")
        led.update(led.allocate("supervisor"), pid=999999)   # dead supervisor
        proc = led.allocate("process", pid=pid)
        junk = tmp_path / "old" / "memimg"
        junk.write_bytes(b"x")
        led.allocate("file", path=str(junk))
        p = run_agent("cleanup", "--stale", "--root", tmp_path)
        assert p.returncode == 0, p.stdout
        assert not procs.alive(pid)
        assert not junk.exists()
        assert Ledger(tmp_path / "old").outstanding() == []
        assert proc in Ledger(tmp_path / "old").entries()
        assert b"released 3 stale resource(s) from 1 session(s)" in p.stdout
    finally:
        procs.signal_pid(pid, 9)


def test_checkpoint_threads_at_least_one_per_cpu(tmp_path):
    """A real vkernel also saves its cothreads: more threads than -n is fine, fewer is not."""
    from buildbot_vkckpt.agent.checkpoint import validate
    from buildbot_vkckpt.simhost import ckptfile
    path = tmp_path / "kernel.ckpt"
    ckptfile.write_core(str(path), "gsoc", comm="kernel", tids=[1, 2, 3])
    assert validate(str(path), 2)[1] is None
    assert validate(str(path), 3)[1] is None
    assert validate(str(path), 4)[1] == "3 thread(s) saved, the vkernel runs 4 cpus (-n)"
    assert validate(str(tmp_path / "none.ckpt"), 2)[1].startswith("no checkpoint file at")


def test_a_parked_supervisor_waits_for_its_restore_but_not_forever(tmp_path):
    import time
    from buildbot_vkckpt.agent import supervisor
    sup = supervisor.Supervisor(str(tmp_path), ["/bin/true"])
    sup.proc, sup.exit_status = object(), 0          # the checkpointed vkernel has exited
    sup.parked = {"seconds": 1.0, "at": time.monotonic()}
    assert not sup.finished()
    assert 0 < sup.next_timeout() <= supervisor.PARKED_MAX
    sup.parked["at"] -= supervisor.PARKED_MAX + 1
    assert sup.finished()
    sup.op = object()                                 # never while a request is served
    assert not sup.finished()


def test_verify_rereads_a_counter_caught_between_truncate_and_write(tmp_path):
    """The guest workload rewrites its counter with `>`; a read in between sees it empty."""
    from buildbot_vkckpt.agent.verify import fields_of, gather_command, parse
    d = tmp_path / "wl"
    d.mkdir()
    (d / "counter").write_text("41\n")
    (d / "data").write_text("x")
    fake = tmp_path / "bin"
    fake.mkdir()
    # a cat that finds the counter empty on its first read, as in the race
    (fake / "cat").write_text(f"#!/bin/sh\nif [ ! -e {tmp_path}/seen ]; then : > {tmp_path}/seen; "
                              "exit 0; fi\nexec /bin/cat \"$@\"\n")
    (fake / "cat").chmod(0o755)
    (fake / "sysctl").write_text("#!/bin/sh\necho 1700000000\n")
    (fake / "sysctl").chmod(0o755)
    line = gather_command({"dir": str(d), "pid": os.getpid()})
    out = subprocess.run(["/bin/sh", "-c", line], capture_output=True, text=True, check=True,
                         env={"PATH": f"{fake}:/usr/bin:/bin"}).stdout
    assert (tmp_path / "seen").exists()
    assert parse(fields_of(out.splitlines()))["counter"] == 41


def test_verify_no_reboot_survives_a_clock_step_but_not_a_reboot(tmp_path, monkeypatch):
    """kern.boottime moves on every clock step (reference §23): after a thaw the guest clock
    jumps and boottime with it, while init's start time and the uptime go on."""
    import io
    from buildbot_vkckpt.agent import verify
    from buildbot_vkckpt.agent.events import Emitter
    from buildbot_vkckpt.agent.session import Session

    session = Session(str(tmp_path))
    init = "Sun Dec  6 05:02:34 2026"
    rec = {"dir": "/tmp/x", "pid": 7, "net": False, "counter": 3, "sha": "s",
           "boottime": 1000, "now": 1100, "init": " ".join(init.split())}

    def verdict(boottime, now, init_now):
        verify.save(session, dict(rec))
        line = (f"vkv_alive=1\nvkv_counter=9\nvkv_boottime={{ sec = {boottime}, usec = 0 }}\n"
                f"vkv_now={now}\nvkv_init={init_now}\nvkv_sha=s\n")
        monkeypatch.setattr(verify, "guest", lambda *a, **k: verify.fields_of(line.splitlines()))
        args = type("A", (), {"timeout": 5})()
        res = verify.verify(session, Emitter(stream=io.StringIO()), args)
        return {c["name"]: c["ok"] for c in res["details"]["checks"]}["uptime-continuous"]
    assert verdict(1000, 1130, init)                  # nothing happened
    assert verdict(1500, 1630, init)                  # the clock stepped 500 s after the thaw
    assert not verdict(1120, 1125, init)              # rebooted: uptime went back
    assert not verdict(1000, 1130, "Sun Dec  6 06:00:00 2026")   # another init
