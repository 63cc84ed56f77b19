"""Console monitor: sample transcripts (written from reference/dragonfly.md), chunking, garbage."""
import random
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from buildbot_vkckpt.monitor.console import (
    FATAL_KINDS, STATES, ConsoleMonitor, Verdict, classify, is_fatal)
from buildbot_vkckpt.monitor.events import Event

from .chunking import every_boundary

SAMPLES = Path(__file__).parent / "samples"
BOOT = (SAMPLES / "console-boot-login.txt").read_bytes()
SHELL = b"root\n\n# "

PANIC_VM_FAULT = {"message": "vm_fault: fault on nofault entry, addr: 0xdeadc000", "trap": None}
VM_FAULT_TRACE = ["panic", "panic", "vm_fault", "trap_pfault", "trap", "calltrap"]

# sample name -> expected verdict fields, and event kinds that must appear in this order
EXPECTED = {
    "boot-login": (dict(state="booted", reached_login=True, panic=None, in_ddb=False,
                        backtrace=[], boot_failure=None, warnings=0, version=
                        "v5.9.0.625.gf875a-DEVELOPMENT", kernconf="VKERNEL64"),
                   ["version", "getty_banner", "login_prompt"]),
    "boot-login-crlf": (dict(state="booted", reached_login=True, kernconf="VKERNEL64"),
                        ["version", "getty_banner", "login_prompt"]),
    "panic-ddb": (dict(state="ddb", reached_login=True, panic=PANIC_VM_FAULT, in_ddb=True,
                       backtrace=VM_FAULT_TRACE, cpuid=1, debugger="panic",
                       stopped_at="Debugger+0x7c"),
                  ["panic", "trace_begin", "trace_frame", "debugger", "stopping_cpus",
                   "stopped_at", "ddb_prompt"]),
    "panic-wrapped": (dict(state="ddb", panic={
        "message": 'assertion "(m->flags & PG_BUSY) == 0" failed in vm_page_free_toq at '
                   "/usr/src/sys/vm/vm_page.c:2715", "trap": None},
        backtrace=["panic", "vm_page_free_toq", "vm_object_terminate"]),
        ["panic", "trace_begin", "ddb_prompt"]),
    "ddb-trace": (dict(state="ddb", in_ddb=True, panic=PANIC_VM_FAULT,
                       backtrace=VM_FAULT_TRACE),
                  ["panic", "ddb_prompt", "ddb_command", "trace_begin", "trace_frame",
                   "ddb_prompt"]),
    "fatal-trap": (dict(state="ddb", in_ddb=True, backtrace=[], stopped_at=
                        "vm_page_free_toq+0x23",
                        panic={"message": "page fault while in kernel mode", "trap": 12}),
                   ["fatal_trap", "stopping_cpus", "stopped_at", "ddb_prompt"]),
    "double-fault": (dict(state="ddb", panic={"message": "double fault", "trap": None},
                          backtrace=["panic", "dblfault_handler"]),
                     ["panic", "double_fault", "ddb_prompt"]),
    "login-double-fault": (dict(state="panic", reached_login=True, in_ddb=False,
                                panic={"message": "double fault", "trap": None}),
                           ["getty_banner", "login_prompt", "double_fault"]),
    "mountroot": (dict(state="boot_failed", reached_login=False, panic=None,
                       boot_failure="mountroot prompt"),
                  ["milestone", "mountroot_prompt", "boot_failure"]),
    "mountroot-eof": (dict(state="ddb", boot_failure="mountroot prompt", panic={
        "message": "vconsgetc: EOF on console", "trap": None}),
        ["mountroot_prompt", "boot_failure", "panic", "ddb_prompt"]),
    "loader-cant-find": (dict(state="boot_failed", boot_failure="loader: kernel not found",
                              reached_login=False),
                         ["loader_prompt", "boot_failure"]),
    "halt-sigterm": (dict(state="halted", reached_login=True, panic=None),
                     ["login_prompt", "milestone", "syncing", "halted", "cpu_halt"]),
    "reboot": (dict(state="booted", reached_login=True, panic=None),
               ["login_prompt", "syncing", "rebooting", "cpu_reset", "version",
                "login_prompt"]),
    "panic-continue-reboot": (dict(state="panic", in_ddb=False, panic=PANIC_VM_FAULT),
                              ["panic", "ddb_prompt", "ddb_command", "rebooting", "cpu_reset",
                               "version", "login_prompt"]),
    "stall": (dict(state="hung", reached_login=True, panic=None,
                   stall="vkd1: I/O error reading block 8192"),
              ["login_prompt", "stall"]),
    "vkernel-disabled": (dict(state="vkernel_error", vkernel_error="vkernel: vm.vkernel_enable "
                              "is 0, must be set to 1 to execute a vkernel!"),
                         ["vkernel_error"]),
    "vkernel-full-path": (dict(state="vkernel_error"), ["vkernel_error"]),
    "vkernel-bad-maxmem": (dict(state="vkernel_error"), ["vkernel_error"]),
    "vkernel-disk-in-use": (dict(state="vkernel_error", vkernel_error=
                                 "Disk image /var/vkernel/root.img is already in use"),
                            ["milestone", "vkernel_error"]),
    "vkernel-pidfile": (dict(state="vkernel_error"), ["vkernel_error"]),
    "ckpt-continue": (dict(state="booted", checkpoint="continue_unsupported"),
                      ["login_prompt", "ckpt_continue_unsupported"]),
    "ckpt-save-failed": (dict(checkpoint="save_failed"), ["ckpt_save_failed"]),
    "ckpt-restored": (dict(state="booted", checkpoint="restored"), ["restoring", "restored"]),
    "thaw-failed": (dict(state="incomplete", checkpoint="thaw_failed"), ["thaw_failed"]),
    "syslog-not-prompt": (dict(state="booted", panic=None, warnings=0), ["login_prompt"]),
    "sigquit-ddb": (dict(state="ddb", panic=None, in_ddb=True,
                         debugger="interrupt from console"),
                    ["caught_signal", "debugger", "stopped_at", "ddb_prompt"]),
    "prompt-then-panic": (dict(state="ddb", panic=PANIC_VM_FAULT), ["panic", "ddb_prompt"]),
    "kernel-warnings": (dict(state="booted", warnings=1),
                        ["kernel_warning", "login_prompt", "process_signal"]),
}


