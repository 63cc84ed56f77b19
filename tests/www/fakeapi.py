"""A data API stand-in for the dashboard: answers from dicts shaped like Buildbot's, counts
every call."""
import itertools

from buildbot.data.base import ListResult

_ids = itertools.count(100)


class FakeApi:
    def __init__(self):
        self.answers = {}
        self.calls = []
        self.builders = []

    def dataGet(self, path, **spec):
        if not isinstance(path, tuple):
            path = tuple(path.strip("/").split("/"))
        key = tuple(str(p) for p in path)
        self.calls.append((key, spec))
        answer = self.answers.get(key)
        if isinstance(answer, Exception):
            raise answer
        if key[0] == "builders" and len(key) == 3 and key[2] == "builds":
            builds = sorted(answer or [], key=lambda b: b["number"], reverse=True)
            return ListResult([dict(b) for b in builds[:spec.get("limit") or None]])
        # the data API answers a collection with a ListResult, which is no list
        return ListResult(answer) if isinstance(answer, list) else answer

    # --- fixture building ---------------------------------------------------------------------
    def add_builder(self, name, builderid, tags=()):
        self.builders.append({"name": name, "builderid": builderid, "tags": list(tags)})
        self.answers[("builders",)] = self.builders
        self.answers[("builders", str(builderid), "builds")] = []

    def add_build(self, builderid, number, results=0, complete=True, revision=None,
                  state_string="finished", steps=(), sets=(), properties=None, changes=(),
                  logs=None, started_at=None):
        """``steps``: (name, results, summary); ``sets``: see :func:`cycle_sets`;
        ``changes``: change dicts; ``logs``: {step name: [log name, ...]}."""
        buildid = next(_ids)
        build = {"buildid": buildid, "builderid": builderid, "number": number,
                 "results": results if complete else None, "complete": complete,
                 "state_string": state_string, "started_at": started_at}
        self.answers[("builders", str(builderid), "builds")].append(build)
        step_dicts = []
        for i, (name, step_results, state) in enumerate(steps):
            step_dicts.append({"stepid": buildid * 100 + i, "number": i, "name": name,
                               "buildid": buildid, "results": step_results,
                               "state_string": state, "hidden": False,
                               "complete": step_results is not None})
        self.answers[("builds", str(buildid), "steps")] = step_dicts
        for step in step_dicts:
            self.answers[("steps", str(step["stepid"]), "logs")] = [
                {"logid": next(_ids), "stepid": step["stepid"], "name": name,
                 "slug": name.replace(" ", "_").replace(".", "_"), "type": "t"}
                for name in (logs or {}).get(step["name"], ())]
        self.answers[("builds", str(buildid), "changes")] = [
            {"changeid": next(_ids), **change} for change in changes]
        set_dicts = []
        for step_name, description, category, unit, values in sets:
            setid = next(_ids)
            stepid = next(s["stepid"] for s in step_dicts if s["name"] == step_name)
            passed = sum(1 for v in values.values() if v == "1")
            failed = sum(1 for v in values.values() if v == "0")
            set_dicts.append({"test_result_setid": setid, "buildid": buildid, "stepid": stepid,
                              "builderid": builderid, "description": description,
                              "category": category, "value_unit": unit,
                              "tests_passed": passed if category == "pass_fail" else None,
                              "tests_failed": failed if category == "pass_fail" else None,
                              "complete": True})
            self.answers[("test_result_sets", str(setid), "results")] = [
                {"test_resultid": next(_ids), "test_result_setid": setid, "test_name": name,
                 "value": value, "builderid": builderid}
                for name, value in values.items()]
        self.answers[("builds", str(buildid), "test_result_sets")] = set_dicts
        props = {"got_revision": (revision, "Git")} if revision else {}
        props.update(properties or {})
        self.answers[("builds", str(buildid), "properties")] = props
        return build


SUITE_OK = "9 passed, 0 failed, 6 xfail · 2 iterations"
SUITE_RED = "test: 8 passed, 1 failed, 6 xfail · 2 iterations · failed: memory"


def cycle_sets(ckpt, restore, console, sizes, checks=None):
    """The five sets of a checkpoint-cycle step; each argument is one value per cycle."""
    n = len(ckpt)
    checks = checks or {f"cycle {i}: {w}": "1" for i in range(1, n + 1)
                        for w in ("checkpoint", "restore", "workload-alive")}
    step = "checkpoint-cycle"
    per_cycle = (lambda values: {f"cycle {i}": v for i, v in enumerate(values, 1)})
    return [(step, "vkernel checkpoint cycle", "pass_fail", "boolean", checks),
            (step, "checkpoint time", "performance", "seconds", per_cycle(ckpt)),
            (step, "restore time", "performance", "seconds", per_cycle(restore)),
            (step, "time to responsive console", "performance", "seconds", per_cycle(console)),
            (step, "checkpoint file size", "binary_size", "bytes", per_cycle(sizes))]


def suite_set(failed=()):
    values = {name: "0" if name in failed else "1"
              for name in ("files", "fpu", "memory", "signals")}
    return [("guest-suite", "guest checkpoint suite", "pass_fail", "boolean", values)]


def step_properties(passed, failed, xfail, failed_tests=(), cycles_ok=None, cycles=None):
    """The properties GuestCheckpointSuite and VkernelCheckpointCycle set, as the data API
    gives them (value, source)."""
    counts = {"pass": passed, "fail": failed, "xfail": xfail, "xpass": 0, "skip": 0,
              "missing": 0}
    props = {"vkckpt_suite_counts": (counts, "guest-suite"),
             "vkckpt_suite_failed_tests": (list(failed_tests), "guest-suite")}
    if cycles is not None:
        props["vkckpt_cycles_ok"] = (cycles_ok, "checkpoint-cycle")
        props["vkckpt_cycles_total"] = (cycles, "checkpoint-cycle")
    return props


def standard_api():
    """Builder 7 with three builds: #1 green, #2 red in the suite (memory), #3 running."""
    api = FakeApi()
    api.add_builder("vkckpt-master", 7, tags=["vkckpt", "master"])
    api.add_builder("docs", 8)
    api.add_build(7, 1, revision="a" * 40, steps=[
        ("guest-suite", 0, SUITE_OK), ("checkpoint-cycle", 0, "2/2 cycles ok · ckpt 1.2 s")],
        sets=suite_set() + cycle_sets(["1.0", "1.4"], ["0.5", "0.7"], ["0.2", "0.4"],
                                      ["10485760", "12582912"]),
        properties=step_properties(9, 0, 6, cycles_ok=2, cycles=2))
    api.add_build(7, 2, results=2, revision="b" * 40, state_string="failed guest-suite",
                  steps=[("guest-suite", 2, SUITE_RED),
                         ("checkpoint-cycle", 0, "2/2 cycles ok · ckpt 2.0 s")],
                  sets=suite_set(failed=("memory",))
                  + cycle_sets(["2.0", "2.2"], ["0.9", "1.1"], ["0.3", "0.5"],
                               ["20971520", "20971520"]),
                  properties=step_properties(8, 1, 6, ["memory"], cycles_ok=2, cycles=2))
    api.add_build(7, 3, complete=False, revision="c" * 40, state_string="building",
                  steps=[("guest-suite", None, "running")])
    return api
