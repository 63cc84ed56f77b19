"""BuildWorld/BuildKernel's two log modes side by side on a real Buildbot master and worker,
against the simulated DragonFly host: ``log_mode="digest"`` must report exactly what stock
streaming (``log_mode="full"``) reports — results, summaries, properties, test results, the
``errors`` excerpt — while its live log holds only the digest and the whole output reaches the
master as one gzip file."""
import gzip
import json
import re
import urllib.error
import urllib.request

import pytest

from buildbot_vkckpt.demo.localbb import LocalBuildbot
from buildbot_vkckpt.monitor.buildlog import BuildLogMonitor
from buildbot_vkckpt.simhost import tree
from buildbot_vkckpt.simhost.host import SimHost

pytestmark = pytest.mark.integration

NOTE = re.compile(r"\[\.\.\. [\d,]+ more lines in the full log \.\.\.\]\Z")
# each mode's builder; names of one length, since a builder's directory on the worker is part of
# the compiler messages the steps clip, and both must clip at the same character
BUILDER = {"digest": "digest", "full": "stream"}
WORKDIRS = re.compile(r"/worker-vkckpt-worker/(digest|stream)/")


def master_body(host):
    objdir = str(host.obj)
    builders = []
    for mode, name in BUILDER.items():
        builders.append(f"""
f = util.BuildFactory()
f.addStep(steps.Git(repourl={f"file://{host.src}"!r}, branch="master", mode="incremental",
                    name="checkout", haltOnFailure=True))
f.addStep(BuildWorld(jobs=2, objdir={objdir!r}, log_mode={mode!r}, haltOnFailure=True))
f.addStep(BuildKernel(jobs=2, objdir={objdir!r}, log_mode={mode!r}, haltOnFailure=True))
c['builders'].append(util.BuilderConfig(name={name!r}, workernames=['vkckpt-worker'],
                                        factory=f))
""")
    return ("from buildbot_vkckpt.steps import BuildWorld, BuildKernel\n"
            "from buildbot_vkckpt.fulllogs import add_full_logs\n"
            "add_full_logs(c)\n"
            + "".join(builders)
            + "c['schedulers'].append(schedulers.ForceScheduler(name='force', "
              f"builderNames={sorted(BUILDER.values())!r}))\n")


@pytest.fixture(scope="module")
def bb(tmp_path_factory):
    base = tmp_path_factory.mktemp("logmode")
    host = SimHost(base / "host")
    host.create()
    tree.create_source_tree(host)
    env = host.env()
    env["VKCKPT_SIM_SPEED"] = "20"
    master = LocalBuildbot(base / "bb", worker_env=env)
    master.create(master_body(host))
    master.start()
    master.host = host
    try:
        yield master
    finally:
        assert master.stop() == []


def stdout_of(bb, logid):
    """The stdout lines of a stdio log (its contents carry a channel letter per line)."""
    chunks = bb.get(f"logs/{logid}/contents")["logchunks"]
    lines = "".join(c["content"] for c in chunks).splitlines()
    return "\n".join(line[1:] for line in lines if line[:1] == "o") + "\n"


def run_build(bb, builder):
    build = bb.wait_build(bb.force(builder), timeout=240)
    steps = {s["name"]: s for s in bb.steps(build["buildid"])}
    props = bb.properties(build["buildid"])
    out = {"build": build["results"], "props": props, "steps": {}}
    for name in ("buildworld", "buildkernel"):
        step = steps.get(name)
        if step is None:
            continue
        logs = {log["name"]: log for log in bb.logs(step["stepid"])}
        results = {}
        for ts in bb.test_result_sets(step["stepid"]):
            rows = bb.test_results(ts["test_result_setid"])
            if ts["category"] == "performance":        # durations: when lines reached the master
                rows = [r["test_name"] for r in rows]
            else:
                rows = [(r["test_name"], r["value"], r["test_code_path"], r["line"])
                        for r in rows]
            results[ts["description"]] = rows
        out["steps"][name] = {
            "results": step["results"], "state_string": step["state_string"],
            "urls": step["urls"], "logs": logs, "test_results": results,
            "errors": bb.log_text(logs["errors"]["logid"]) if "errors" in logs else None,
            "stdio": stdout_of(bb, logs["stdio"]["logid"]),
        }
    return out


def up_to_first_error(errors):
    """The ``errors`` log up to the first error's own line. What follows it may differ between
    the modes when make writes to stdout and stderr: stock streaming reads them on two pipes and
    interleaves them as they reach the worker; the digest runner reads make's one pipe, in
    make's own order."""
    if errors is None:
        return None
    lines = errors.splitlines()
    message = lines[0].split(": ", 1)[1]
    cut = max(i for i, line in enumerate(lines) if message in line)
    return "\n".join(lines[:cut + 1])