def run(data, chunks=None, **kw):
    """(events, verdict) after feeding ``data`` cut at ``chunks`` (a list of cut offsets)."""
    mon = ConsoleMonitor(**kw)
    events, last = [], 0
    for cut in (chunks or []) + [len(data)]:
        events += mon.feed(data[last:cut])
        last = cut
    events += mon.close()
    return events, mon.verdict()


def kinds(events):
    return [e.kind for e in events]


def is_subsequence(wanted, seq):
    it = iter(seq)
    return all(any(k == w for k in it) for w in wanted)


def test_every_sample_has_expectations():
    names = {p.name[len("console-"):-len(".txt")] for p in SAMPLES.glob("console-*.txt")}
    assert names == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_verdict_and_events(name):
    data = (SAMPLES / f"console-{name}.txt").read_bytes()
    fields, order = EXPECTED[name]
    events, verdict = run(data)
    for key, value in fields.items():
        assert getattr(verdict, key) == value, key
    assert verdict.state in STATES
    assert is_subsequence(order, kinds(events)), kinds(events)
    assert verdict == classify(data)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_chunking_independent(name):
    data = (SAMPLES / f"console-{name}.txt").read_bytes()
    whole = run(data)
    assert run(data, list(range(1, len(data)))) == whole          # 1-byte chunks
    for cuts in every_boundary(len(data)):                        # every offset a boundary
        assert run(data, cuts) == whole, cuts


@pytest.mark.parametrize("name", ["panic-ddb", "fatal-trap", "halt-sigterm", "mountroot"])
def test_crlf_and_lf_agree(name):
    data = (SAMPLES / f"console-{name}.txt").read_bytes()
    lf, crlf = run(data)[1], run(data.replace(b"\n", b"\r\n"))[1]
    assert (lf.state, lf.panic, lf.backtrace, lf.boot_failure) == \
           (crlf.state, crlf.panic, crlf.backtrace, crlf.boot_failure)


# --- prompts -------------------------------------------------------------------------------
@pytest.mark.parametrize("prompt,kind", [(b"login: ", "login_prompt"), (b"db> ", "ddb_prompt"),
                                         (b"mountroot> ", "mountroot_prompt")])
