"""The full-logs page: what FullLogsApp serves, what it refuses, and the URL the steps link."""
import gzip
import os
from types import SimpleNamespace

import pytest

from buildbot_vkckpt.fulllogs import FullLogsApp, add_full_logs, url_for


def call(app, path, query=""):
    answer = {}

    def start_response(status, headers):
        answer["status"], answer["headers"] = status, dict(headers)
    body = b"".join(app(
        {"PATH_INFO": path, "QUERY_STRING": query}, start_response))
    return answer["status"], answer["headers"], body


@pytest.fixture
def master(tmp_path):
    logs = tmp_path / "artifacts" / "vkckpt master" / "7"
    logs.mkdir(parents=True)
    (logs / "buildworld.log.gz").write_bytes(gzip.compress(b">>> stage 4b: x\n" * 1000))
    (logs / "console.log").write_text("not a full log")
    (tmp_path / "master.cfg").write_text("secret")
    c = {"www": {"plugins": {}}}
    app = add_full_logs(c)
    app.buildbot_api = SimpleNamespace(master=SimpleNamespace(basedir=str(tmp_path)))
    return SimpleNamespace(basedir=str(tmp_path), app=app, c=c, config=SimpleNamespace(
        www=c["www"], buildbotURL="http://ci.example.org:8010/"))


def test_serves_a_full_log_as_gzip_encoded_text(master):
    status, headers, body = call(master.app, "/vkckpt master/7/buildworld.log.gz")
    assert status == "200 OK"
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert gzip.decompress(body) == b">>> stage 4b: x\n" * 1000
    status, headers, body = call(master.app, "/vkckpt master/7/buildworld.log.gz", "download")
    assert headers["Content-Type"] == "application/gzip" and "Content-Encoding" not in headers
    assert 'attachment; filename="buildworld.log.gz"' == headers["Content-Disposition"]


@pytest.mark.parametrize("path", [
    "/vkckpt master/7/console.log", "/vkckpt master/7/../../master.cfg",
    "/../artifacts/vkckpt master/7/buildworld.log.gz", "/vkckpt master/7/.x.log.gz",
    "/vkckpt master/buildworld.log.gz", "/vkckpt master/7/nothere.log.gz",
    "/vkckpt master/7/buildworld.log.gz/x"])
def test_refuses_everything_else(master, path):
    assert call(master.app, path)[0] == "404 Not Found"


def test_symlink_out_of_the_artifacts_is_refused(master, tmp_path):
    os.symlink(tmp_path / "master.cfg", tmp_path / "artifacts" / "vkckpt master" / "7" /
               "evil.log.gz")
    assert call(master.app, "/vkckpt master/7/evil.log.gz")[0] == "404 Not Found"


def test_index_lists_the_logs(master):
    status, _, body = call(master.app, "/")
    assert status == "200 OK"
    assert b'href="vkckpt%20master/7/buildworld.log.gz"' in body
    assert b"console.log" not in body


def test_url_for_a_file_under_the_mounted_app(master, tmp_path):
    path = tmp_path / "artifacts" / "vkckpt master" / "7" / "buildworld.log.gz"
    assert url_for(master, str(path)) == ("http://ci.example.org:8010/plugins/wsgi_dashboards/"
                                          "vkckpt-logs/vkckpt%20master/7/buildworld.log.gz")
    assert url_for(master, str(tmp_path / "elsewhere" / "a" / "b.log.gz")) is None
    master.c["www"]["plugins"]["wsgi_dashboards"] = []
    assert url_for(master, str(path)) is None


def test_add_full_logs_keeps_other_dashboards_and_refuses_twice():
    other = {"name": "vkckpt", "caption": "x", "app": object()}
    c = {"www": {"plugins": {"wsgi_dashboards": [other]}}}
    assert add_full_logs(c) is not None
    assert [d["name"] for d in c["www"]["plugins"]["wsgi_dashboards"]] == ["vkckpt",
                                                                           "vkckpt-logs"]
    from buildbot.config.errors import ConfigErrors, capture_config_errors
    with pytest.raises(ConfigErrors):
        with capture_config_errors(raise_on_error=True):
            add_full_logs(c)
    assert add_full_logs({}) is None