def comparable(run):
    props = {k: v for k, v in run["props"].items()
             if k.startswith("vkckpt_") and not k.endswith("_full_log")}
    props = {k: sorted(v) if k.endswith("_stage_durations") else v for k, v in props.items()}
    steps = {name: {k: s[k] for k in ("results", "state_string", "test_results")}
             for name, s in run["steps"].items()}
    for name, step in run["steps"].items():
        steps[name]["errors"] = up_to_first_error(step["errors"])
    # each builder has its own directory on the worker, hence its own source paths
    text = json.dumps([run["build"], props, steps], indent=1, sort_keys=True)
    return WORKDIRS.sub("/worker-vkckpt-worker/B/", text)


def check_digest(bb, run, kind, name):
    step = run["steps"][name]
    path = run["props"][f"vkckpt_{kind}_full_log"]
    assert path.endswith(f"/artifacts/digest/{run['number']}/{name}.log.gz")
    with gzip.open(path, "rt", errors="replace") as f:
        whole = f.read()
    assert "full-log" in step["logs"] and path in bb.log_text(step["logs"]["full-log"]["logid"])
    # one click away: the step links the file, served by add_full_logs' page as text
    (link,) = [u["url"] for u in step["urls"]]
    assert link == (f"{bb.url}plugins/wsgi_dashboards/vkckpt-logs/digest/{run['number']}/"
                    f"{name}.log.gz")
    with urllib.request.urlopen(link, timeout=30) as resp:
        assert resp.headers["Content-Encoding"] == "gzip"
        assert resp.headers["Content-Type"].startswith("text/plain")
        served = resp.read()
    with open(path, "rb") as f:
        assert served == f.read()
    live = [line for line in step["stdio"].splitlines()
            if not line.startswith("vkckpt-makelog:") and not NOTE.match(line)]
    # every line of the live log is a line of the whole output, in the same order
    lines = iter(whole.splitlines())
    for line in live:
        assert line in lines, line
    # and the first-error excerpt is the one of the whole output, context after it included
    monitor = BuildLogMonitor()
    monitor.feed(whole.encode())
    monitor.close()
    first = monitor.report().first_error
    if first is None:
        assert step["errors"] is None
    else:
        excerpt = step["errors"].split("\n\n", 1)[1]
        assert excerpt == "\n".join(first["context"]) + "\n"
    return whole


@pytest.mark.parametrize("faults", [{}, {"world-fail": "4b"}, {"compile-error": "bin/ls/ls.c"},
                                    {"warning-storm": "300"}, {"kernel-fail": ""}],
                         ids=["ok", "world-fail", "compile-error", "warning-storm",
                              "kernel-fail"])
def test_digest_reports_what_full_streaming_reports(bb, faults):
    bb.host.set_faults(faults)
    runs = {}
    for mode in ("full", "digest"):
        runs[mode] = run_build(bb, BUILDER[mode])
        runs[mode]["number"] = bb.builds(BUILDER[mode])[-1]["number"]
    assert comparable(runs["digest"]) == comparable(runs["full"])
    full, digest = runs["full"], runs["digest"]
    for kind, name in (("world", "buildworld"), ("kernel", "buildkernel")):
        if name not in digest["steps"]:
            continue
        whole = check_digest(bb, digest, kind, name)
        # the whole output holds every line stock streaming showed (dates and each builder's
        # own directory aside)
        def norm(text):
            text = WORKDIRS.sub("/B/", text)
            return {re.sub(r" on .*\d{4}$", "", x) for x in text.splitlines()}
        assert norm(whole) >= norm(full["steps"][name]["stdio"])
        assert "full-log" not in full["steps"][name]["logs"]
    if faults == {}:
        # the simulated buildworld prints a few hundred lines, so each banner's window (the
        # 50 lines before it, streamed with it) is much of it; benchmarks/mastercpu.py measures
        # a buildworld-sized log
        world_full = full["steps"]["buildworld"]["stdio"]
        world_live = digest["steps"]["buildworld"]["stdio"]
        assert len(world_live) < len(world_full)
        assert any(NOTE.match(line) for line in world_live.splitlines())


def test_full_logs_page_lists_and_refuses(bb):
    with urllib.request.urlopen(f"{bb.url}plugins/wsgi_dashboards/vkckpt-logs/index.html",
                                timeout=30) as resp:
        page = resp.read().decode()
    assert "buildworld.log.gz" in page and "digest" in page
    for bad in ("digest/1/../../../master.cfg", "digest/1/buildworld.log",
                "digest/1/.hidden.log.gz", "..%2F..%2Fmaster.cfg/1/x.log.gz"):
        try:
            urllib.request.urlopen(f"{bb.url}plugins/wsgi_dashboards/vkckpt-logs/{bad}",
                                   timeout=30)
        except urllib.error.HTTPError as e:
            assert e.code == 404, bad
        else:
            raise AssertionError(f"{bad} was served")