def test_prompt_without_newline_is_seen_in_the_same_feed(prompt, kind):
    mon = ConsoleMonitor()
    assert mon.feed(b"some output\n") == []
    events = mon.feed(b"\n" + prompt)
    assert [e.kind for e in events if e.kind.endswith("prompt")] == [kind]
    assert events[-1].offset == len(b"some output\n\n") and events[-1].line == 3


def test_prompt_split_over_feeds_fires_once_when_complete():
    mon = ConsoleMonitor()
    assert mon.feed(b"log") == [] and mon.feed(b"in:") == []
    assert kinds(mon.feed(b" ")) == ["login_prompt"]
    assert mon.feed(b"root\n") == []


def test_shell_prompt_is_configurable_and_set_later():
    mon = ConsoleMonitor()
    assert mon.feed(b"vk-7f3a$ ") == []
    mon.set_shell_prompt("vk-7f3a$ ")
    # the prompt already on screen counts once more bytes arrive, then the next one
    assert kinds(mon.feed(b"\nvk-7f3a$ ")) == ["shell_prompt", "shell_prompt"]
    assert mon.verdict().state == "booted"


def test_loader_ok_prompt_only_before_a_kernel_started():
    assert "loader_prompt" in kinds(run(b"can't load 'kernel'\nOK ")[0])
    assert run(b"can't load 'kernel'\nOK ")[1].boot_failure == "loader: can't load kernel"
    assert "loader_prompt" not in kinds(run(BOOT + b"root\nOK 3 tests passed\n")[0])


def test_syslog_root_login_is_not_a_prompt():
    events, verdict = run(b"host login: ROOT LOGIN (root) ON ttyv0\n"
                          b"Jul 24 10:00:01 vkernel login: ROOT LOGIN (root) ON ttyv0\n")
    assert events == [] and not verdict.reached_login and verdict.state == "incomplete"


def test_login_prompt_then_crash_on_the_same_line():
    events, verdict = run(b"login: DOUBLE FAULT\n")
    assert kinds(events) == ["login_prompt", "double_fault"]
    assert verdict.reached_login and verdict.panic["message"] == "double fault"
    events, verdict = run(b"login: panic: vconsgetc: EOF on console\ncpuid = 0\n")
    assert kinds(events) == ["login_prompt", "panic"]
    assert verdict.panic["message"] == "vconsgetc: EOF on console"


def test_panic_after_configured_shell_prompt_is_immediate():
    mon = ConsoleMonitor(shell_prompt="vk$ ")
    mon.feed(b"vk$ ")
    assert kinds(mon.feed(b"panic: lockmgr: locking against myself\n")) == ["panic"]


# --- userland is not the kernel ------------------------------------------------------------
@pytest.mark.parametrize("line", [
    b"echo panic: test", b"this is no panic: really", b"warning: userland tool",
    b"Jul 24 10:00:01 vkernel kernel: panic: old crash",
    b"kernel: Fatal trap 12: page fault while in kernel mode",
    b"cc: warning: -O9 ignored", b"grep 'db> ' notes.txt", b"Panic! at the disco",
])
def test_userland_mentions_are_not_kernel_events(line):
    events, verdict = run(BOOT + SHELL + line + b"\nnext line\n")
    assert verdict.panic is None and verdict.warnings == 0 and verdict.state == "booted"
    assert not any(is_fatal(e) for e in events)


@pytest.mark.parametrize("line, message", [
    (b"tap-1: ioctl(SIOCAIFADDR) failed: Device not configured",
     "tap-1: ioctl(SIOCAIFADDR) failed: Device not configured"),
    # the handler's warn(3): behind the program name, which may be a path
    (b"kernel.debug: Couldn't reinitialize network interface",
     "Couldn't reinitialize network interface"),
    (b"/var/vkernel/boot/kernel/kernel: Couldn't reopen device file: No such file or directory",
     "Couldn't reopen device file: No such file or directory"),
])
def test_network_restore_errors_with_or_without_program_name(line, message):
    events, _ = run(b"Restoring vmspaces...\n" + line + b"\nRestored from checkpoint...\n")
    netif = [e for e in events if e.kind == "restore_netif_failed"]
    assert [e.data["message"] for e in netif] == [message]


