"""An IRC reporter fed by :class:`~.generator.StateChangeGenerator`: a few short lines per
event (``NoticeFormatter("chat")``) said in each channel.

Buildbot 4.3's ``reporters.IRC`` is a chat bot with its own notification rules and message
texts and takes no report generators, so the plugin keeps a small client of its own
(Twisted's ``IRCClient``): it connects, registers (``PASS`` first when a password is given),
joins its channels, and reconnects when the server goes away. Lines that arrive while it is
not in a channel wait there, the oldest dropped past ``QUEUE`` lines.
"""
from collections import deque

from buildbot import config as bb_config
from buildbot.reporters.base import ReporterBase
from twisted.internet import protocol
from twisted.python import log
from twisted.words.protocols import irc

QUEUE = 50          # lines kept per channel while disconnected
LINE_RATE = 0.5     # seconds between lines: servers kick clients that flood


class _Bot(irc.IRCClient):
    lineRate = LINE_RATE

    def connectionMade(self):
        self.nickname = self.factory.nick
        self.password = self.factory.password      # sent as PASS before NICK
        super().connectionMade()

    def signedOn(self):
        for channel in self.factory.channels:
            self.join(channel)

    def joined(self, channel):
        self.factory.joined(self, channel)

    def connectionLost(self, reason):
        self.factory.lost(self)
        super().connectionLost(reason)


class _Connection(protocol.ReconnectingClientFactory):
    protocol = _Bot
    maxDelay = 300

    def __init__(self, nick, channels, password):
        self.nick, self.channels, self.password = nick, list(channels), password
        self.bot = None
        self.inside = set()                 # channels joined on the current connection
        self.waiting = {c: deque(maxlen=QUEUE) for c in self.channels}

    def buildProtocol(self, addr):
        self.resetDelay()
        bot = super().buildProtocol(addr)
        self.bot, self.inside = bot, set()
        return bot

    def joined(self, bot, channel):
        channel = _known(self.channels, channel)
        if bot is not self.bot or channel is None:
            return
        self.inside.add(channel)
        while self.waiting[channel]:
            bot.msg(channel, self.waiting[channel].popleft())

    def lost(self, bot):
        if bot is self.bot:
            self.bot, self.inside = None, set()

    def say(self, lines):
        for channel in self.channels:
            for line in lines:
                if self.bot is not None and channel in self.inside:
                    self.bot.msg(channel, line)
                else:
                    self.waiting[channel].append(line)


def _known(channels, name):
    """The configured spelling of channel ``name`` (IRC channel names ignore case)."""
    return next((c for c in channels if c.lower() == name.lower()), None)


class IRCNotifier(ReporterBase):
    """Says each report's lines in ``channels`` on ``host``:``port`` as ``nick``."""

    def checkConfig(self, host, nick, channels, port=6667, password=None, tls=False,
                    generators=None):
        if generators is None:
            bb_config.error("IRCNotifier: generators must be given (add_to_config(notify=...) "
                            "makes them)")
            generators = []
        super().checkConfig(generators=generators)

    def reconfigService(self, host, nick, channels, port=6667, password=None, tls=False,
                        generators=None):
        from twisted.internet import reactor, ssl   # the master's reactor, at run time only
        self._disconnect()
        self.connection = _Connection(nick, channels, password)
        if tls:
            self.connector = reactor.connectSSL(host, port, self.connection,
                                                ssl.ClientContextFactory())
        else:
            self.connector = reactor.connectTCP(host, port, self.connection)
        return super().reconfigService(generators=generators)

    def _disconnect(self):
        connection = getattr(self, "connection", None)
        if connection is not None:
            connection.stopTrying()
            self.connector.disconnect()
            self.connection = None

    def stopService(self):
        self._disconnect()
        return super().stopService()

    def sendMessage(self, reports):
        for report in reports:
            lines = [line for line in (report.get("body") or "").splitlines() if line.strip()]
            if lines:
                self.connection.say(lines)
            else:
                log.msg(f"{self.name}: a report without text: {report.get('subject')!r}")
