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


SCENARIOS = {s.name: s for s in [
    Scenario("ok", "a clean build of world and the vkernel",
             expect={"checkout": "success", "buildworld": "success",
                     "buildkernel": "success"}),
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
]}