def test_mid_line_panic_counts_when_the_kernel_confirms_it():
    events, verdict = run(BOOT + b"foo bar panic: spinlock held too long\ncpuid = 1\n")
    assert verdict.panic == {"message": "spinlock held too long", "trap": None}
    panic = [e for e in events if e.kind == "panic"][0]
    assert panic.line == BOOT.count(b"\n") + 1


def test_kernel_warning_at_line_start_counts():
    assert run(b"WARNING: / was not properly dismounted\n")[1].warnings == 1


# --- crash details -------------------------------------------------------------------------
def test_fatal_trap_event_carries_its_register_block():
    data = (SAMPLES / "console-fatal-trap.txt").read_bytes()
    trap = [e for e in run(data)[0] if e.kind == "fatal_trap"][0]
    assert trap.data == {"trap": 12, "message": "page fault while in kernel mode",
                         "mode": "kernel", "fault_address": "0x28", "process": "812 (crashme)"}
    assert trap.text.startswith("Fatal trap 12")


def test_panic_event_emitted_when_its_line_ends():
    mon = ConsoleMonitor()
    mon.feed(BOOT + b"\n")
    assert mon.feed(b"panic: bad") == []
    events = mon.feed(b" thing\n")
    assert kinds(events) == ["panic"] and events[0].data["message"] == "bad thing"
    assert is_fatal(events[0])


def test_ddb_continue_leaves_ddb():
    mon = ConsoleMonitor()
    mon.feed((SAMPLES / "console-sigquit-ddb.txt").read_bytes())
    assert mon.verdict().in_ddb
    mon.feed(b"c\n")
    assert not mon.verdict().in_ddb and mon.verdict().state == "booted"


def test_panic_block_and_tail():
    mon = ConsoleMonitor()
    mon.feed((SAMPLES / "console-panic-ddb.txt").read_bytes())
    verdict = mon.verdict()
    assert verdict.panic_block[0].startswith("panic: vm_fault")
    assert verdict.panic_block[-1].startswith("Stopped at")
    assert mon.tail(2) == [" stopped", "Stopped at\tDebugger+0x7c:\tmovb\t$0,0xbcbd59(%rip)"]
    assert mon.tail(0) == []


def test_checkpoint_messages():
    events, verdict = run(b"checkpt: thaw failed error 5 Input/output error\n")
    assert events[0].kind == "thaw_failed"
    assert events[0].data == {"errno": 5, "message": "Input/output error"}
    events, _ = run(b"vkernel: Couldn't save checkpoint file: No space left on device\n")
    assert events[0].data == {"error": "No space left on device"}



def test_host_kernel_checkpoint_lines_are_not_console_events():
    """kprintf/syslog lines of the *host* kernel never reach a vkernel's console (§23)."""
    events, verdict = run(b"pid 77 (sleeper), uid 0: checkpointing to /tmp/sleeper.ckpt\n"
                          b"checkpoint failed with open - error: 13\n")
    assert kinds(events) == [] and verdict.state != "vkernel_error"
    events, _ = run(b"pid 77 (sleeper), uid 0: exited on signal 11 (core dumped)\n")
    assert kinds(events) == ["process_signal"] and events[0].data["core"] is True


def test_vkernel_usage_and_prefixed_errors():
    for line in (b"Usage: ./vkernel [-hsUvdt] [-c file] [-e name=value:name=value:...]",
                 # the GSoC 2013 binary's usage and its getopt error for a missing -d (§23)
                 b"Usage: /obj/kernel.debug [-hsUv] [-c file] [-e name=value:name=value:...]",
                 b"/obj/sys/VKERNEL64/kernel.debug: illegal option -- d",
                 b"/var/vkernel/boot/kernel/kernel: Bad ncpus, valid range is 1-256",
                 b"vkernel: tap9 is not a tap(4) device or socket"):
        assert run(line + b"\n")[1].state == "vkernel_error", line


def test_one_failed_root_candidate_is_not_a_failed_boot():
    data = BOOT.replace(b"Mounting root from ufs:vkd0s1a\n",
                        b"Mounting root from ufs:vkd0s0a\nRoot mount failed: 6\n"
                        b"Mounting root from ufs:vkd0s1a\n")
    verdict = run(data)[1]
    assert verdict.state == "booted" and verdict.boot_failure is None


