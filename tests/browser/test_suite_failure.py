"""The guest suite's memory test loses its state: the failing test and its assertion lead the
build page and the trends page."""
import pytest

from .views import ASSERTION, BUILD_SUMMARY, flagged_builds, open_build, open_trends, row, section

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def test_build_page_leads_with_the_failed_assertion(site, page):
    build = site.latest("guest-test-fails")
    open_build(page, site, build)
    summary = page.first_screen(BUILD_SUMMARY, "memory")
    assert ASSERTION.search(summary.text), summary.text


def test_trends_page_shows_the_failed_test_and_its_assertion(site, page):
    build = site.latest("guest-test-fails")
    open_trends(page, site)
    latest = page.first_screen(f"{section(site.main)} .vkd-latest", "memory")
    assert ASSERTION.search(latest.text), latest.text
    page.wait_text(row(site.main, build), ASSERTION)
    flagged = build["number"] in flagged_builds(page, site.main)
    assert flagged == (build["number"] in site.rule_flags(site.main))
