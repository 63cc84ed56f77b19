"""The dashboard in a real master: two builds on the simulated host (green, then the guest
suite failing ``memory``), then the page fetched over HTTP shows the numbers the REST API
has for both."""
import html
import json
import re
import statistics
import urllib.request

import pytest

from buildbot_vkckpt.steps.cycle import format_bytes, format_seconds
from buildbot_vkckpt.suite import suite_dir

from ..simmaster import sim_master

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

BUILDER = "vkckpt-sim"
METRICS = (("checkpoint time", format_seconds), ("restore time", format_seconds),
           ("time to responsive console", format_seconds),
           ("checkpoint file size", format_bytes))


@pytest.fixture(scope="module")
def bb(tmp_path_factory):
    with sim_master(tmp_path_factory.mktemp("dashboard"), BUILDER, """
f.addStep(GuestCheckpointSuite(iterations=1, only=["memory", "files", "signals"],
                               build_timeout=120, run_timeout=120))
f.addStep(VkernelCheckpointCycle(cycles=2, checkpoint_timeout=30, restore_timeout=30))
""", image_args=f"suite_dir={str(suite_dir())!r}, ",
                    extra=f"from buildbot_vkckpt.www import add_dashboard\n"
                          f"add_dashboard(c, builders=[{BUILDER!r}])") as bb:
        yield bb


def fetch(url):
    with urllib.request.urlopen(url, timeout=30) as resp:
        assert resp.status == 200
        return resp.headers.get("Content-Type"), resp.read().decode("utf-8")


def expected_row(bb, build):
    """What the REST API says the build's row must show."""
    steps = {s["name"]: s for s in bb.steps(build["buildid"])}
    sets = {s["description"]: s for s in bb.test_result_sets(steps["checkpoint-cycle"]["stepid"])}
    cells = []
    for description, fmt in METRICS:
        setid = sets[description]["test_result_setid"]
        values = [float(r["value"]) for r in bb.test_results(setid)]
        assert values, description
        median = statistics.median(values)
        exact = int(median) if median.is_integer() else round(median, 6)
        cells.append((f'title="{exact}"', fmt(median)))
    suite = re.search(r"(\d+) passed, (\d+) failed, (\d+) xfail",
                      steps["guest-suite"]["state_string"]).groups()
    cycles = re.search(r"(\d+/\d+) cycles ok", steps["checkpoint-cycle"]["state_string"]).group(1)
    revision = bb.properties(build["buildid"])["got_revision"]
    return steps, cells, " / ".join(suite), cycles, revision


def test_dashboard_page_shows_both_builds(bb):
    green = bb.wait_build(bb.force(BUILDER, reason="green"), timeout=150)
    bb.host.set_faults({"guest-test-fails": "memory"})
    try:
        red = bb.wait_build(bb.force(BUILDER, reason="red"), timeout=150)
    finally:
        bb.host.set_faults({})
    assert (green["results"], red["results"]) == (0, 2)

    # the menu entry the UI builds from the master's www config
    config = json.loads(fetch(bb.url + "config")[1])
    [entry] = config["plugins"]["wsgi_dashboards"]
    assert (entry["name"], entry["caption"]) == ("vkckpt", "vkernel checkpoints")

    page_url = bb.url + "plugins/wsgi_dashboards/vkckpt/index.html"
    ctype, page = fetch(page_url)
    assert ctype == "text/html; charset=utf-8"
    rows = re.findall(r"<tr>(.*?)</tr>", page)[1:]
    assert len(rows) == 2, page
    assert f'/builds/{red["number"]}"' in rows[0] and f'/builds/{green["number"]}"' in rows[1]
    for row, build, result in ((rows[0], red, "failure"), (rows[1], green, "success")):
        steps, cells, suite, cycles, revision = expected_row(bb, build)
        assert f">{result}<" in row
        assert f">{suite}<" in row and f">{cycles}<" in row
        assert revision[:12] in row
        for title, shown in cells:
            assert f"{title}>{shown}<" in row, (title, shown, row)
    assert "failed: memory" in rows[0] and "failed:" not in rows[1]
    red_suite = bb.steps(red["buildid"])
    summary = next(s["state_string"] for s in red_suite if s["name"] == "guest-suite")
    assert f"<b>guest-suite</b>: {html.escape(summary)}" in rows[0]
    assert len(re.findall(r"<svg ", page)) == 3 and page.count("<circle") == 6

    # finished builds come from the cache: the same page again
    assert fetch(page_url)[1] == page
