"""A restore that panics the vkernel: the panic line leads the build page and the trends page,
the backtrace is one click away, and the build is not flagged as slower than usual."""
import pytest

from .views import (BUILD_SUMMARY, LOG_NAME, PANIC, STEP_LINE, flagged_builds, open_build,
                    open_trends, row)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def test_build_page_leads_with_the_panic_line(site, page):
    build = site.latest("restore-panics")
    open_build(page, site, build)
    page.first_screen(BUILD_SUMMARY, PANIC)
    # the failing step is open, and its backtrace is among its first logs
    step = page.wait_text(STEP_LINE, "checkpoint-cycle")
    logs = page.wait_for(lambda: [e.text.strip() for e in
                                  step.find_elements("css selector", LOG_NAME)],
                         "the logs of the failed step checkpoint-cycle, listed open")
    assert "backtrace" in logs[:2], logs


def test_trends_page_shows_the_panic_and_links_the_backtrace(site, page):
    build = site.latest("restore-panics")
    open_trends(page, site)
    page.first_screen(f'section[data-builder="{site.main.builder}"] .vkd-latest', PANIC)
    page.wait_text(f"{row(site.main, build)} .vkd-panic", PANIC)
    assert build["number"] not in flagged_builds(page, site.main)
    link = page.wait_text(f"{row(site.main, build)} a.vkd-backtrace-link")
    href = link.get_attribute("href")
    assert f"/builders/{build['builderid']}/builds/{build['number']}/steps/" in href, href
    link.click()
    # Buildbot's log page: the frames ddb printed
    page.wait_text(".bb-log-viewer, .log, body", "panic() at")
