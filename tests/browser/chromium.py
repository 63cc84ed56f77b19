"""Debian's Chromium, headless, driven through its chromedriver (Selenium), and what a person
sees of a page: the first screen, the text, the colours, the browser console."""
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# a laptop's screen: what is "on the first screen" is what shows without scrolling
VIEWPORT = (1366, 768)
# as root Chromium needs --no-sandbox; the rest keep it off the (closed) network
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

# what Buildbot's own UI logs on every page, whatever the project does; anything else SEVERE
# in the console fails the test that loaded the page
BUILDBOT_NOISE = (
    # the UI asks every www plugin for a stylesheet; buildbot-wsgi-dashboards ships none
    re.compile(r"/plugins/wsgi_dashboards/styles\.css\b"),
    # the UI's favicon code asks for <buildbotURL>/icon.*, and buildbotURL ends in "/"
    re.compile(r"//icon\.(png|svg)\b"),
    # buildbot-wsgi-dashboards 4.3.0 finds no icon for any entry, whatever it names
    re.compile(r"Error in WSGI plugin \S+: Could not find icon "),
)
# the UI's request library reports a failed request without its URL: it is noise only when
# every request that failed on the page was noise
FAILED_REQUEST = re.compile(r"Request failed with status code \d+")
# the dashboard plugin's other complaints about the project's entry: logged below SEVERE
PROJECT_ERROR = re.compile(r"Error in WSGI plugin")


def require_chromium():
    """Fails (never skips) when the browser or its driver is missing."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(f"the browser tests need Debian's chromium and chromium-driver "
                    f"({', '.join(missing)} missing): run scripts/system-packages as root "
                    f"(or apt-get install chromium chromium-driver)", pytrace=False)


def start_chromium():
    require_chromium()
    # never let Selenium Manager look for (and download) a driver or a browser
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="vkckpt-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    # headless, the window still keeps room for a frame (a 768 px window shows 625 px of
    # page): pin the viewport itself
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": VIEWPORT[0], "height": VIEWPORT[1],
                            "deviceScaleFactor": 1, "mobile": False})
    driver.vkckpt_profile = profile
    return driver


def stop_chromium(driver):
    try:
        driver.quit()
    finally:
        shutil.rmtree(driver.vkckpt_profile, ignore_errors=True)


# the first screen: an element counts when its box starts above the viewport's bottom edge,
# is not scrolled away above, has a size and is not hidden
_ON_FIRST_SCREEN = """
const el = arguments[0];
const r = el.getBoundingClientRect();
const style = getComputedStyle(el);
return r.top < window.innerHeight && r.bottom > 0 && r.width > 0 && r.height > 0
    && style.visibility !== 'hidden' && style.display !== 'none' && window.scrollY === 0;
