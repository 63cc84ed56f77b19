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


# after a failure the session steps that always run must still succeed
CLEANUP_OK = {"shutdown": "success", "collect": "success"}

SCENARIOS = {s.name: s for s in [
    Scenario("ok", "build world and the vkernel, make the image, boot, run a guest command",
             expect={"checkout": "success", "preflight": "success", "buildworld": "success",
                     "buildkernel": "success", "root-image": "success", "boot": "success",
                     "guest-command": "success", **CLEANUP_OK}),
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
    Scenario("host-lost", "the SSH test host crashes while the vkernel boots",
             faults={"boot-hang": ""}, transport="ssh", crash_during="boot",
             expect={"boot": "failure", "guest-command": "skipped-or-absent",
                     "shutdown": "failure", "collect": "failure"},
             summary_mentions="host lost", build_result="failure"),
]}
