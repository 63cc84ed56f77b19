"""The project's page in the Buildbot web UI: checkpoint trends across builds.

Buildbot 4.3's UI stores test results but does not show them; this page does, per builder: the
last builds with their guest suite counts, checkpoint cycle times and file sizes, sparklines of
the trends, and what failed in red builds. It is a WSGI app served by Buildbot's
``wsgi_dashboards`` plugin (package ``buildbot-wsgi-dashboards``). See docs/dashboard.rst.
"""
import re

from buildbot import config as bb_config

from buildbot_vkckpt.www import regression
from buildbot_vkckpt.www.app import DEFAULT_LIMIT, DashboardApp
from buildbot_vkckpt.revlinks import DRAGONFLY_GITWEB

PLUGIN = "wsgi_dashboards"
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")


def add_dashboard(c, name="vkckpt", caption="vkernel checkpoints", builders=None, tags=None,
                  limit=DEFAULT_LIMIT, order=5,
                  regression_baseline=regression.DEFAULT_BASELINE,
                  regression_threshold=regression.DEFAULT_THRESHOLD,
                  revision_url=DRAGONFLY_GITWEB):
    """Register the page in ``c['www']['plugins']['wsgi_dashboards']``, next to the plugins
    and dashboards already there; returns the :class:`DashboardApp`, or None when ``c`` has
    no ``www`` dict (no web UI to add a page to) or on a config error.

    name      URL path part and menu key (``#/<name>`` in the UI)
    caption   the menu entry's text
    builders  names of the builders to show; ``tags``: builders with one of these tags;
              neither: every builder of the master
    limit     builds per builder (the URL can ask ``?limit=N``)
    regression_baseline, regression_threshold
              a metric more than ``threshold`` (0.25 = +25 %) above the median of the
              previous ``baseline`` green builds is flagged "slower than usual"
    revision_url
              the web view of a commit, ``{revision}`` standing for its full hash (DragonFly's
              gitweb by default); None: the link the change itself carries, if any
    """
    owner = "add_dashboard"
    if not isinstance(c, dict) or c.get("www") is None:
        return None
    www = c["www"]
    if not isinstance(www, dict):
        bb_config.error(f"{owner}: c['www'] must be a dict, not {type(www).__name__}")
        return None
    if not isinstance(name, str) or not NAME.match(name):
        bb_config.error(f"{owner}: name must be letters, digits, '_', '.', '-', not {name!r}")
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        bb_config.error(f"{owner}: limit must be a positive number of builds, not {limit!r}")
        return None
    problem = regression.check_settings(regression_baseline, regression_threshold)
    if problem:
        bb_config.error(f"{owner}: {problem}")
        return None
    if revision_url is not None and (not isinstance(revision_url, str)
                                     or "{revision}" not in revision_url):
        bb_config.error(f"{owner}: revision_url must be a URL with {{revision}} in it "
                        f"(or None), not {revision_url!r}")
        return None
    if www.get("plugins") is None:
        www["plugins"] = {}
    plugins = www["plugins"]
    if not isinstance(plugins, dict):
        bb_config.error(f"{owner}: c['www']['plugins'] must be a dict, "
                        f"not {type(plugins).__name__}")
        return None
    dashboards = plugins.get(PLUGIN)
    if dashboards is None:
        dashboards = []
    elif isinstance(dashboards, tuple):
        dashboards = list(dashboards)
    elif not isinstance(dashboards, list):
        bb_config.error(f"{owner}: c['www']['plugins'][{PLUGIN!r}] must be a list of "
                        f"dashboards, not {type(dashboards).__name__}")
        return None
    if name in {d.get("name") for d in dashboards if isinstance(d, dict)}:
        bb_config.error(f"{owner}: a dashboard named {name!r} already exists (called twice? "
                        "pass another name)")
        return None
    app = DashboardApp(builders=builders, tags=tags, limit=limit, title=caption,
                       regression_baseline=regression_baseline,
                       regression_threshold=regression_threshold, revision_url=revision_url)
    # buildbot-wsgi-dashboards 4.3.0 looks icons up by list index, so every entry gets its
    # generic icon whatever is configured (and logs "Could not find icon"); but an entry
    # without an icon string stops the UI's plugin setup (capitalize(undefined)): no menu
    # entry, no page
    dashboards.append({"name": name, "caption": caption, "app": app, "order": order,
                       "icon": "chart-line"})
    plugins[PLUGIN] = dashboards
    return app


__all__ = ["DashboardApp", "add_dashboard"]
