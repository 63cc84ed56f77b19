"""What verify reads from the guest after a restore (agent/verify.py), on the functions
themselves; verify against a simulated guest runs in test_cycle.py."""
import io
import os
import subprocess

import pytest

from buildbot_vkckpt.agent import verify
from buildbot_vkckpt.agent.events import Emitter, Outcome
from buildbot_vkckpt.agent.session import Session


def test_verify_rereads_a_counter_caught_between_truncate_and_write(tmp_path):
    """The guest workload rewrites its counter with `>`; a read in between sees it empty."""
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
    line = verify.gather_command({"dir": str(d), "pid": os.getpid()})
    out = subprocess.run(["/bin/sh", "-c", line], capture_output=True, text=True, check=True,
                         env={"PATH": f"{fake}:/usr/bin:/bin"}).stdout
    assert (tmp_path / "seen").exists()
    assert verify.parse(verify.fields_of(out.splitlines()))["counter"] == 41


def test_verify_no_reboot_survives_a_clock_step_but_not_a_reboot(tmp_path, monkeypatch):
    """kern.boottime moves on every clock step (reference §23): after a thaw the guest clock
    jumps and boottime with it, while init's start time and the uptime go on."""
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


def test_fields_and_parse_tolerate_a_noisy_console():
    lines = ["[vkckpt-x]# echo ...", "vkv_alive=1", "kernel: something vkv_counter= 12 ",
             "vkv_boottime={ sec = 1700000000, usec = 5 } Tue Nov 14 22:13:20 2023",
             "vkv_now=garbage", "vkv_init=Sun  Dec  6 05:02:34 2026", "vkv_sha="]
    got = verify.parse(verify.fields_of(lines))
    assert got == {"alive": True, "counter": 12, "boottime": 1700000000, "now": None,
                   "sha": None, "net": None, "init": "Sun Dec 6 05:02:34 2026"}
    assert verify.parse({})["alive"] is False and verify.to_int(None) is None


def test_gather_command_quotes_nothing_from_outside_and_asks_for_the_link_only_with_net():
    rec = {"dir": "/tmp/vkckpt-verify-ab12", "pid": 77}
    line = verify.gather_command(rec)
    assert line.startswith("d=/tmp/vkckpt-verify-ab12; if kill -0 77 ") and "vke0" not in line
    assert verify.gather_command(dict(rec, net=True)).endswith(
        "echo vkv_net=$(ifconfig vke0 2>&1 | head -n 1)")
    assert verify.gather_command(dict(rec, counter=3), wait=2).startswith("n=0; while ")


def run_wait(tmp_path, counter_after, seconds=0.5):
    """The progress wait in /bin/sh: the counter is 3 and a writer makes it
    ``counter_after`` 0.2 s in; returns (seconds the line took, the counter it printed)."""
    import time
    d = tmp_path / "wl"
    d.mkdir(parents=True)
    (d / "counter").write_text("3\n")
    rec = {"dir": str(d), "pid": os.getpid(), "counter": 3}
    line = verify.progress_wait(rec, seconds) + f"cat {d}/counter"
    writer = subprocess.Popen(["/bin/sh", "-c", f"sleep 0.2; echo {counter_after} > {d}/counter"])
    t0 = time.monotonic()
    out = subprocess.run(["/bin/sh", "-c", line], capture_output=True, text=True, check=True)
    took = time.monotonic() - t0
    writer.wait()
    return took, out.stdout.strip()


def test_the_progress_wait_ends_when_the_counter_moves_and_gives_up_after_its_time(tmp_path):
    took, counter = run_wait(tmp_path / "moved", 4, seconds=5)
    assert counter == "4" and took < 4, took          # ended at the change, not after 5 s
    took, counter = run_wait(tmp_path / "stuck", 3, seconds=0.5)
    assert counter == "3" and took >= 0.5, took       # never moved: waited it out


def test_a_missing_or_bad_record_is_infrastructure(tmp_path):
    session = Session(str(tmp_path))
    for content in (None, "{broken", '{"dir": "/tmp/x"}'):
        if content is not None:
            (tmp_path / verify.RECORD).write_text(content)
        with pytest.raises(Outcome) as caught:
            verify.load(session)
        assert caught.value.result.kind.value == "infrastructure", content
        assert "run verify --prepare" in caught.value.result.fix
    verify.save(session, {"dir": "/tmp/x", "pid": 3})
    assert verify.load(session) == {"dir": "/tmp/x", "pid": 3}


def test_a_dead_workload_fails_the_restore_as_the_kernels(tmp_path, monkeypatch):
    session = Session(str(tmp_path))
    verify.save(session, {"dir": "/tmp/x", "pid": 7, "counter": 3, "sha": "s",
                          "boottime": 1000, "now": 1100})
    answers = iter(["vkv_alive=0\nvkv_counter=3\nvkv_now=1130\nvkv_sha=s\n"
                    "vkv_boottime={ sec = 1000 }\n"])
    monkeypatch.setattr(verify, "guest", lambda *a, **k: verify.fields_of(
        next(answers).splitlines()))
    res = verify.verify(session, Emitter(stream=io.StringIO()), type("A", (), {"timeout": 5}))
    assert res["status"] == "failure" and res["kind"] == "kernel"
    assert res["summary"] == ("restore broke the guest: workload-alive: pid 7 is gone")
    assert verify.load(session)["counter"] == 3           # a failed verify records nothing
