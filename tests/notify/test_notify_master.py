"""Notifications from a real Buildbot master to a real SMTP server and a webhook receiver on
127.0.0.1, and to an IRC channel on a real IRC server: green, red, still red, the bisection's
culprit (twice), a bisection without one, green again — four mails, four posts and four
announcements (red, culprit, no culprit, green), each leading with what broke."""
import pytest

from buildbot_vkckpt.demo.localbb import LocalBuildbot

from buildbot_vkckpt.notify.mailbox import LocalMailbox

from .receivers import IRCServer, WebhookSink, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

MAIN, BISECT, NONE = "vkckpt-master", "vkckpt-bisect", "vkckpt-bisect-none"
BOT, CHANNEL = "vkckpt-bot", "#vkckpt"
PANIC = "panic: vm_fault: fault on nofault entry, addr: 0xdeadc000"
CULPRIT = {"revision": "4f1c2d3e5a6b7c8d9e0f11223344556677889900", "author": "A. Hacker",
           "subject": "vm: lazy pmap teardown", "check": "cycle restore",
           "builder": MAIN, "url": "http://bb/#/builders/1/builds/2", "build": 2}


def master_cfg(smtp_port, webhook_url, irc_port):
    return f"""
from buildbot_vkckpt.notify import notifiers

@util.renderer
def red_facts(props):
    # what the vkernel steps set on a restore that panicked
    if props.getProperty("outcome") != "red":
        return {{}}
    return {{"vkckpt_outcome": {{"step": "cycle", "kind": "kernel",
                                "cause": "cycle 2/3 restore: {PANIC}"}},
            "vkckpt_panic": {PANIC!r}, "vkckpt_backtrace": "#0 vm_fault\\n#1 trap\\n#2 restore",
            "vkckpt_cycles_ok": 1, "vkckpt_cycles_total": 3}}

main = util.BuildFactory()
main.addStep(steps.SetProperties(name="facts", properties=red_facts))
main.addStep(steps.ShellCommand(name="cycle", command=["test", util.Property("outcome"), "=",
                                                      "green"]))
bisect = util.BuildFactory([steps.SetProperty(name="bisect", property="vkckpt_culprit",
                                              value={CULPRIT!r})])
# a bisection that ends without a culprit
none = util.BuildFactory([steps.SetProperties(name="bisect", properties={{
    "vkckpt_bisect_of": {{"builder": {MAIN!r}, "number": 2, "url": "http://bb/red"}},
    "vkckpt_bisect_result": "could not bisect: a build break in the range"}})])
workers = [w.name for w in c['workers']]
c['builders'] += [util.BuilderConfig(name={MAIN!r}, workernames=workers, factory=main),
                  util.BuilderConfig(name={BISECT!r}, workernames=workers, factory=bisect),
                  util.BuilderConfig(name={NONE!r}, workernames=workers, factory=none)]
c['schedulers'].append(schedulers.ForceScheduler(
    name='force', builderNames=[{MAIN!r}, {BISECT!r}, {NONE!r}],
    properties=[util.StringParameter(name="outcome", default="green")]))
c['services'] = notifiers({{"mail": {{"to": ["kernel@example.org"], "fromaddr": "bb@example.org",
                                     "relayhost": "127.0.0.1", "port": {smtp_port}}},
                           "webhook": {webhook_url!r},
                           "irc": {{"host": "127.0.0.1", "port": {irc_port}, "nick": {BOT!r},
                                   "channels": [{CHANNEL!r}], "password": "pw"}}}},
                          [{MAIN!r}], dashboard="vkckpt")
"""


def run(bb, builder, outcome="green"):
    return bb.wait_build(bb.force(builder, outcome=outcome), timeout=60)