def test_stall_needs_configured_repeats_and_ends_with_progress():
    line = b"swap_pager: out of swap space\n"
    assert run(line * 4, stall_repeats=5)[1].state == "incomplete"
    events, verdict = run(line * 5, stall_repeats=5)
    assert kinds(events) == ["stall"] and verdict.state == "hung"
    assert run(line * 5 + b"something else\n", stall_repeats=5)[1].state == "incomplete"
    assert run(b"login: \n" * 50, stall_repeats=5)[1].state == "booted"   # prompts are progress


def test_halt_after_boot_then_reboot():
    halt = (SAMPLES / "console-halt-sigterm.txt").read_bytes()
    assert run(halt)[1].state == "halted"
    assert run(halt + BOOT)[1].state == "booted"


def test_verdict_json_contract():
    out = classify((SAMPLES / "console-fatal-trap.txt").read_bytes()).to_json()
    for key, kind in [("state", str), ("reached_login", bool), ("in_ddb", bool),
                      ("backtrace", list), ("warnings", int)]:
        assert isinstance(out[key], kind)
    assert out["kind"] == "console" and out["panic"] == {"message":
                                                         "page fault while in kernel mode",
                                                         "trap": 12}
    assert isinstance(Verdict().to_json(), dict)


def test_is_fatal():
    assert is_fatal(Event("panic", 0, 1)) and is_fatal(Event("ddb_prompt", 0, 1))
    assert not is_fatal(Event("login_prompt", 0, 1)) and not is_fatal(Event("milestone", 0, 1))
    assert {"fatal_trap", "double_fault", "boot_failure", "vkernel_error"} <= FATAL_KINDS


def test_close_is_final_and_reads_partial_line():
    mon = ConsoleMonitor()
    mon.feed(b"DragonFly v5.8.1-RELEASE #1: today")
    assert kinds(mon.close()) == ["version"]
    assert mon.close() == [] and mon.feed(b"panic: late\n") == []
    assert mon.verdict().version == "v5.8.1-RELEASE"


def test_seconds_since_output_uses_the_clock():
    now = [100.0]
    mon = ConsoleMonitor(clock=lambda: now[0])
    mon.feed(b"x")
    now[0] = 107.5
    assert mon.seconds_since_output() == 7.5


# --- garbage -------------------------------------------------------------------------------
def test_escapes_nul_and_bad_utf8_are_tolerated():
    data = (b"\x1b[H\x1b[2J\x00\r\n\r\nDragonFly/x86_64 (vk) (ttyv0)\r\n\r\n"
            b"\x1b[1mlog\x1b[0min: ")
    events, verdict = run(data)
    assert kinds(events) == ["getty_banner", "login_prompt"] and verdict.state == "booted"
    events, verdict = run(b"\xff\xfe panic\xc3\n" + b"panic: caf\xc3\xa9 \xff\n")
    assert verdict.panic["message"] == "caf\u00e9 \ufffd"
    assert run(b"\x1b]0;title\x07login: ")[1].reached_login


def test_escape_cut_by_a_chunk_boundary():
    data = b"\x1b[1mdb> "
    assert all(run(data, [i])[0] == run(data)[0] for i in range(len(data)))
    assert kinds(run(data)[0]) == ["ddb_prompt"]


def test_megabyte_line_is_truncated_and_counted():
    mon = ConsoleMonitor(max_line_bytes=4096)
    mon.feed(b"panic: " + b"x" * 3_000_000 + b"\n")
    verdict = mon.verdict()
    assert verdict.bytes == 3_000_008 and verdict.lines == 1
    assert verdict.panic["message"].startswith("xxx") and len(verdict.panic["message"]) <= 512


def test_50mb_single_line_memory_is_bounded():
    block = b"a" * (1 << 20)
    mon = ConsoleMonitor()
    tracemalloc.start()
    try:
        for _ in range(50):
            mon.feed(block)
        mon.feed(b"\npanic: after the long line\n")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024 * 1024, peak
    assert mon.verdict().panic["message"] == "after the long line"
    assert mon.verdict().bytes == 50 * (1 << 20) + len(b"\npanic: after the long line\n")


def test_time_is_linear_in_input_size():
    unit = (SAMPLES / "console-ddb-trace.txt").read_bytes() + b"\nuser output line\n" * 50

    def cost(times):
        # this process's CPU time: wall time also counts the other test workers' turns
        data = unit * times
        start = time.process_time()
        mon = ConsoleMonitor()
        for i in range(0, len(data), 4096):
            mon.feed(data[i:i + 4096])
        return time.process_time() - start

    cost(5)
    small, large = min(cost(20) for _ in range(3)), min(cost(160) for _ in range(3))
    assert large < small * 8 * 2.5, (small, large)   # 8x the input, well under 20x the time


