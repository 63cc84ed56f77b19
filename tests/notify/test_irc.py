"""notify/irc.py: lines wait while the client is not in its channels and follow in order."""
from buildbot_vkckpt.notify.irc import QUEUE, _Connection


class FakeBot:
    def __init__(self):
        self.said = []

    def msg(self, channel, line):
        self.said.append((channel, line))


def connect(conn):
    bot = FakeBot()
    conn.bot, conn.inside = bot, set()       # what buildProtocol does
    return bot


def test_lines_wait_for_the_join_and_a_lost_connection():
    conn = _Connection("vkckpt", ["#DragonFly", "#vk"], None)
    conn.say(["one", "two"])                 # not connected yet
    bot = connect(conn)
    conn.joined(bot, "#dragonfly")           # the server may answer in another case
    assert bot.said == [("#DragonFly", "one"), ("#DragonFly", "two")]
    conn.say(["three"])
    assert bot.said[-1] == ("#DragonFly", "three")
    conn.joined(bot, "#vk")
    assert bot.said[-3:] == [("#vk", "one"), ("#vk", "two"), ("#vk", "three")]
    conn.joined(bot, "#other")               # not ours: ignored
    conn.lost(bot)
    conn.say(["four"])
    again = connect(conn)
    conn.joined(bot, "#vk")                  # the old connection's late answer: ignored
    assert again.said == []
    conn.joined(again, "#vk")
    assert again.said == [("#vk", "four")]


def test_only_the_newest_lines_wait():
    conn = _Connection("vkckpt", ["#vk"], None)
    conn.say([f"line {i}" for i in range(QUEUE + 5)])
    bot = connect(conn)
    conn.joined(bot, "#vk")
    assert [line for _, line in bot.said] == [f"line {i}" for i in range(5, QUEUE + 5)]
