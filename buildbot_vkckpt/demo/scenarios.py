"""Demo scenarios: which faults the simulated host gets, and how each step must end."""
from dataclasses import dataclass, field
from typing import Dict


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    faults: Dict[str, str] = field(default_factory=dict)
    # step name -> expected result name; steps not listed must not be worse than SUCCESS
    expect: Dict[str, str] = field(default_factory=dict)
    # a word that must appear in the summary of the first step that did not succeed
    summary_mentions: str = ""
    build_result: str = "success"
    # "ssh": needs the vkernel steps on an SSH test host (vkckpt demo --transport ssh)
    transport: str = "worker"
    # name of a step during which the demo crashes the SSH test host (sshd and all it runs)
    crash_during: str = ""
    # ... once this text is in that step's console log (needed with crash_during): the vkernel
    # runs and its console reached the master (a crash at a fixed time races both on a loaded
    # machine)
    crash_after: str = ""
    # step name -> text its summary must contain (for steps that end SKIPPED, say)
    mentions: Dict[str, str] = field(default_factory=dict)
    # step name -> logs it must have
    logs: Dict[str, tuple] = field(default_factory=dict)
    # the simulated host's DragonFly flavour (docs/flavours.rst); "" = the demo's --flavour
    flavour: str = ""
    # "gsoc" or "stock": whether the host kernel can dump a vkernel; "" = the flavour's own
    host_kernel: str = ""
    # green builds run first without the faults: what the trends page compares the build with
    baseline_builds: int = 0


# after a failure the session steps that always run must still succeed
CLEANUP_OK = {"shutdown": "success", "collect": "success"}