# --- property tests ------------------------------------------------------------------------
_SAMPLE_DATA = [p.read_bytes() for p in sorted(SAMPLES.glob("console-*.txt"))]
_TOKENS = [b"\n", b"\r\n", b"panic: x", b"login: ", b"db> ", b"cpuid = 0", b"\x1b[", b"\x00",
           b"Fatal trap 12: page fault while in kernel mode", b"Trace beginning at frame 0",
           b"f() at f+0x1 0x1", b"DOUBLE FAULT", b"OK ", b"mountroot> ", b"\xff", b"# "]


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(_SAMPLE_DATA)))
    for _ in range(draw(st.integers(0, 8))):
        pos = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["insert", "delete", "token"]))
        if op == "insert":
            data[pos:pos] = draw(st.binary(max_size=20))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 40))]
        else:
            data[pos:pos] = draw(st.sampled_from(_TOKENS))
    return bytes(data)


def _cuts(draw_list, size):
    return sorted({c % (size + 1) for c in draw_list})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(st.binary(max_size=600),
                      st.lists(st.sampled_from(_TOKENS), max_size=40).map(b"".join),
                      mutated()),
       cuts=st.lists(st.integers(0, 10_000), max_size=12),
       prompt=st.sampled_from([None, "# ", "vk$ "]))
def test_property_no_exception_and_chunking_independent(data, cuts, prompt):
    whole = run(data, shell_prompt=prompt)
    assert run(data, _cuts(cuts, len(data)), shell_prompt=prompt) == whole
    assert whole[1].state in STATES
    for event in whole[0]:
        assert 0 <= event.offset <= len(data) and event.line >= 1


@settings(max_examples=15, deadline=None)
@given(data=mutated(), seed=st.integers(0, 2**32))
def test_property_random_small_chunks(data, seed):
    rnd = random.Random(seed)
    cuts, pos = [], 0
    while pos < len(data):
        pos += rnd.randint(1, 7)
        cuts.append(min(pos, len(data)))
    assert run(data, cuts) == run(data)


# --- the pattern table stays consistent ----------------------------------------------------
TRIGGER_EXAMPLES = {
    "panic": b"panic: x", "cpuid": b"cpuid = 0", "trace": b"Trace beginning at frame 0x1",
    "debugger": b'Debugger("panic")', "stopping": b"CPU0 stopping CPUs: 0x1",
    "stopped_at": b"Stopped at\tDebugger+0x7c:", "fatal_trap": b"Fatal trap 9: x",
    "double_fault": b"Fatal double fault", "caught": b"CAUGHT SIG 3 RIP 0x1",
    "vmm": b"VMM is available", "kvm": b"KVM mapped at 0x1-0x2", "tap": b"TAP UNIT 0",
    "copyright": b"Copyright (c) 2003-2020 The DragonFly Project.",
    "version": b"DragonFly v5.8.1-RELEASE #1", "memory": b"avail memory = 1 (1K bytes)",
    "mp": b"DragonFly/MP: Multiprocessor", "getty": b"DragonFly/x86_64 (h) (ttyv0)",
    "cpu": b" cpu1 (AP)", "disk": b"vkd0: COW disk", "network": b"vke0: MAC address",
    "mounting": b"Mounting root from ufs:vkd0s1a",
    "manual_root": b"Manual root filesystem specification:", "rootfail": b"can't find rootvp",
    "syncing": b"syncing disks... done", "halted": b"The operating system has halted.",
    "cpu_halt": b"cpu halt, exiting vkernel", "rebooting": b"Rebooting...",
    "cpu_reset": b"cpu reset, rebooting vkernel",
    "sigterm": b"Caught SIGTERM from host system. Shutting down...",
    "autoreboot": b"Automatic reboot in 15 seconds", "nodumps": b"vkernels don't support dumps",
    "ckpt_cont": b"Checkpointing and continuing is not supported. Use SIGCKPTEXIT instead.",
    "restoring": b"Restoring vmspaces...", "restored": b"Restored from checkpoint...",
    "thaw_unknown": b"Unknown error restoring checkpoint", "procmsg": b"pid 1 (a), uid 0: exited on signal 6",
    "warning": b"lock order reversal", "netif": b"tap-1: ioctl(SIOCAIFADDR) failed",
    "usage": b"Usage: vkernel [-hsUvdt] [-c file]", "unprefixed": b"Bad ncpus",
}


