"""The links of the trends page: the commit to the repository's web view (gitweb for
DragonFly), the build to its build page."""
import pytest

from .views import BUILD_SUMMARY, open_trends, row

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

GITWEB = "https://gitweb.dragonflybsd.org/dragonfly.git/commit/"


def test_commit_links_to_gitweb_on_the_first_screen(site, page):
    build = site.latest("stock-vkernel")
    open_trends(page, site)
    link = page.first_screen(f"{row(site.stock, build)} a.vkd-commit")
    revision = site.revision(build)
    assert link.get_attribute("href") == GITWEB + revision
    assert link.text.strip() and revision.startswith(link.text.strip()), link.text


def test_build_number_opens_the_build_page(site, page):
    build = site.builds()[-1]
    lane = next(ln for ln in site.lanes if build in [b for _s, b in ln.builds])
    open_trends(page, site)
    page.wait_text(f"{row(lane, build)} a", f"#{build['number']}").click()
    page.wait_text(BUILD_SUMMARY, "")
    page.wait_text(".bb-build-summary .card-header", f"{lane.builder}/{build['number']}")
