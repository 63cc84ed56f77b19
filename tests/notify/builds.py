"""Reporter build dicts as ``getDetailsForBuild`` leaves them, for the fast notify tests."""
from buildbot.process.results import EXCEPTION, FAILURE, SUCCESS

PANIC = "panic: vm_fault: fault on nofault entry, addr: 0xdeadc000"
FRAMES = [f"#{i} 0xffffffff8{i}000000 in frame_{i}() at kern_{i}.c:{100 + i}"
          for i in range(8)]
CULPRIT = {"revision": "4f1c2d3e5a6b7c8d9e0f11223344556677889900", "author": "A. Hacker",
           "subject": "vm: lazy pmap teardown", "check": "cycle restore",
           "builder": "vkckpt-master", "url": "http://bb/#/builders/3/builds/7",
           "build": 7}


def build(results=FAILURE, number=12, builder="vkckpt-master", steps=(), **props):
    return {
        "buildid": 100 + number, "number": number, "builderid": 1, "results": results,
        "state_string": "failed", "builder": {"builderid": 1, "name": builder, "tags": []},
        "buildset": {"sourcestamps": [{"revision": "abc123", "branch": "master"}]},
        "steps": list(steps),
        "properties": {name: (value, "test") for name, value in props.items()},
    }


def step(name, results, state_string="", number=1):
    return {"name": name, "results": results, "state_string": state_string, "number": number}


def panic_build(**extra):
    return build(FAILURE, steps=[step("checkout", SUCCESS),
                                 step("cycle", FAILURE, "kernel: restore: " + PANIC, 2)],
                 vkckpt_outcome={"step": "cycle", "kind": "kernel",
                                 "cause": "cycle 2/3 restore: " + PANIC, "fix": None},
                 vkckpt_panic=PANIC, vkckpt_backtrace="\n".join(FRAMES),
                 vkckpt_cycles_ok=1, vkckpt_cycles_total=3, **extra)


def suite_build(**extra):
    return build(FAILURE, steps=[step("guest suite", FAILURE, "test: 2 failed")],
                 vkckpt_suite_failures=[{"test": "ckpt-pipe", "message": "pipe lost 3 bytes"},
                                        {"test": "ckpt-mmap", "message": "page differs"}],
                 vkckpt_suite_failed_tests=["ckpt-pipe", "ckpt-mmap", "ckpt-shm"],
                 vkckpt_flaky=[{"test": "ckpt-pipe", "verdict": "deterministic (3/3 failed)"},
                               {"test": "ckpt-signal", "verdict": "flaky (1/3 failed)"}],
                 **extra)


def exception_build():
    return build(EXCEPTION, steps=[step("preflight", EXCEPTION, "infrastructure: disk full")])
