"""The dashboard in a real master: four builds on the simulated host — green, green, the guest
suite failing ``memory``, and every restore four times as slow as the ones before (fault
``restore-slow``) — then the page fetched over HTTP shows the numbers the REST API has for
each, and flags exactly the builds the documented rule picks from those numbers, the slow one
among them. (A loaded machine moves a simulated restore by half from one build to the next:
the red build may be flagged too, and then the rule says so.)
"""
import json
import re
import statistics
import urllib.request

import pytest

from buildbot_vkckpt.suite import suite_dir
from buildbot_vkckpt.units import format_ms, format_size

from ..regression_rule import cycle_values, expected_flags, later
from ..simmaster import sim_master

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

BUILDER = "vkckpt-sim"
METRICS = (("checkpoint time", "ckpt_seconds", format_ms),
           ("restore time", "restore_seconds", format_ms),
           ("time to responsive console", "console_seconds", format_ms),
           ("checkpoint file size", "ckpt_bytes", format_size))


@pytest.fixture(scope="module")
def bb(tmp_path_factory):
    with sim_master(tmp_path_factory.mktemp("dashboard"), BUILDER, """
f.addStep(GuestCheckpointSuite(iterations=1, only=["memory", "files", "signals"],
                               timeouts={"suite_build": 120, "suite": 120}))
f.addStep(VkernelCheckpointCycle(cycles=3, timeouts={"checkpoint": 30, "restore": 30}))
""", image_args=f"suite_dir={str(suite_dir())!r}, ",
                    extra=f"from buildbot_vkckpt.www import add_dashboard\n"
                          f"add_dashboard(c, builders=[{BUILDER!r}])") as bb:
        yield bb


def fetch(url):
    with urllib.request.urlopen(url, timeout=30) as resp:
        assert resp.status == 200
        return resp.headers.get("Content-Type"), resp.read().decode("utf-8")


def build_with(bb, faults, reason):
    bb.host.set_faults(faults)
    try:
        return bb.wait_build(bb.force(BUILDER, reason=reason), timeout=150)
    finally:
        bb.host.set_faults({})


def test_dashboard_page_shows_the_builds_and_flags_the_slow_restore(bb):
    builds = [build_with(bb, {}, "green"), build_with(bb, {}, "green again"),
              build_with(bb, {"guest-test-fails": "memory"}, "red"),
              build_with(bb, {"restore-slow": "4"}, "slow restore")]
    assert [b["results"] for b in builds] == [0, 0, 2, 0]
    green1, green2, red, slow = builds
    values = {b["number"]: cycle_values(bb, b) for b in builds}
    baseline = statistics.median([later(values[b["number"]]["restore time"])
                                  for b in (green1, green2)])
    slow_restore = later(values[slow["number"]]["restore time"])
    # the fault did what it says: the restore took far longer
    timed = (bb.host.state_dir / "restore-times").read_text().split()
    assert slow_restore > 1.5 * baseline, (slow_restore, baseline, timed, values)

    # the menu entry the UI builds from the master's www config
    config = json.loads(fetch(bb.url + "config")[1])
    [entry] = config["plugins"]["wsgi_dashboards"]
    assert (entry["name"], entry["caption"]) == ("vkckpt", "vkernel checkpoints")

    page_url = bb.url + "plugins/wsgi_dashboards/vkckpt/index.html"
    ctype, page = fetch(page_url)
    assert ctype == "text/html; charset=utf-8"
    rows = dict(re.findall(r'<tr class="vkd-row[^"]*" data-build="(\d+)">(.*?)</tr>', page))
    assert sorted(map(int, rows)) == [b["number"] for b in builds], page
    for build in builds:
        row = rows[str(build["number"])]
        props = bb.properties(build["buildid"])
        counts = props["vkckpt_suite_counts"]
        assert f'>{counts["pass"]} / {counts["fail"]} / {counts["xfail"]}<' in row
        assert "3/3 ok" in row
        assert props["got_revision"][:12] in row
        for description, attr, fmt in METRICS:
            per_cycle = values[build["number"]][description]
            assert len(per_cycle) == 3, description
            cell = re.search(rf'<td class="[^"]*" data-metric="{attr}" title="([^"]*)">'
                             rf'<span class="vkd-median">([^<]*)</span>', row)
            assert cell, (attr, row)
            assert cell.group(2) == fmt(statistics.median(per_cycle))
            assert [float(v.split(": ")[1]) for v in cell.group(1).split("; ")] == per_cycle
    assert ">failure<" in rows[str(red["number"])] and "failed: memory" in rows[str(red["number"])]
    assert "failed:" not in rows[str(green2["number"])]

    # exactly the flags the rule gives for these numbers; the slow restore is one of them
    flags = {(int(b), m) for b, m in re.findall(
        r'<li class="vkd-regression" data-build="(\d+)" data-metric="(\w+)"', page)}
    assert flags == expected_flags(bb, builds), (flags, values)
    assert (slow["number"], "restore_seconds") in flags
    assert not any(b in (green1["number"], green2["number"]) for b, _m in flags)
    assert "slower than usual" in rows[str(slow["number"])]
    latest = re.search(r'<p class="vkd-latest[^"]*">(.*?)</p>', page).group(1)
    assert f"latest #{slow['number']}" in latest and "slower than usual" in latest
    assert '<div class="vkd-regression" data-build="%d" data-metric="restore_seconds"' \
        % slow["number"] in rows[str(slow["number"])]
    assert len(re.findall(r"<svg ", page)) == 3 and page.count("<circle") == 12

    # finished builds come from the cache: the same page again
    assert fetch(page_url)[1] == page
