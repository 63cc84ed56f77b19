"""add_dashboard / add_to_config(dashboard=True): the page joins c['www'] without clobbering."""
import pytest
from buildbot.config.errors import capture_config_errors

from buildbot_vkckpt.config import add_to_config
from buildbot_vkckpt.www import DashboardApp, add_dashboard


def errors_of(fn, *args, **kwargs):
    with capture_config_errors(raise_on_error=False) as errors:
        result = fn(*args, **kwargs)
    return result, errors.errors


def test_existing_plugins_and_dashboards_stay():
    other = {"name": "theirs", "app": object()}
    c = {"www": {"port": 8010, "plugins": {"waterfall_view": {"x": 1},
                                           "wsgi_dashboards": [other]}}}
    app, errors = errors_of(add_dashboard, c, builders=["vkckpt-master"])
    assert errors == []
    plugins = c["www"]["plugins"]
    assert plugins["waterfall_view"] == {"x": 1} and c["www"]["port"] == 8010
    assert plugins["wsgi_dashboards"][0] is other
    ours = plugins["wsgi_dashboards"][1]
    assert ours["name"] == "vkckpt" and ours["app"] is app and isinstance(app, DashboardApp)
    assert app.builders == ["vkckpt-master"] and ours["caption"] == "vkernel checkpoints"
    # buildbot-wsgi-dashboards 4.3.0 capitalizes the icon: an entry without one breaks the UI
    assert isinstance(ours["icon"], str) and ours["icon"]


def test_missing_plugins_are_created_and_no_www_adds_nothing():
    c = {"www": {"port": 8010}}
    assert add_dashboard(c) is not None
    assert [d["name"] for d in c["www"]["plugins"]["wsgi_dashboards"]] == ["vkckpt"]
    c = {"www": {"plugins": {"wsgi_dashboards": ({"name": "a"},)}}}
    add_dashboard(c)
    assert [d["name"] for d in c["www"]["plugins"]["wsgi_dashboards"]] == ["a", "vkckpt"]
    c = {}
    assert add_dashboard(c) is None and c == {}


@pytest.mark.parametrize("c, kwargs, words", [
    ({"www": {"plugins": {"wsgi_dashboards": [{"name": "vkckpt"}]}}}, {}, "already exists"),
    ({"www": {"plugins": ["x"]}}, {}, "must be a dict"),
    ({"www": {"plugins": {"wsgi_dashboards": "x"}}}, {}, "must be a list"),
    ({"www": "x"}, {}, "must be a dict"),
    ({"www": {}}, {"name": "a/b"}, "name must be"),
    ({"www": {}}, {"limit": 0}, "limit must be"),
])
def test_config_errors(c, kwargs, words):
    app, errors = errors_of(add_dashboard, c, **kwargs)
    assert app is None and len(errors) == 1 and words in errors[0], errors


def test_add_to_config_registers_its_builders_page():
    # poll=False protects the change hook with a secret, so the master needs a provider
    c = {"www": {"port": 8010, "plugins": {"console_view": {}}}, "secretsProviders": ["p"]}
    added, errors = errors_of(add_to_config, c, workers=["w"], repourl="file:///r",
                              branches=["master", "rel"], poll=False)
    assert errors == []
    assert added.dashboard == "vkckpt"
    dash, logs = c["www"]["plugins"]["wsgi_dashboards"]
    assert dash["app"].builders == ["vkckpt-master", "vkckpt-rel"]
    assert logs["name"] == "vkckpt-logs"      # the full build logs, one page per master
    assert c["www"]["plugins"]["console_view"] == {}
    # a second prefix gets its own page
    added, errors = errors_of(add_to_config, c, workers=["w"], repourl="file:///r",
                              builder_prefix="vk2", poll=False)
    assert errors == [] and added.dashboard == "vk2"
    assert [d["caption"] for d in c["www"]["plugins"]["wsgi_dashboards"]] == [
        "vkernel checkpoints", "full build logs", "vkernel checkpoints (vk2)"]


def test_add_to_config_without_the_page():
    c = {"www": {"port": 8010, "plugins": {}}}
    added, errors = errors_of(add_to_config, c, workers=["w"], repourl="file:///r",
                              dashboard=False)
    assert errors == [] and added.dashboard is None and c["www"]["plugins"] == {}
