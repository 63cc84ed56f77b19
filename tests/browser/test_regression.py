"""A restore five times as slow as in the green builds before it: the trends page flags that build,
on the first screen, and flags exactly the builds the documented rule picks from their REST
numbers (on a quiet machine: that one alone; tests/www/test_regression.py proves "nothing
else" on fixed numbers)."""
import pytest

from .demo_site import SLOW
from .views import flagged_builds, open_trends, row, section

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def test_slow_restore_is_flagged_on_the_first_screen(site, page):
    build = site.latest(SLOW)
    open_trends(page, site)
    page.first_screen(f"{section(site.main)} .vkd-latest .vkd-slower", "slower than usual")
    flag = page.first_screen(f'{section(site.main)} li.vkd-regression'
                             f'[data-build="{build["number"]}"]', "restore time")
    assert "slower than usual" in flag.text, flag.text
    page.wait_text(f'{row(site.main, build)} .vkd-regressed[data-metric="restore_seconds"]')


def test_the_page_flags_what_the_rule_picks(site, page):
    if not site.builds(SLOW):
        site.latest(SLOW)
    slow = {b["number"] for b in site.builds(SLOW)}
    others = {b["number"] for scenario, b in site.main.builds if scenario != SLOW}
    assert others, "no other build on the slow build's builder"
    expected = site.rule_flags(site.main)
    assert slow <= expected, "the slowed restore is not slower by the rule: the fault failed"
    open_trends(page, site)
    assert flagged_builds(page, site.main) == expected
    assert not flagged_builds(page, site.stock)
    for number in others - expected:
        shown = page.find_all(f'{section(site.main)} tr[data-build="{number}"] .vkd-slower')
        assert not shown, f"build {number} is shown slower than usual"
