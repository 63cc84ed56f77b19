"""``add_to_config(notify=...)``: the reporters, checked at checkconfig with the key named.

::

    notify={
        "mail": {"to": ["kernel@lists.dragonflybsd.org"], "fromaddr": "buildbot@example.org",
                 "relayhost": "localhost", "port": 25, "tls": False, "smtps": False,
                 "user": None, "password": None, "blamelist": False},
        "webhook": "https://chat.example.org/hooks/vkckpt",   # or {"url", "headers"}, or a list
        "irc": {"host": "irc.libera.chat", "port": 6697, "tls": True, "nick": "dfly-vkckpt",
                "channels": ["#dragonflybsd"], "password": None},
        "events": ["red", "green", "culprit"],                # the default
    }
"""
import re

from buildbot import config as bb_config
from buildbot.reporters.http import HttpStatusPush
from buildbot.reporters.mail import MailNotifier

from buildbot_vkckpt.notify.events import DEFAULT_EVENTS, EVENTS
from buildbot_vkckpt.notify.formatter import NoticeFormatter
from buildbot_vkckpt.notify.generator import StateChangeGenerator
from buildbot_vkckpt.notify.irc import IRCNotifier

KEYS = ("mail", "webhook", "irc", "events")
MAIL_KEYS = ("to", "fromaddr", "relayhost", "port", "tls", "smtps", "user", "password",
             "blamelist")
WEBHOOK_KEYS = ("url", "headers")
IRC_KEYS = ("host", "port", "nick", "channels", "password", "tls")
NICK = re.compile(r"[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}-]{0,29}\Z")
CHANNEL = re.compile(r"[#&][^\s,\x07]{1,49}\Z")
ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+\Z")


class NotifyConfig:
    """Collects the errors of one ``notify`` value, each naming its key."""

    def __init__(self, owner, prefix):
        self.owner = owner
        self.prefix = prefix            # of the services' names
        self.ok = True

    def error(self, where, text):
        self.ok = False
        bb_config.error(f"{self.owner}: notify{where} {text}")


def _unknown(cfg, where, value, keys):
    for key in sorted(set(value) - set(keys), key=str):
        cfg.error(where, f"has no key {key!r} (known: {', '.join(keys)})")


def _mail(cfg, mail, generator):
    where = "['mail']"
    if not isinstance(mail, dict):
        cfg.error(where, f"must be a dict with 'to' and 'fromaddr', not {mail!r}")
        return None
    _unknown(cfg, where, mail, MAIL_KEYS)
    to = mail.get("to")
    if isinstance(to, str):
        to = [to]
    if not isinstance(to, (list, tuple)) or not to or not all(
            isinstance(a, str) and ADDRESS.match(a) for a in to):
        cfg.error(f"{where}['to']", f"must be a list of mail addresses, not {to!r}")
    fromaddr = mail.get("fromaddr")
    if not isinstance(fromaddr, str) or not ADDRESS.match(fromaddr):
        cfg.error(f"{where}['fromaddr']", f"must be a mail address, not {fromaddr!r}")
    port = mail.get("port", 25)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        cfg.error(f"{where}['port']", f"must be a TCP port number, not {port!r}")
    relayhost = mail.get("relayhost", "localhost")
    if not isinstance(relayhost, str) or not relayhost:
        cfg.error(f"{where}['relayhost']", f"must be a host name, not {relayhost!r}")
    for flag in ("tls", "smtps", "blamelist"):
        if not isinstance(mail.get(flag, False), bool):
            cfg.error(f"{where}[{flag!r}]", f"must be True or False, not {mail[flag]!r}")
    if (mail.get("user") is None) != (mail.get("password") is None):
        cfg.error(where, "needs both 'user' and 'password' (a util.Secret) or neither")
    if not cfg.ok:
        return None
    return MailNotifier(
        name=f"{cfg.prefix}-mail", fromaddr=fromaddr, relayhost=relayhost, smtpPort=port,
        extraRecipients=list(to),
        sendToInterestedUsers=mail.get("blamelist", False), useTls=mail.get("tls", False),
        useSmtps=mail.get("smtps", False), smtpUser=mail.get("user"),
        smtpPassword=mail.get("password"), generators=[generator])


