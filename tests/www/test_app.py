"""The dashboard WSGI app over a stand-in data API: what the page shows, what it costs."""
import re
from html.parser import HTMLParser

from buildbot_vkckpt.www import DashboardApp
from buildbot_vkckpt.www.spark import DASH, sparkline
from tests.www.fakeapi import FakeApi, standard_api


def call(app, path="/index.html", query=""):
    got = {}

    def start_response(status, headers):
        got["status"], got["headers"] = status, dict(headers)
    body = b"".join(app({"PATH_INFO": path, "QUERY_STRING": query,
                         "SCRIPT_NAME": "/plugins/wsgi_dashboards/vkckpt"}, start_response))
    return got["status"], got["headers"], body.decode("utf-8")


def mounted(api, **kwargs):
    app = DashboardApp(**kwargs)
    app.buildbot_api = api
    return app


class Tags(HTMLParser):
    """Checks the fragment nests properly and collects its tags."""
    VOID = {"br", "circle", "polyline", "line"}

    def __init__(self):
        super().__init__()
        self.stack, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        assert self.stack and self.stack[-1] == tag, (self.stack, tag)
        self.stack.pop()


def rows_of(body):
    return [re.sub(r"<[^>]+>", "|", tr)
            for tr in re.findall(r'<tr class="vkd-row[^"]*"[^>]*>(.*?)</tr>', body)]


def test_page_shows_every_build_newest_first_with_its_numbers():
    status, headers, body = call(mounted(standard_api(), builders=["vkckpt-master"]))
    assert status == "200 OK" and headers["Content-Type"] == "text/html; charset=utf-8"
    parser = Tags()
    parser.feed(body)
    assert parser.stack == []
    assert "docs" not in body                       # only the builders asked for
    rows = rows_of(body)
    assert [re.search(r"#(\d+)", r).group(1) for r in rows] == ["3", "2", "1"]
    running, red, green = rows
    assert "running" in running and running.count(DASH) == 6
    assert "8 / 1 / 6" in red and "failure" in red and "failed: memory" in red
    assert "guest-suite|: test: 8 passed, 1 failed, 6 xfail" in red
    assert "9 / 0 / 6" in green and "2/2 ok" in green and "success" in green
    # the median over the cycles, the first cycle apart, the others' range
    for text in ("1.200 s||1st 1.000 s||later 1.400 s", "600 ms", "300 ms", "11.0 MiB",
                 "aaaaaaaaaaaa"):
        assert text in green, (text, green)
    # every cycle's exact value in the tooltip
    assert 'title="cycle 1: 10485760; cycle 2: 12582912"' in body
    assert 'title="cycle 1: 1; cycle 2: 1.4"' in body
    assert 'href="/#/builders/7/builds/2"' in body
    # no script, no external asset: the UI shows the fragment as it is
    assert "<script" not in body and not any("src" in attrs for _t, attrs in parser.tags)


def test_sparklines_run_oldest_to_newest_with_gaps_and_red_dots():
    body = call(mounted(standard_api(), builders=["vkckpt-master"]))[2]
    svgs = re.findall(r"<svg .*?</svg>", body)
    assert len(svgs) == 3
    ckpt = svgs[0]
    # a scale from zero to a round top, both labelled
    assert re.findall(r'<text class="vkd-scale"[^>]*>([^<]+)</text>', ckpt) == ["2.500 s", "0"]
    # two builds with a value (the running one has none): one segment of two points
    points = re.search(r'<polyline points="([^"]+)"', ckpt).group(1).split()
    assert len(points) == 2
    (x1, y1), (x2, y2) = (map(float, p.split(",")) for p in points)
    assert x1 < x2 and y2 < y1                       # #2 checkpointed slower: higher
    assert re.findall(r"<title>([^<]+)</title>", ckpt) == ["#1: 1.200 s", "#2: 2.100 s"]
    assert ckpt.count('class="vkd-red"') == 1
    assert "latest 2.100 s" in body and "latest 20.0 MiB" in body


def test_sparkline_with_no_values_or_one_value():
    assert sparkline("x", [("#1", None, [])], str) .endswith(f"{DASH}</span>")
    one = sparkline("x", [("#1", 5.0, [])], str)
    assert "<polyline" not in one and one.count("<circle") == 1


def test_finished_builds_are_read_once():
    api = standard_api()
    app = mounted(api, builders=["vkckpt-master"])
    call(app)
    first = len(api.calls)
    # builders, builds; per finished build steps, sets, properties, changes, 6 sets' results
    # (+ the failing step's logs); the running build's first four
    assert first == 2 + 10 + 11 + 4
    api.calls.clear()
    call(app)
    paths = [c[0] for c in api.calls]
    # builders, the builder's builds, and the running build's steps/sets/properties/changes
    assert paths[:2] == [("builders",), ("builders", "7", "builds")]
    assert len(paths) == 6, paths
    assert all(p[1] == paths[2][1] for p in paths[2:])   # all about the running build
    # the page shows 20, and reads 5 more for the oldest shown builds' regression baseline
    assert api.calls[1][1] == {"order": ["-number"], "limit": 25}


def test_limit_and_builder_from_the_url():
    api = standard_api()
    body = call(mounted(api), query="limit=2&builder=vkckpt-master")[2]
    assert [re.search(r"#(\d+)", r).group(1) for r in rows_of(body)] == ["3", "2"]
    assert "<h3>docs</h3>" not in body
    body = call(mounted(api), query="limit=junk")[2]
    assert "<h3>docs</h3>" in body and "no builds yet" in body


def test_builders_by_tag():
    body = call(mounted(standard_api(), tags=["vkckpt"]))[2]
    assert "<h3>vkckpt-master</h3>" in body and "<h3>docs</h3>" not in body


def test_a_build_the_api_cannot_read_shows_as_a_row():
    api = standard_api()
    build = api.answers[("builders", "7", "builds")][0]
    api.answers[("builds", str(build["buildid"]), "steps")] = RuntimeError("db went away")
    app = mounted(api, builders=["vkckpt-master"])
    status, _h, body = call(app)
    assert status == "200 OK"
    assert "could not read this build: db went away" in body
    api.calls.clear()
    call(app)      # not cached: read again next time
    assert ("builds", str(build["buildid"]), "steps") in [c[0] for c in api.calls]


def test_text_from_the_master_is_escaped():
    api = FakeApi()
    api.add_builder("<b>x</b>", 1)
    api.add_build(1, 1, results=2, steps=[("<img src=x>", 2, "<script>alert(1)</script>")])
    body = call(mounted(api))[2]
    assert "<script>alert" not in body and "<img" not in body and "<b>x</b>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_other_paths_unmounted_and_broken_api():
    assert call(mounted(standard_api()), path="/other")[0] == "404 Not Found"
    assert call(DashboardApp())[0] == "503 Service Unavailable"
    api = FakeApi()
    api.answers[("builders",)] = RuntimeError("no database")
    status, _h, body = call(mounted(api))
    assert status.startswith("500") and "no database" in body
    api.answers[("builders",)] = "garbage"
    status, _h, body = call(mounted(api))
    assert status == "200 OK" and "no builders to show" in body
