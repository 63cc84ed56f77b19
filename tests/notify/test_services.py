"""notify/services.py and add_to_config(notify=...): the reporters, checked at checkconfig."""
import pytest
from buildbot import config as bb_config
from buildbot.reporters.http import HttpStatusPush
from buildbot.reporters.mail import MailNotifier

from buildbot_vkckpt.config import add_to_config
from buildbot_vkckpt.notify import NoticeFormatter, StateChangeGenerator, notifiers
from buildbot_vkckpt.notify.irc import IRCNotifier

REPO = "https://gitweb.dragonflybsd.org/dragonfly.git"
MAIL = {"to": ["kernel@lists.dragonflybsd.org"], "fromaddr": "bb@dragonflybsd.org"}
IRC = {"host": "irc.libera.chat", "nick": "dfly-vkckpt", "channels": ["#dragonflybsd"]}


def generator(service):
    gen, = service.generators if service.generators else service._config_kwargs["generators"]
    assert isinstance(gen, StateChangeGenerator) and isinstance(gen.formatter, NoticeFormatter)
    return gen


def test_add_to_config_wires_mail_and_webhook_on_its_builders():
    c = {"www": {"port": 8010}, "services": ["a reporter"]}
    added = add_to_config(c, ["w1"], REPO, branches=["master", "rel"], notify={
        "mail": dict(MAIL, relayhost="smtp.example.org", port=587, tls=True),
        "webhook": ["https://chat.example.org/a", {"url": "http://127.0.0.1:9/b",
                                                   "headers": {"X-Token": "t"}}]})
    assert c["services"][0] == "a reporter"
    mail, hook_a, hook_b = c["services"][1:]
    assert isinstance(mail, MailNotifier) and isinstance(hook_a, HttpStatusPush)
    assert added.notifiers == ["vkckpt-mail", "vkckpt-webhook-0", "vkckpt-webhook-1"]
    kw = mail._config_kwargs
    assert (kw["relayhost"], kw["smtpPort"], kw["useTls"]) == ("smtp.example.org", 587, True)
    assert kw["extraRecipients"] == MAIL["to"] and kw["sendToInterestedUsers"] is False
    for service, style in ((mail, "mail"), (hook_a, "webhook"), (hook_b, "webhook")):
        gen = generator(service)
        assert gen.builders == ["vkckpt-master", "vkckpt-rel"]
        assert gen.events == ("red", "green", "culprit")
        assert gen.formatter.style == style and gen.formatter.dashboard == "vkckpt"
    assert hook_b._config_kwargs["headers"] == {"X-Token": "t"}


def test_irc_gets_the_chat_lines_on_the_tls_port_by_default():
    irc, = notifiers({"irc": dict(IRC, tls=True)}, ["b"], prefix="p")
    assert isinstance(irc, IRCNotifier) and irc.name == "p-irc"
    assert irc._config_kwargs["port"] == 6697 and irc._config_kwargs["tls"] is True
    assert generator(irc).formatter.style == "chat"
    plain, = notifiers({"irc": IRC}, ["b"])
    assert plain._config_kwargs["port"] == 6667


def test_no_notify_adds_no_reporter_and_no_www_means_no_trends_link():
    c = {}
    add_to_config(c, ["w1"], REPO)
    assert c.get("services", []) == []
    services = notifiers({"webhook": "http://h/x", "events": ["failing"]}, ["b"])
    assert generator(services[0]).formatter.dashboard is None
    assert generator(services[0]).events == ("failing",)


@pytest.mark.parametrize("notify, message", [
    ("kernel@lists", "notify must be a dict with 'mail', 'webhook' and/or 'irc'"),
    ({}, "notify must be a dict"),
    ({"events": ["red"]}, "notify needs 'mail', 'webhook' or 'irc'"),
    ({"mial": MAIL}, "notify has no key 'mial'"),
    ({"mail": "kernel@x.org"}, "notify['mail'] must be a dict with 'to' and 'fromaddr'"),
    ({"mail": dict(MAIL, to="not-an-address")}, "notify['mail']['to'] must be a list of mail"),
    ({"mail": dict(MAIL, to=[])}, "notify['mail']['to'] must be a list of mail"),
    ({"mail": {"to": MAIL["to"]}}, "notify['mail']['fromaddr'] must be a mail address"),
    ({"mail": dict(MAIL, port="25")}, "notify['mail']['port'] must be a TCP port"),
    ({"mail": dict(MAIL, tls="yes")}, "notify['mail']['tls'] must be True or False"),
    ({"mail": dict(MAIL, user="bb")}, "notify['mail'] needs both 'user' and 'password'"),
    ({"mail": dict(MAIL, cc="x@y.z")}, "notify['mail'] has no key 'cc'"),
    ({"webhook": "ftp://x/y"}, "notify['webhook']['url'] must be an http:// or https://"),
    ({"webhook": ["http://a/", 3]}, "notify['webhook'][1] must be a URL or a dict"),
    ({"webhook": {"url": "http://a/", "headers": "X: y"}},
     "notify['webhook']['headers'] must be a dict"),
    ({"irc": "irc.libera.chat"}, "notify['irc'] must be a dict with 'host', 'nick'"),
    ({"irc": dict(IRC, host="")}, "notify['irc']['host'] must be a host name"),
    ({"irc": dict(IRC, nick="9lives")}, "notify['irc']['nick'] must be an IRC nick"),
    ({"irc": dict(IRC, channels="#dfly")}, "notify['irc']['channels'] must be a list of"),
    ({"irc": dict(IRC, channels=["dfly"])}, "notify['irc']['channels'] must be a list of"),
    ({"irc": dict(IRC, port=0)}, "notify['irc']['port'] must be a TCP port"),
    ({"irc": dict(IRC, ssl=True)}, "notify['irc'] has no key 'ssl'"),
    ({"webhook": "http://a/", "events": "red"}, "notify['events'] must be a list of red, "
                                                "green, culprit, failing, exception"),
    ({"webhook": "http://a/", "events": ["red", "blue"]}, "notify['events'] must be a list"),
])
def test_a_wrong_value_names_the_key(notify, message):
    with pytest.raises(bb_config.ConfigErrors) as info:
        add_to_config({}, ["w1"], REPO, notify=notify)
    assert any(e.startswith(f"add_to_config: {message}") for e in info.value.errors), \
        info.value.errors


def test_a_service_name_already_taken_is_a_clear_error():
    c = {"services": [HttpStatusPush(serverUrl="http://x/", name="vkckpt-webhook-0")]}
    with pytest.raises(bb_config.ConfigErrors) as info:
        add_to_config(c, ["w1"], REPO, notify={"webhook": "http://a/"})
    assert info.value.errors == ["add_to_config: a service named 'vkckpt-webhook-0' already "
                                 "exists (called twice? use another builder_prefix)"]