"""


class Page:
    """One browser tab's view for one test: loads a URL, waits for what must appear, keeps a
    screenshot of every page it looked at and the console messages it logged."""

    def __init__(self, driver, name):
        self.driver = driver
        self.name = name
        self.shots = []
        self.console = []
        self.failed_requests = set()
        self.url = None

    def open(self, url, ready_css, timeout=30):
        """Loads ``url`` and waits until an element matching ``ready_css`` is shown."""
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        self.close()
        self.driver.get("about:blank")
        self.driver.get(url)
        self.url = url
        try:
            WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(
                lambda d: any(e.is_displayed() for e in d.find_elements("css selector",
                                                                         ready_css)))
        except TimeoutException:
            self.screenshot("timeout")
            raise AssertionError(f"{url}: nothing matching {ready_css!r} within {timeout} s; "
                                 f"the page shows:\n{self.text()[:2000]}") from None
        self.driver.execute_script("window.scrollTo(0, 0)")
        self.read_console()
        return self

    def close(self):
        """Done looking at the page: keep its screenshot and its console messages."""
        if self.url is not None:
            self.screenshot()
            self.read_console()
        self.url = None

    def wait_for(self, probe, what, timeout=30):
        """``probe()``'s first true answer; fails naming ``what`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            answer = probe()
            if answer:
                return answer
            if time.monotonic() > deadline:
                shot = self.screenshot("timeout")
                raise AssertionError(f"{what}: not within {timeout} s (see {shot})")
            time.sleep(0.1)

    def wait_text(self, css, text="", timeout=30):
        """The first element matching ``css`` whose text contains ``text`` (a str or a
        compiled pattern), once there."""
        deadline = time.monotonic() + timeout
        matches = text.search if hasattr(text, "search") else (lambda t: text in t)
        while True:
            found = [e for e in self.find_all(css) if matches(e.text)]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                self.screenshot("timeout")
                raise AssertionError(f"no {css!r} shows {getattr(text, 'pattern', text)!r} "
                                     f"within {timeout} s; the page shows:\n"
                                     f"{self.text()[:3000]}")
            time.sleep(0.1)

    def first_screen(self, css, text="", timeout=30):
        """The element matching ``css`` whose text contains ``text`` (a str or a compiled
        pattern), asserted to be on the first screen."""
        element = self.wait_text(css, text, timeout)
        if not self.on_first_screen(element):
            rect = self.driver.execute_script(
                "const r = arguments[0].getBoundingClientRect(); "
                "return [Math.round(r.top), Math.round(r.bottom), window.innerHeight]", element)
            shot = self.screenshot("not-on-first-screen")
            raise AssertionError(f"{element.text[:200]!r} ({css}) is not on the first screen: "
                                 f"top {rect[0]} px, bottom {rect[1]} px, the viewport is "
                                 f"{rect[2]} px high (see {shot})")
        return element

    def find_all(self, css):
        return self.driver.find_elements("css selector", css)

    def on_first_screen(self, element):
        return self.driver.execute_script(_ON_FIRST_SCREEN, element)

    def background(self, element):
        """The colour an element's box is painted with: its own background, else the nearest
        ancestor's that is not transparent."""
        return self.driver.execute_script("""
let el = arguments[0];
while (el) {
  const c = getComputedStyle(el).backgroundColor;
  if (c && c !== 'transparent' && c !== 'rgba(0, 0, 0, 0)') return c;
  el = el.parentElement;
}
return '';""", element)

    def text(self):
        return self.driver.find_element("css selector", "body").text

    def screenshot(self, suffix=""):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = f"{self.name}-{len(self.shots) + 1}{'-' + suffix if suffix else ''}.png"
        path = ARTIFACTS / name
        self.driver.save_screenshot(str(path))
        self.shots.append(path)
        return path

    def read_console(self):
        """The browser console's messages since the last read (``{level, message, ...}``),
        and the requests of this page that failed."""
        entries = self.driver.get_log("browser")
        self.console.extend(entries)
        failed = self.driver.execute_script(
            "return performance.getEntriesByType('resource')"
            ".filter(e => e.responseStatus >= 400).map(e => e.name)")
        self.failed_requests.update(failed or ())
        return entries

    def console_problems(self):
        """Console messages that say the project's page (or its configuration) is broken:
        every SEVERE message but Buildbot's own noise, and the dashboard plugin's errors."""
        unexplained = sorted(u for u in self.failed_requests
                             if not any(n.search(u) for n in BUILDBOT_NOISE))
        problems = []
        for entry in self.console:
            message = entry.get("message", "")
            if any(n.search(message) for n in BUILDBOT_NOISE):
                continue
            if PROJECT_ERROR.search(message):
                problems.append(message)
            elif entry.get("level") != "SEVERE":
                continue
            elif FAILED_REQUEST.search(message) and not unexplained:
                continue
            else:
                problems.append(message)
        if unexplained:
            problems.append(f"requests that failed: {', '.join(unexplained)}")
        return problems


def is_green(colour):
    """Whether a CSS ``rgb(...)``/``rgba(...)`` colour reads as green (a pass)."""
    r, g, b = (int(v) for v in re.findall(r"\d+", colour)[:3])
    return g > r + 30 and g > b + 30
