"""A host that cannot checkpoint (stock DragonFly 2020): the build page and the trends page say
"checkpoint NOT TESTED" with the reason, on the first screen, and never in green."""
import pytest

from .chromium import is_green
from .views import BUILD_BADGE, BUILD_SUMMARY, NOT_TESTED, open_build, open_trends, row, section

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def test_build_page_says_not_tested_and_is_not_green(site, page):
    build = site.latest("stock-vkernel")
    open_build(page, site, build)
    page.first_screen(BUILD_SUMMARY, NOT_TESTED)
    badge = page.first_screen(BUILD_BADGE)
    assert badge.text.strip() != "SUCCESS", badge.text
    assert not is_green(page.background(badge)), page.background(badge)
    # the reason is for the people who read it: no document they do not have
    assert "reference §" not in page.text()


def test_trends_page_says_not_tested_in_its_own_colour(site, page):
    build = site.latest("stock-vkernel")
    open_trends(page, site)
    page.first_screen(f"{section(site.stock)} .vkd-latest", NOT_TESTED)
    badge = page.first_screen(f"{row(site.stock, build)} .vkd-not-tested", "NOT TESTED")
    colour = page.background(badge)
    assert not is_green(colour), colour
    greens = {page.background(e) for e in page.find_all(".vkd .vkd-r-success")}
    assert greens, "no green build on the page to compare the colour with"
    assert colour not in greens, (colour, greens)
    # nothing in the row passes for a result: no cycle counts, no times
    cycles = page.first_screen(f"{row(site.stock, build)} td", "not tested")
    assert not is_green(page.background(cycles))
    assert "reference §" not in page.text()


def test_builder_list_shows_the_not_tested_build_not_green(site, page):
    build = site.latest("stock-vkernel")
    page.open(f"{site.url}#/builders", ".bb-badge-round")
    link = f'a[href="#/builders/{build["builderid"]}/builds/{build["number"]}"] .bb-badge-round'
    badge = page.first_screen(link)
    assert "results_SUCCESS" not in badge.get_attribute("class"), badge.get_attribute("class")
    assert not is_green(page.background(badge)), page.background(badge)


def test_trends_page_marks_the_tests_stock_dragonfly_fails_as_expected(site, page):
    site.latest("stock-vkernel")
    open_trends(page, site)
    for test in ("threads", "kqueue"):
        label = page.wait_text(f'{section(site.stock)} .vkd-history tr[data-test="{test}"]')
        assert label.find_elements("css selector", ".vkd-xfail"), label.text
        marks = [e.text for e in label.find_elements("css selector", ".vkd-strip .vkd-h")]
        assert marks and "✓" not in marks, marks
