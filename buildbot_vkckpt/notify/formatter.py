"""Buildbot message formatters that turn a finished build into a :class:`~.text.Notice`.

``NoticeFormatter(style="mail")`` gives the plain-text mail (subject + body),
``style="webhook"`` the JSON payload, ``style="chat"`` a few lines for IRC-like channels. The
event (red, green, culprit, ...) is decided by :class:`~.generator.StateChangeGenerator`, which
leaves it in the build dict under ``NOTIFY_KEY``.
"""
from buildbot.process.results import statusToString
from buildbot.reporters import utils
from buildbot.reporters.message import MessageFormatterBase

from buildbot_vkckpt.notify import text
from buildbot_vkckpt.notify.whatbroke import WhatBroke, prop

NOTIFY_KEY = "vkckpt_notify"
STYLES = {"mail": "plain", "chat": "plain", "webhook": "json"}


def trends_url(buildbot_url, dashboard):
    """The trends page (the project's dashboard at ``#/<name>``), None without one."""
    if not dashboard or not buildbot_url:
        return None
    return f"{buildbot_url.rstrip('/')}/#/{dashboard}"


def _revision(build):
    revision = prop(build, "got_revision")
    if isinstance(revision, dict):          # several codebases: the first is DragonFly's
        revision = next(iter(revision.values()), None)
    if not isinstance(revision, str) or not revision:
        stamps = (build.get("buildset") or {}).get("sourcestamps") or []
        revision = next((s.get("revision") for s in stamps if s.get("revision")), None)
    return revision


def notice_for(master, build, users=None, dashboard=None):
    """The :class:`~.text.Notice` of ``build`` (a reporter's build dict with properties)."""
    info = build.get(NOTIFY_KEY) or {}
    builder = build.get("builder") or {}
    builderid = builder.get("builderid", build.get("builderid"))
    previous = info.get("previous_number")
    branch = prop(build, "branch")
    red = info.get("red")
    what = WhatBroke.from_build(build, None if red else info.get("agent_outcome"))
    if red:                         # the bisection's own build: what broke is in the red one
        culprit = what.culprit
        what = WhatBroke.from_build(red, info.get("agent_outcome"))
        what.culprit = culprit
    return text.Notice(
        event=info.get("event", "failing"),
        builder=builder.get("name", "?"),
        number=build.get("number"),
        results=statusToString(build.get("results")),
        build_url=utils.getURLForBuild(master, builderid, build.get("number")),
        what=what,
        trends_url=trends_url(master.config.buildbotURL, dashboard),
        title=master.config.title or "Buildbot",
        previous_number=previous,
        previous_url=utils.getURLForBuild(master, builderid, previous)
        if previous is not None else None,
        revision=_revision(build),
        branch=branch if isinstance(branch, str) else None,
        blamelist=sorted(str(u) for u in users or [] if u),
        bisection=info.get("bisection"))


class NoticeFormatter(MessageFormatterBase):
    """What broke first, then the links. ``dashboard``: the trends page's name (``#/name``)."""

    compare_attrs = ["style", "dashboard"]    # a reconfig with other values takes effect

    def __init__(self, style="mail", dashboard=None):
        super().__init__(want_properties=True, want_steps=True)
        if style not in STYLES:
            raise ValueError(f"style must be one of {', '.join(STYLES)}, not {style!r}")
        self.style = style
        self.dashboard = dashboard
        self.template_type = STYLES[style]

    def format_message_for_build(self, master, build, is_buildset=False, users=None,
                                 mode=None, **kwargs):
        notice = notice_for(master, build, users, self.dashboard)
        if self.style == "webhook":
            body = text.payload(notice)
        elif self.style == "chat":
            body = "\n".join(text.chat_lines(notice)) + "\n"
        else:
            body = text.body(notice)
        return {"body": body, "type": self.template_type, "subject": text.subject(notice),
                "extra_info": None}

    def format_message_for_buildset(self, master, buildset, builds, **kwargs):
        raise NotImplementedError("vkckpt notifications are per build")
