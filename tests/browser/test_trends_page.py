"""The trends page as the real master serves it over HTTP (no browser): for every build of both
builders it shows the numbers the REST API has — suite counts, cycles ok, revision, each
metric's median and every cycle's value — the red build's failed test, and flags exactly the
builds the documented rule (tests/regression_rule.py) picks from those numbers, the slowed
restore among them.

It reads the site's builds of ``guest-test-fails`` and ``restore-slow`` when the other browser
tests made them already (this file sorts after theirs) and asks for them only when it runs
alone, so it adds no build to the site's. On a loaded machine noise may flag another build
too; then the rule says so, and the page must.
"""
import json
import re
import statistics
import urllib.request

import pytest

from buildbot_vkckpt.units import format_ms, format_size

from ..regression_rule import MIN_BASELINE, cycle_values, expected_flags
from .demo_site import FACTORY, SLOW

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

RED = "guest-test-fails"
CYCLES = FACTORY["cycles"]
# (set description, data-metric, how the page shows it)
METRICS = (("checkpoint time", "ckpt_seconds", format_ms),
           ("restore time", "restore_seconds", format_ms),
           ("time to responsive console", "console_seconds", format_ms),
           ("checkpoint file size", "ckpt_bytes", format_size))
# the sets the page draws a sparkline of, one dot per build that has a value
TRENDS = ("checkpoint time", "restore time", "checkpoint file size")
# scenarios whose builds run every cycle and pass them
ALL_CYCLES_OK = ("ok", RED, SLOW)


def fetch(url):
    with urllib.request.urlopen(url, timeout=30) as resp:
        assert resp.status == 200
        return resp.headers.get("Content-Type"), resp.read().decode("utf-8")


def shared_build(site, scenario):
    """The newest build of ``scenario`` the site has, made now only if it has none."""
    made = site.builds(scenario)
    return made[-1] if made else site.latest(scenario)


def sections(page):
    """{builder name: its section's HTML}."""
    return dict(re.findall(r'<section class="vkd-builder" data-builder="([^"]+)">(.*?)</section>',
                           page, re.S))


def rows_of(section):
    return dict(re.findall(r'<tr class="vkd-row[^"]*" data-build="(\d+)">(.*?)</tr>', section,
                           re.S))


def flags_of(section):
    return {(int(b), m) for b, m in re.findall(
        r'<li class="vkd-regression" data-build="(\d+)" data-metric="(\w+)"', section)}


def latest_of(section):
    return re.search(r'<p class="vkd-latest[^"]*">(.*?)</p>', section, re.S).group(1)


def check_common_cells(site, build, row):
    """Suite counts and revision from the build's properties."""
    props = site.bb.properties(build["buildid"])
    counts = props["vkckpt_suite_counts"]
    assert f'>{counts["pass"]} / {counts["fail"]} / {counts["xfail"]}<' in row, (counts, row)
    assert props["got_revision"][:12] in row, row
    return props


