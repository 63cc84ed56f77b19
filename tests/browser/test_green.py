"""A green build: the build page and the trends page say so on the first screen, with the
cycles that passed, and a green build is flagged only when the regression rule says so."""
import pytest

from .chromium import is_green
from .demo_site import FACTORY
from .views import BUILD_BADGE, STEP_LINE, flagged_builds, open_build, open_trends, row, section

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

CYCLES_OK = f"{FACTORY['cycles']}/{FACTORY['cycles']} cycles ok"


def test_build_page_says_green_and_how_many_cycles_passed(site, page):
    build = site.latest("ok")
    open_build(page, site, build)
    badge = page.first_screen(BUILD_BADGE, "SUCCESS")
    assert is_green(page.background(badge)), page.background(badge)
    page.first_screen(STEP_LINE, CYCLES_OK)


def test_trends_page_shows_the_green_build_unflagged(site, page):
    build = site.latest("ok")
    open_trends(page, site)
    latest = page.first_screen(f"{section(site.main)} .vkd-latest", "success")
    cycles = f"{FACTORY['cycles']}/{FACTORY['cycles']}"
    assert f"{cycles} checkpoint cycles ok" in latest.text, latest.text
    page.wait_text(row(site.main, build), f"{cycles} ok")
    green = {b["number"] for b in site.builds("ok")}
    # the first two greens have no baseline; a later one only if the rule says so
    assert green & flagged_builds(page, site.main) == green & site.rule_flags(site.main)
