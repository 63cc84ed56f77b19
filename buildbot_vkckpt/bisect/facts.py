"""Read a build from the master's data API into :class:`~buildbot_vkckpt.bisect.check.BuildFacts`
and find the build before it: the only place bisection talks to the database."""
from buildbot.data import resultspec

from buildbot_vkckpt.bisect.check import BuildFacts, StepFacts

PASS_FAIL = "pass_fail"
ATTEMPTS = " attempts"


async def build_facts(master, buildid):
    """Steps (in order) with their results and the tests each recorded as failed."""
    steps = await master.data.get(("builds", buildid, "steps")) or []
    facts = []
    for step in sorted(steps, key=lambda s: s["number"]):
        failed = ()
        if step.get("results") not in (None, 0):
            failed = tuple(await _failed_tests(master, step["stepid"]))
        facts.append(StepFacts(step["name"], step.get("results"), failed))
    return BuildFacts(tuple(facts))


async def _failed_tests(master, stepid):
    names = []
    for rset in await master.data.get(("steps", stepid, "test_result_sets")) or []:
        # every attempt of a re-run check has its own set; the verdict set says what failed
        if rset.get("category") != PASS_FAIL or rset.get("description", "").endswith(ATTEMPTS):
            continue
        for result in await master.data.get(
                ("test_result_sets", rset["test_result_setid"], "results")) or []:
            if result.get("value") == "0" and result.get("test_name"):
                names.append(result["test_name"])
    return names


async def build_properties(master, buildid):
    """{name: value} of a build."""
    props = await master.data.get(("builds", buildid, "properties")) or {}
    return {name: value for name, (value, _source) in props.items()}


async def previous_build(master, builderid, number):
    """The newest finished build of ``builderid`` before build ``number``, or None."""
    builds = await master.data.get(
        ("builders", builderid, "builds"),
        filters=[resultspec.Filter("complete", "eq", [True]),
                 resultspec.Filter("number", "lt", [number])],
        order=["-number"], limit=1)
    return builds[0] if builds else None


async def build_of_request(master, brid):
    """The last build that ran for build request ``brid``, or None."""
    builds = await master.data.get(("buildrequests", brid, "builds")) or []
    return max(builds, key=lambda b: b["number"]) if builds else None


def build_url(master, builderid, number):
    return f"{master.config.buildbotURL}#/builders/{builderid}/builds/{number}"