def test_trends_page_shows_every_build_and_flags_what_the_rule_picks(site):
    red, slow = shared_build(site, RED), shared_build(site, SLOW)
    assert (red["results"], slow["results"]) == (2, 0)
    main = [b for _s, b in site.main.builds]
    scenario_of = {b["number"]: s for s, b in site.main.builds}
    values = {b["number"]: cycle_values(site.bb, b) for b in main}

    # the menu entry the UI builds from the master's www config
    config = json.loads(fetch(site.url + "config")[1])
    [entry] = config["plugins"]["wsgi_dashboards"]
    assert (entry["name"], entry["caption"]) == ("vkckpt", "vkernel checkpoints")

    page_url = site.url + "plugins/wsgi_dashboards/vkckpt/index.html"
    ctype, page = fetch(page_url)
    assert ctype == "text/html; charset=utf-8"
    by_builder = sections(page)
    assert list(by_builder) == [ln.builder for ln in site.lanes], list(by_builder)

    # --- the main lane: every build's numbers as the REST API has them
    section = by_builder[site.main.builder]
    rows = rows_of(section)
    assert sorted(map(int, rows)) == [b["number"] for b in main], section
    for build in main:
        row = rows[str(build["number"])]
        props = check_common_cells(site, build, row)
        cycles = f'{props["vkckpt_cycles_ok"]}/{props["vkckpt_cycles_total"]} ok'
        assert cycles in row, (cycles, row)
        if scenario_of[build["number"]] in ALL_CYCLES_OK:
            assert f"{CYCLES}/{CYCLES} ok" in row, row
        for description, attr, fmt in METRICS:
            per_cycle = values[build["number"]].get(description)
            if scenario_of[build["number"]] in ALL_CYCLES_OK:
                assert per_cycle and len(per_cycle) == CYCLES, (description, per_cycle)
            cell = re.search(rf'<td class="[^"]*" data-metric="{attr}" title="([^"]*)">'
                             rf'<span class="vkd-median">([^<]*)</span>', row)
            if not per_cycle:
                assert f'data-metric="{attr}"' not in row, (attr, row)
                continue
            assert cell, (attr, row)
            assert cell.group(2) == fmt(statistics.median(per_cycle)), (attr, cell.group(2))
            assert [float(v.split(": ")[1]) for v in cell.group(1).split("; ")] == per_cycle
        if build["results"] == 0:
            assert "failed:" not in row, row
    red_row = rows[str(red["number"])]
    assert ">failure<" in red_row and "failed: memory" in red_row, red_row

    # exactly the flags the rule gives for these numbers; the slowed restore is one of them
    flags = flags_of(section)
    assert flags == expected_flags(site.bb, main), (flags, values)
    slow_flags = {(b["number"], "restore_seconds") for b in site.builds(SLOW)}
    assert slow_flags <= flags, ("the slowed restore is not slower by the rule: the fault "
                                 "failed", flags, values)
    # the first green builds have nothing to be compared with
    assert not {n for n, _m in flags} & {b["number"] for b in main[:MIN_BASELINE]}, flags
    slow_row = rows[str(slow["number"])]
    assert "slower than usual" in slow_row, slow_row
    assert '<div class="vkd-regression" data-build="%d" data-metric="restore_seconds"' \
        % slow["number"] in slow_row, slow_row
    for number, row in rows.items():
        assert ("slower than usual" in row) == any(int(number) == n for n, _m in flags), row

    # the answer for the newest build, first in the section
    newest = main[-1]
    latest = latest_of(section)
    assert f"latest #{newest['number']}:" in latest, latest
    assert ("slower than usual" in latest) == any(n == newest["number"] for n, _m in flags)
    if newest["results"] == 0:
        assert f"{CYCLES}/{CYCLES} checkpoint cycles ok" in latest, latest
    else:
        assert ">failure<" in latest, latest

    # the trends: three sparklines, a dot per build that has the value
    dots = sum(1 for b in main for d in TRENDS if values[b["number"]].get(d))
    assert len(re.findall(r"<svg ", section)) == 3 and section.count("<circle") == dots, \
        (dots, values)

    # --- the stock lane: NOT TESTED, no cycles, no numbers, no flags, no trends
    stock_section = by_builder[site.stock.builder]
    stock = [b for _s, b in site.stock.builds]
    stock_rows = rows_of(stock_section)
    assert sorted(map(int, stock_rows)) == [b["number"] for b in stock], stock_section
    for build in stock:
        row = stock_rows[str(build["number"])]
        check_common_cells(site, build, row)
        assert "checkpoint NOT TESTED" in row and "not tested</span>" in row, row
        assert '<td class="vkd-num"><span class="vkd-not-tested-cell">not tested</span></td>' \
            in row and "data-metric=" not in row, row
    assert "checkpoint NOT TESTED" in latest_of(stock_section)
    assert f"latest #{stock[-1]['number']}:" in latest_of(stock_section)
    assert not flags_of(stock_section) and not expected_flags(site.bb, stock)
    assert "<svg " not in stock_section and "<circle" not in stock_section
    assert stock_section.count('class="vkd-none"') == len(TRENDS), stock_section

    # finished builds come from the cache: the same page again
    assert fetch(page_url)[1] == page
