"""The two pages the browser tests read: Buildbot's build page and the project's trends page
(``#/vkckpt``, docs/dashboard.rst), opened the way a person opens them."""
import re

# the build page's header: the build's summary line and its result badge
BUILD_SUMMARY = ".bb-build-summary .card-header .bb-build-summary-details"
BUILD_BADGE = ".bb-build-summary .card-header .bb-badge-status"
STEP_LINE = ".bb-build-summary-step-line"
# the names of an open step's logs, in the order the step lists them
LOG_NAME = ".logpreview .card-header .flex-grow-3"
# the simulated memory test's assertion (simhost: CKPT_FAULT=corrupt)
ASSERTION = re.compile(r"heap word \d+ is 0x[0-9a-f]+, expected 0x[0-9a-f]+")
PANIC = "panic: vmspace_ctl: cannot restore vmspace"
NOT_TESTED = "checkpoint NOT TESTED — the vkernel has no checkpoint handler"


def open_build(page, site, build):
    """The build page, once its header and step list are shown."""
    page.open(site.build_url(build), BUILD_SUMMARY)
    page.wait_text(".bb-build-summary .card-header", f"/{build['number']}")
    page.wait_text(STEP_LINE)
    return page


def open_trends(page, site):
    page.open(f"{site.url}#/vkckpt", ".vkd")
    for lane in site.lanes:
        page.wait_text(f'section[data-builder="{lane.builder}"]')
    return page


def section(lane):
    return f'section[data-builder="{lane.builder}"]'


def row(lane, build):
    return f'{section(lane)} tr[data-build="{build["number"]}"]'


def flagged_builds(page, lane):
    """Numbers of the builds the trends page flags as slower than usual."""
    return {int(e.get_attribute("data-build"))
            for e in page.find_all(f"{section(lane)} .vkd-regression[data-build]")}
