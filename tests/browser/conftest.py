"""Fixtures of the browser tests: one real master with the demo's builds for the whole session,
one headless Chromium, and a page per test that keeps its screenshots and fails the test on
console errors of the project's page."""
import re

import pytest

from .chromium import Page, require_chromium, start_chromium, stop_chromium
from .demo_site import DemoSite


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    # a missing browser fails here, before a minute of builds
    require_chromium()
    demo_site = DemoSite(tmp_path_factory.mktemp("browser"))
    try:
        demo_site.start().build_first()
        yield demo_site
    finally:
        assert demo_site.stop() == []


@pytest.fixture(scope="session")
def chromium():
    driver = start_chromium()
    try:
        yield driver
    finally:
        stop_chromium(driver)


@pytest.fixture
def page(request, chromium):
    """The browser for one test; screenshots go to test-artifacts/screenshots/<test>-N.png."""
    view = Page(chromium, re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-"))
    yield view
    view.close()
    problems = view.console_problems()
    assert not problems, "the browser console reports errors:\n" + "\n".join(problems)
