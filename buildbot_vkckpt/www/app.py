"""The dashboard as a plain WSGI application for Buildbot's ``wsgi_dashboards`` www plugin.

The plugin sets ``app.buildbot_api`` (its ``dataGet`` is the data API, called from the WSGI
thread), serves the app under ``plugins/wsgi_dashboards/<name>/`` and shows what
``index.html`` returns inside the UI, next to the other pages of its menu.
"""
import dataclasses
from html import escape
from urllib.parse import parse_qs

from twisted.python import log

from buildbot_vkckpt.www import regression, render
from buildbot_vkckpt.www.collect import Collector
from buildbot_vkckpt.revlinks import DRAGONFLY_GITWEB

DEFAULT_LIMIT = 20
MAX_LIMIT = 200
PLUGIN_PATH = "/plugins/wsgi_dashboards/"


class DashboardApp:
    """Checkpoint trends of ``builders`` (names; or every builder with one of ``tags``; or
    every builder), ``limit`` builds each unless the URL asks ``?limit=N``. A metric more than
    ``regression_threshold`` above the median of the previous ``regression_baseline`` green
    builds is flagged; ``revision_url`` is the commit link, ``{revision}`` the full hash."""

    def __init__(self, builders=None, tags=None, limit=DEFAULT_LIMIT,
                 title="vkernel checkpoints", regression_baseline=regression.DEFAULT_BASELINE,
                 regression_threshold=regression.DEFAULT_THRESHOLD,
                 revision_url=DRAGONFLY_GITWEB):
        self.builders = list(builders) if builders else None
        self.tags = list(tags) if tags else None
        self.limit = limit
        self.title = title
        self.baseline = regression_baseline
        self.threshold = regression_threshold
        self.revision_url = revision_url
        self.buildbot_api = None        # set by the wsgi_dashboards plugin
        self._collector = None

    @property
    def collector(self):
        if self._collector is None:
            self._collector = Collector(self.buildbot_api.dataGet)
        return self._collector

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO") or "/"
        if path not in ("/", "/index.html"):
            return self._answer(start_response, "404 Not Found",
                                f"<p>no page {escape(path)} here; see index.html</p>")
        if self.buildbot_api is None:
            return self._answer(start_response, "503 Service Unavailable",
                                "<p>the dashboard is not mounted in a Buildbot master</p>")
        query = parse_qs(environ.get("QUERY_STRING") or "")
        try:
            body = self.page(limit=self._limit(query), only=query.get("builder"),
                             base_url=self._base_url(environ))
        except Exception as exc:        # the data API itself failed: say so, keep serving
            log.err(exc, "vkckpt dashboard")
            return self._answer(start_response, "500 Internal Server Error",
                                f"<p>the dashboard could not read the builds: "
                                f"{escape(str(exc))}</p>")
        return self._answer(start_response, "200 OK", body)

    def page(self, limit=None, only=None, base_url=""):
        limit = limit or self.limit
        builders = self.collector.builders(self.builders, self.tags)
        if only:
            builders = [b for b in builders if b["name"] in only]
        sections = []
        for b in builders:
            # the oldest shown builds need their own earlier green builds as a baseline;
            # flags are set on copies: cached rows are shared by concurrent pages
            rows = [dataclasses.replace(r)
                    for r in self.collector.rows(b["builderid"], limit + self.baseline)]
            flagged = regression.flag(rows, self.baseline, self.threshold)
            shown = rows[:limit]
            ids = {id(r) for r in shown}
            sections.append((b["name"], shown, [r for r in flagged if id(r) in ids]))
        return render.page(self.title, sections, limit, base_url=base_url,
                           threshold=self.threshold, baseline=self.baseline,
                           url_template=self.revision_url)

    def _limit(self, query):
        try:
            value = int(query.get("limit", [""])[0])
        except ValueError:
            return self.limit
        return min(max(value, 1), MAX_LIMIT)

    def _base_url(self, environ):
        """The UI's address: the master's buildbotURL, else the root above the plugin path."""
        master = getattr(self.buildbot_api, "master", None)
        url = getattr(getattr(master, "config", None), "buildbotURL", None)
        if isinstance(url, str) and url:
            return url
        script = environ.get("SCRIPT_NAME") or ""
        return script.split(PLUGIN_PATH, 1)[0] + "/" if PLUGIN_PATH in script else ""

    @staticmethod
    def _answer(start_response, status, body):
        data = body.encode("utf-8")
        start_response(status, [("Content-Type", "text/html; charset=utf-8"),
                                ("Content-Length", str(len(data))),
                                ("Cache-Control", "no-cache")])
        return [data]
