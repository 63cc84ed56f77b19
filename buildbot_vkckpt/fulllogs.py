"""Serve the gzipped full build logs of BuildWorld/BuildKernel's digest mode in the web UI.

In ``log_mode="digest"`` the whole make output lands on the master as
``<master basedir>/artifacts/<builder>/<build number>/<step>.log.gz``. Buildbot serves no
files of its own, so :func:`add_full_logs` mounts :class:`FullLogsApp`, a small WSGI app, with
Buildbot's ``wsgi_dashboards`` www plugin (the one the checkpoint dashboard uses) under
``plugins/wsgi_dashboards/<name>/``; the steps then link each build's file from the step
("full log (… MB gzip)") — one click, and the browser shows the text (the file is sent as
``text/plain`` with ``Content-Encoding: gzip``; ``?download`` sends the ``.gz`` itself).

Only ``*.log.gz`` files three levels under ``artifacts/`` are served, by plain names (no
``..``, no hidden files); the page is as public as the web UI that serves it.
"""
import os
import re
from html import escape
from urllib.parse import quote

from buildbot import config as bb_config

PLUGIN = "wsgi_dashboards"
ARTIFACTS = "artifacts"
BLOCK = 256 * 1024
_PART = re.compile(r"[^/\x00]+\Z")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")


class FullLogsApp:
    """WSGI app: ``/<builder>/<build number>/<file>.log.gz`` from the master's artifacts."""

    def __init__(self, title="full build logs", root=None):
        self.title = title
        self.root = root                # default: <master basedir>/artifacts
        self.buildbot_api = None        # set by the wsgi_dashboards plugin

    def artifacts_root(self):
        if self.root is not None:
            return os.path.abspath(self.root)
        master = getattr(self.buildbot_api, "master", None)
        return os.path.abspath(os.path.join(getattr(master, "basedir", None) or ".",
                                            ARTIFACTS))

    def __call__(self, environ, start_response):
        parts = [p for p in (environ.get("PATH_INFO") or "/").split("/") if p]
        if parts in ([], ["index.html"]):
            return self._page(start_response)
        path = self._file(parts)
        if path is None:
            return self._answer(start_response, "404 Not Found",
                                "<p>no such full log here</p>")
        download = "download" in (environ.get("QUERY_STRING") or "")
        name = parts[-1] if download else parts[-1][:-len(".gz")]
        headers = [("Content-Length", str(os.path.getsize(path))),
                   ("Content-Disposition", f'{"attachment" if download else "inline"}; '
                                           f'filename="{name}"')]
        if download:
            headers.append(("Content-Type", "application/gzip"))
        else:
            headers += [("Content-Type", "text/plain; charset=utf-8"),
                        ("Content-Encoding", "gzip")]
        start_response("200 OK", headers)
        return _blocks(path)

    def _file(self, parts):
        if len(parts) != 3 or not parts[2].endswith(".log.gz"):
            return None
        if any(not _PART.match(p) or p in (".", "..") or p.startswith(".") for p in parts):
            return None
        root = self.artifacts_root()
        path = os.path.realpath(os.path.join(root, *parts))
        if not path.startswith(os.path.realpath(root) + os.sep) or not os.path.isfile(path):
            return None
        return path

    def _page(self, start_response, limit=50):
        root = self.artifacts_root()
        found = []
        try:
            for builder in os.listdir(root):
                bdir = os.path.join(root, builder)
                for number in os.listdir(bdir) if os.path.isdir(bdir) else ():
                    ndir = os.path.join(bdir, number)
                    for name in os.listdir(ndir) if os.path.isdir(ndir) else ():
                        if name.endswith(".log.gz"):
                            path = os.path.join(ndir, name)
                            found.append((os.path.getmtime(path), builder, number, name,
                                          os.path.getsize(path)))
        except OSError:
            pass
        rows = "".join(
            f'<tr><td>{escape(b)}</td><td>{escape(n)}</td><td><a href="{quote(b)}/{quote(n)}/'
            f'{quote(f)}" target="_blank">{escape(f)}</a></td><td>{size / 1e6:.1f} MB</td></tr>'
            for _, b, n, f, size in sorted(found, reverse=True)[:limit])
        body = (f"<h2>{escape(self.title)}</h2><p>The whole make output of the last builds "
                f"(each build step links its own).</p><table><tr><th>builder</th><th>build"
                f"</th><th>log</th><th>gzip</th></tr>{rows}</table>")
        return self._answer(start_response, "200 OK", body)

    @staticmethod
    def _answer(start_response, status, body):
        data = body.encode()
        start_response(status, [("Content-Type", "text/html; charset=utf-8"),
                                ("Content-Length", str(len(data)))])
        return [data]


def _blocks(path):
    with open(path, "rb") as f:
        while True:
            block = f.read(BLOCK)
            if not block:
                return
            yield block


def add_full_logs(c, name="vkckpt-logs", caption="full build logs", order=6,
                  icon="FaFileAlt"):
    """Mount :class:`FullLogsApp` in ``c['www']['plugins']['wsgi_dashboards']``; returns it,
    or None when ``c`` has no web UI or on a config error."""
    owner = "add_full_logs"
    if not isinstance(c, dict) or not isinstance(c.get("www"), dict):
        return None
    if not isinstance(name, str) or not _NAME.match(name):
        bb_config.error(f"{owner}: name must be letters, digits, '_', '.', '-', not {name!r}")
        return None
    plugins = c["www"].setdefault("plugins", {})
    dashboards = list(plugins.get(PLUGIN) or [])
    if name in {d.get("name") for d in dashboards if isinstance(d, dict)}:
        bb_config.error(f"{owner}: a wsgi dashboard named {name!r} already exists")
        return None
    app = FullLogsApp(title=caption)
    dashboards.append({"name": name, "caption": caption, "app": app, "order": order,
                       "icon": icon})
    plugins[PLUGIN] = dashboards
    return app


def url_for(master, path):
    """The URL under which a mounted :class:`FullLogsApp` serves ``path`` (a file on the
    master), or None when no such app is mounted or the file is not under its root."""
    config = getattr(master, "config", None)
    www = getattr(config, "www", None) or {}
    base = getattr(config, "buildbotURL", None)
    if not base or not isinstance(www, dict):
        return None
    for dashboard in (www.get("plugins") or {}).get(PLUGIN) or []:
        app = dashboard.get("app") if isinstance(dashboard, dict) else None
        if not isinstance(app, FullLogsApp):
            continue
        root = app.root and os.path.abspath(app.root) or os.path.abspath(
            os.path.join(getattr(master, "basedir", None) or ".", ARTIFACTS))
        rel = os.path.relpath(os.path.abspath(path), root)
        parts = rel.split(os.sep)
        if len(parts) != 3 or parts[0] == "..":
            continue
        return (f"{base.rstrip('/')}/plugins/{PLUGIN}/{quote(dashboard['name'])}/"
                + "/".join(quote(p) for p in parts))
    return None