SCENARIOS = {s.name: s for s in [
    Scenario("ok", "build world and the vkernel, make the image, boot, run a guest command, "
             "the guest checkpoint suite and 3 vkernel checkpoint/restore cycles",
             expect={"checkout": "success", "preflight": "success", "buildworld": "success",
                     "buildkernel": "success", "root-image": "success", "boot": "success",
                     "guest-command": "success", "guest-suite": "success",
                     "checkpoint-cycle": "success", **CLEANUP_OK},
             mentions={"checkpoint-cycle": "3/3 cycles ok"},
             logs={"checkpoint-cycle": ("cycle-report.html",)}),
    Scenario("world-fail", "buildworld fails in stage 4b (libraries)",
             faults={"world-fail": "4b"},
             expect={"buildworld": "failure", "buildkernel": "skipped-or-absent"},
             summary_mentions="stage 4b", build_result="failure"),
    Scenario("compile-error", "a compiler error in bin/ls/ls.c",
             faults={"compile-error": "bin/ls/ls.c"},
             expect={"buildworld": "failure"},
             summary_mentions="ls.c", build_result="failure"),
    Scenario("warning-storm", "buildworld succeeds with 500 compiler warnings",
             faults={"warning-storm": "500"},
             expect={"buildworld": "success", "buildkernel": "success"}),
    Scenario("kernel-fail", "the vkernel does not compile",
             faults={"kernel-fail": ""},
             expect={"buildworld": "success", "buildkernel": "failure"},
             summary_mentions="Error code", build_result="failure"),
    Scenario("vkernel-disabled", "the host has vm.vkernel_enable=0",
             faults={"vkernel-disabled": ""},
             expect={"preflight": "exception", "buildworld": "skipped-or-absent", **CLEANUP_OK},
             summary_mentions="vm.vkernel_enable", build_result="exception"),
    Scenario("no-vn-device", "every vn unit of the host is in use",
             faults={"no-vn-device": ""},
             expect={"preflight": "exception", "buildworld": "skipped-or-absent", **CLEANUP_OK},
             summary_mentions="vn", build_result="exception"),
    Scenario("boot-panic", "the kernel panics while booting",
             faults={"boot-panic": ""},
             expect={"boot": "failure", "guest-command": "skipped-or-absent", **CLEANUP_OK},
             summary_mentions="panic", build_result="failure"),
    Scenario("boot-hang", "the kernel stops printing while booting",
             faults={"boot-hang": ""},
             expect={"boot": "failure", "guest-command": "skipped-or-absent", **CLEANUP_OK},
             summary_mentions="timeout", build_result="failure"),
    Scenario("mountroot", "the root filesystem cannot be mounted",
             faults={"mountroot": ""},
             expect={"boot": "failure", "guest-command": "skipped-or-absent", **CLEANUP_OK},
             summary_mentions="mountroot", build_result="failure"),
    Scenario("guest-command-fails", "the guest command exits non-zero",
             faults={"guest-command-fails": "uname"},
             expect={"guest-command": "failure", **CLEANUP_OK},
             summary_mentions="exited", build_result="failure"),
    Scenario("panic-in-guest-command", "the kernel panics while the guest command runs",
             faults={"panic-in-guest-command": "uname"},
             expect={"guest-command": "failure", **CLEANUP_OK},
             summary_mentions="ddb trace captured", build_result="failure"),
    Scenario("disk-image-locked", "another process holds the root image lock",
             faults={"disk-image-locked": ""},
             expect={"boot": "exception", "guest-command": "skipped-or-absent", **CLEANUP_OK},
             summary_mentions="in use", build_result="exception"),
    Scenario("guest-test-fails", "the guest suite's memory test loses its state",
             faults={"guest-test-fails": "memory"},
             expect={"guest-suite": "failure", "checkpoint-cycle": "success", **CLEANUP_OK},
             mentions={"guest-suite": "failed: memory"}, build_result="failure"),
    Scenario("flaky-guest-test", "the guest suite's memory test fails on its first run only: "
             "re-run alone it passes twice, so the step calls it flaky, not a regression",
             faults={"guest-test-flaky": "memory"},
             expect={"guest-suite": "warnings", "checkpoint-cycle": "success", **CLEANUP_OK},
             mentions={"guest-suite": "memory: flaky (1/3 failed)"}, build_result="warnings"),
    Scenario("stock-vkernel", "DragonFly master as of 2020: the vkernel has no checkpoint "
             "handler, so the cycle is not tested",
             flavour="master2020",
             expect={"guest-suite": "success", "checkpoint-cycle": "warnings", **CLEANUP_OK},
             mentions={"checkpoint-cycle": "checkpoint NOT TESTED — the vkernel has no "
                                           "checkpoint handler"}, build_result="warnings"),
    Scenario("gsoc-on-stock-host", "a GSoC 2013 vkernel on a host whose kernel lacks the GSoC "
             "changes: it would write a file nobody can restore",
             flavour="gsoc2013", host_kernel="stock",
             expect={"checkpoint-cycle": "warnings", **CLEANUP_OK},
             mentions={"checkpoint-cycle": "host kernel has no vkernel checkpoint support"},
             build_result="warnings"),
    Scenario("ckpt-enospc", "the checkpoint file does not fit on the host's disk",
             faults={"ckpt-enospc": ""},
             expect={"checkpoint-cycle": "exception", **CLEANUP_OK},
             summary_mentions="No space left", build_result="exception"),
    Scenario("ckpt-rlimit-core", "the vkernel's RLIMIT_CORE is 0, checkpoints fail with ERANGE",
             faults={"ckpt-rlimit-core": ""},
             expect={"checkpoint-cycle": "exception", **CLEANUP_OK},
             summary_mentions="RLIMIT_CORE", build_result="exception"),
    Scenario("ckpt-corrupt", "the vkernel writes a damaged checkpoint file",
             faults={"ckpt-corrupt": ""},
             expect={"checkpoint-cycle": "failure", **CLEANUP_OK},
             mentions={"checkpoint-cycle": "checkpoint file invalid"}, build_result="failure",
             logs={"checkpoint-cycle": ("checkpoint-inspect",)}),
    Scenario("restore-thaw-fails", "checkpt -r cannot thaw the file",
             faults={"restore-thaw-fails": ""},
             expect={"checkpoint-cycle": "failure", **CLEANUP_OK},
             mentions={"checkpoint-cycle": "thaw failed error 22"}, build_result="failure",
             logs={"checkpoint-cycle": ("checkpoint-inspect",)}),
    Scenario("restore-panics", "the restored vkernel panics while it rebuilds its vmspaces",
             faults={"restore-panics": ""},
             expect={"checkpoint-cycle": "failure", **CLEANUP_OK},
             mentions={"checkpoint-cycle": "panic"}, build_result="failure",
             logs={"checkpoint-cycle": ("checkpoint-inspect", "backtrace")}),
    Scenario("restore-loses-process", "a guest process is gone after the restore",
             faults={"restore-loses-process": ""},
             expect={"checkpoint-cycle": "failure", **CLEANUP_OK},
             mentions={"checkpoint-cycle": "restore broke the guest"}, build_result="failure"),
    Scenario("restore-hangs", "the restored vkernel prints nothing after Restoring vmspaces...",
             faults={"restore-hangs": ""},
             expect={"checkpoint-cycle": "failure", **CLEANUP_OK},
             mentions={"checkpoint-cycle": "timeout"}, build_result="failure",
             logs={"checkpoint-cycle": ("checkpoint-inspect", "last-console-lines")}),
    # five times: a simulated restore takes tens of milliseconds, and the trends page counts
    # an increase only from 50 ms up (docs/dashboard.rst)
    Scenario("restore-slow", "every restore takes five times as long as the host's restores "
             "before it: after two green builds the trends page flags the build's restore "
             "time as slower than usual",
             faults={"restore-slow": "5"}, baseline_builds=2,
             expect={"checkpoint-cycle": "success", **CLEANUP_OK},
             mentions={"checkpoint-cycle": "3/3 cycles ok"}),
    Scenario("host-lost", "the SSH test host crashes while the vkernel boots",
             faults={"boot-hang": ""}, transport="ssh", crash_during="boot",
             crash_after="vkd0",
             expect={"boot": "failure", "guest-command": "skipped-or-absent",
                     "shutdown": "failure", "collect": "failure"},
             summary_mentions="host lost", build_result="failure"),
]}