def test_state_changes_and_the_culprit_reach_mail_and_webhook(tmp_path):
    with LocalMailbox() as smtp, WebhookSink() as hook, IRCServer(BOT, CHANNEL) as irc, \
            LocalBuildbot(tmp_path / "bb") as bb:
        bb.create(master_cfg(smtp.port, hook.url, irc.port))
        bb.start()
        builds = [run(bb, MAIN), run(bb, MAIN, "red"), run(bb, MAIN, "red"),
                  run(bb, BISECT), run(bb, BISECT), run(bb, NONE), run(bb, MAIN)]
        assert [b["results"] for b in builds] == [0, 2, 2, 0, 0, 0, 0]
        green, red, _, found, _, _, again = builds
        mails = smtp.wait(4)
        posts = wait_for("webhook posts", hook.posts, 4)
        # red: headline, first frame, links; the others: headline, links
        said = irc.wait(9)
        url = f"{bb.url}#/builders/{red['builderid']}/builds/{red['number']}"

    assert len(mails) == 4 and len(posts) == 4, (mails, posts)
    red_mail, = [m for m in mails if " red: " in m["subject"]]
    culprit_mail, = [m for m in mails if ": culprit " in m["subject"]]
    green_mail, = [m for m in mails if "green again" in m["subject"]]
    none_mail, = [m for m in mails if "no culprit" in m["subject"]]
    assert red_mail["to"] == ["kernel@example.org"] and red_mail["from"] == "bb@example.org"
    assert red_mail["subject"] == (f"[buildbot-vkckpt] {MAIN} #{red['number']} red: cycle: "
                                   f"kernel: cycle 2/3 restore: {PANIC}")
    assert red_mail["body"].splitlines()[2:10] == [
        "step:     cycle", "kind:     kernel", f"cause:    cycle 2/3 restore: {PANIC}",
        f"panic:    {PANIC}", "backtrace (first frames):", "    #0 vm_fault", "    #1 trap",
        "    #2 restore"]
    assert f"build:    {url}\n" in red_mail["body"]
    assert f"trends:   {bb.url}#/vkckpt\n" in red_mail["body"]

    short = CULPRIT["revision"][:12]
    assert culprit_mail["subject"] == (f"[buildbot-vkckpt] {MAIN}: culprit {short} vm: lazy "
                                       f"pmap teardown — A. Hacker (cycle restore)")
    assert culprit_mail["body"].splitlines()[2:4] == [
        f"Bisection found the first bad commit for {MAIN}:",
        f"culprit:  {short} vm: lazy pmap teardown — A. Hacker (cycle restore)"]
    # what broke comes from the red build the bisection names (#2)
    assert red["number"] == CULPRIT["build"]
    assert f"What broke:\nstep:     cycle\nkind:     kernel\n" in culprit_mail["body"]
    assert f"panic:    {PANIC}\n" in culprit_mail["body"]
    assert none_mail["subject"] == (f"[buildbot-vkckpt] {MAIN} #2: no culprit: could not "
                                    f"bisect: a build break in the range")
    assert none_mail["body"].splitlines()[2:4] == [
        "The bisection ended without a culprit: could not bisect: a build break in the range",
        "red:      http://bb/red"]
    assert f"panic:    {PANIC}\n" in none_mail["body"]
    assert green_mail["subject"] == (f"[buildbot-vkckpt] {MAIN} #{again['number']} is green "
                                     f"again (red since #{red['number'] + 1})")

    by_event = {p["json"]["event"]: p["json"] for p in posts}
    assert sorted(by_event) == ["culprit", "green", "no culprit", "red"]
    assert by_event["red"]["url"] == url and by_event["red"]["what_broke"]["panic"] == PANIC
    assert by_event["red"]["number"] == red["number"] and green["number"] < red["number"]
    assert by_event["culprit"]["culprit"]["revision"] == CULPRIT["revision"]
    assert by_event["culprit"]["number"] == found["number"]
    assert by_event["green"]["text"].startswith(f"{MAIN} #{again['number']} is green again")

    assert len(said) == 9 and {nick for nick, _ in said} == {BOT}, said
    texts = [text for _, text in said]
    heads = [t for t in texts if t.startswith(MAIN)]
    # each announcement leads with the mail's subject, without the title
    assert heads == [m["subject"].split("] ", 1)[1]
                     for m in (red_mail, culprit_mail, none_mail, green_mail)], texts
    assert "at #0 vm_fault" in texts and f"{url} · trends {bb.url}#/vkckpt" in texts