def test_every_kernel_pattern_has_an_example_that_passes_the_first_byte_filter():
    from buildbot_vkckpt.monitor import console
    assert set(TRIGGER_EXAMPLES) == set(console._TRIGGER.groupindex)
    for name, line in TRIGGER_EXAMPLES.items():
        assert console._TRIGGER.match(line).lastgroup == name, name
        assert line[:1] in console._TRIGGER_FIRST, name


# --- the transcript and root's first shell, for readers that split nothing themselves -------
def _kinds(events, *kinds):
    return [e for e in events if e.kind in kinds]


def test_line_events_carry_whole_cleaned_lines_in_order_only_when_asked():
    long = "x" * 3000
    data = f"\x1b[1mbold\x1b[0m line\r\npanic: boom\r\n{long}\npart".encode()
    m = ConsoleMonitor(lines=True)
    events = m.feed(data)
    lines = [e.data["line"] for e in _kinds(events, "line")]
    assert lines == ["bold line", "panic: boom", long]       # beyond Event.text's 512 chars
    kinds = [e.kind for e in events]
    assert kinds.index("panic") > kinds.index("line") + 1    # a line comes before its events
    assert m.partial_text() == "part"
    assert not _kinds(ConsoleMonitor().feed(data), "line")


def test_line_events_do_not_depend_on_chunking():
    data = b"one\r\ntwo\nthree\n"
    whole = [e.data["line"] for e in ConsoleMonitor(lines=True).feed(data)]
    m = ConsoleMonitor(lines=True)
    cut = [e.data["line"] for i in range(len(data)) for e in m.feed(data[i:i + 1])]
    assert whole == cut == ["one", "two", "three"]


@pytest.mark.parametrize("prompt", ["vkernel# ", "# ", "root@vkernel:~ $ ", "% "])
def test_unknown_prompt_once_per_line_until_a_shell_prompt_is_set(prompt):
    m = ConsoleMonitor(guess_prompts=True)
    head, tail = prompt[:-2], prompt[-2:]
    assert not _kinds(m.feed(head.encode()), "unknown_prompt")
    found = _kinds(m.feed(tail.encode()), "unknown_prompt")
    assert [e.data["prompt"] for e in found] == [prompt.rstrip()]
    assert not _kinds(m.feed(b""), "unknown_prompt")
    assert _kinds(m.feed(b"ls\n" + prompt.encode()), "unknown_prompt")   # the next line's
    m.set_shell_prompt("vkp$ ")
    assert not _kinds(m.feed(b"\n" + prompt.encode()), "unknown_prompt")


@pytest.mark.parametrize("text", [b"login: ", b"db> ", b"vkernel#", b"x" * 200 + b"# ",
                                  b"100% done\n"])
def test_what_is_not_an_unknown_prompt(text):
    assert not _kinds(ConsoleMonitor(guess_prompts=True).feed(text), "unknown_prompt")


def test_drop_partial_forgets_the_old_terminals_unfinished_line():
    m = ConsoleMonitor(lines=True, guess_prompts=True)
    m.feed(b"Restoring vmspaces...")
    m.drop_partial()
    assert m.partial_text() == ""
    events = m.feed(b"Restored from checkpoint\n# ")
    assert [e.data["line"] for e in _kinds(events, "line")] == ["Restored from checkpoint"]
    assert _kinds(events, "unknown_prompt")


def test_a_mangled_fatal_trap_line_before_cpuid_is_no_trap_and_no_crash():
    # found by the property test: "Fatal trap " without its number, then a cpuid line
    data = (b"# ./crashme\nFatal trap  12: page fault while in kernel mode\n"
            b"cpuid = 0; lapic->id = 00000000\nx Fatal trap 12: page fault while in kernel "
            b"mode\ncpuid = 1; lapic->id = 00000001\n")
    traps = [e for e in run(data)[0] if e.kind == "fatal_trap"]
    assert [t.data["trap"] for t in traps] == [12]