def _webhooks(cfg, webhook, make_generator):
    hooks = webhook if isinstance(webhook, list) else [webhook]
    services = []
    for i, hook in enumerate(hooks):
        where = f"['webhook'][{i}]" if isinstance(webhook, list) else "['webhook']"
        if isinstance(hook, str):
            hook = {"url": hook}
        if not isinstance(hook, dict):
            cfg.error(where, f"must be a URL or a dict with 'url', not {hook!r}")
            continue
        _unknown(cfg, where, hook, WEBHOOK_KEYS)
        url, headers = hook.get("url"), hook.get("headers")
        if not isinstance(url, str) or not re.match(r"https?://[^/\s]+", url):
            cfg.error(f"{where}['url']", f"must be an http:// or https:// URL, not {url!r}")
            continue
        if headers is not None and not isinstance(headers, dict):
            cfg.error(f"{where}['headers']", f"must be a dict, not {headers!r}")
            continue
        # named: two webhooks would otherwise share Buildbot's one default service name
        services.append(HttpStatusPush(serverUrl=url, headers=headers,
                                       generators=[make_generator("webhook")],
                                       name=f"{cfg.prefix}-webhook-{i}"))
    return services


def _irc(cfg, value, generator):
    where = "['irc']"
    if not isinstance(value, dict):
        cfg.error(where, f"must be a dict with 'host', 'nick' and 'channels', not {value!r}")
        return None
    _unknown(cfg, where, value, IRC_KEYS)
    host, nick, channels = value.get("host"), value.get("nick"), value.get("channels")
    if not isinstance(host, str) or not host or any(ch.isspace() for ch in host):
        cfg.error(f"{where}['host']", f"must be a host name, not {host!r}")
    if not isinstance(nick, str) or not NICK.match(nick):
        cfg.error(f"{where}['nick']", f"must be an IRC nick (a letter, then letters, digits "
                                      f"or -[]\\`_^{{|}}, at most 30), not {nick!r}")
    if isinstance(channels, str) or not isinstance(channels, (list, tuple)) or not channels \
            or not all(isinstance(c, str) and CHANNEL.match(c) for c in channels):
        cfg.error(f"{where}['channels']", f"must be a list of channels such as "
                                          f"'#dragonflybsd', not {channels!r}")
    tls = value.get("tls", False)
    if not isinstance(tls, bool):
        cfg.error(f"{where}['tls']", f"must be True or False, not {tls!r}")
    port = value.get("port", 6697 if tls is True else 6667)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        cfg.error(f"{where}['port']", f"must be a TCP port number, not {port!r}")
    if not cfg.ok:
        return None
    return IRCNotifier(name=f"{cfg.prefix}-irc", host=host, nick=nick, channels=list(channels),
                       port=port, password=value.get("password"), tls=tls,
                       generators=[generator])


def notifiers(notify, builders, dashboard=None, prefix="vkckpt", owner="add_to_config"):
    """The reporter services for ``notify`` watching ``builders`` (a list of names); [] and
    a config error for a bad value. ``dashboard``: the trends page's name, for its link;
    ``prefix`` starts the services' names."""
    cfg = NotifyConfig(owner, prefix)
    if not isinstance(notify, dict) or not notify:
        cfg.error("", f"must be a dict with 'mail', 'webhook' and/or 'irc', not {notify!r}")
        return []
    _unknown(cfg, "", notify, KEYS)
    if not {"mail", "webhook", "irc"} & set(notify):
        cfg.error("", "needs 'mail', 'webhook' or 'irc' (or several)")
    events = notify.get("events", DEFAULT_EVENTS)
    if isinstance(events, str) or not isinstance(events, (list, tuple)) or not events or any(
            e not in EVENTS for e in events):
        cfg.error("['events']", f"must be a list of {', '.join(EVENTS)}, not {events!r}")
        return []

    def make_generator(style):
        return StateChangeGenerator(builders=list(builders), events=tuple(events),
                                    formatter=NoticeFormatter(style, dashboard))

    services = []
    if "mail" in notify:
        mail = _mail(cfg, notify["mail"], make_generator("mail"))
        if mail is not None:
            services.append(mail)
    if "webhook" in notify:
        services.extend(_webhooks(cfg, notify["webhook"], make_generator))
    if "irc" in notify:
        chat = _irc(cfg, notify["irc"], make_generator("chat"))
        if chat is not None:
            services.append(chat)
    return services if cfg.ok else []
