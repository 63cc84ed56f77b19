"""Notifications through Buildbot's reporters: what broke, first, and only when it is news.

A mail (:class:`~buildbot.reporters.mail.MailNotifier`) or a webhook
(:class:`~buildbot.reporters.http.HttpStatusPush`) driven by :class:`StateChangeGenerator`:
green→red, red→green and a newly bisected culprit by default. Its :class:`NoticeFormatter`
leads with the failing step, the outcome kind and cause, the panic line and first backtrace
frames, the failing tests with their re-run verdicts and the culprit, read from the build's
properties and step results; then the links to the build and to the trends page.
``add_to_config(notify=...)`` wires it (:func:`notifiers`). See docs/notify.rst.
"""
from buildbot_vkckpt.notify.events import DEFAULT_EVENTS, EVENTS
from buildbot_vkckpt.notify.formatter import NoticeFormatter
from buildbot_vkckpt.notify.generator import StateChangeGenerator
from buildbot_vkckpt.notify.services import notifiers
from buildbot_vkckpt.notify.whatbroke import WhatBroke

__all__ = ["DEFAULT_EVENTS", "EVENTS", "NoticeFormatter", "StateChangeGenerator", "WhatBroke",
           "notifiers"]
