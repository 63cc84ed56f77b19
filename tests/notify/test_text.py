"""notify/text.py: the first lines say what broke; links follow."""
from buildbot_vkckpt.notify import text
from buildbot_vkckpt.notify.whatbroke import WhatBroke
from tests.notify.builds import CULPRIT, FRAMES, PANIC, build, panic_build, step, suite_build

URL = "http://bb.example.org/#/builders/1/builds/12"
TRENDS = "http://bb.example.org/#/vkckpt"


def notice(b, event="red", builder="vkckpt-master", **kw):
    kw.setdefault("previous_number", 11)
    return text.Notice(event=event, builder=builder, number=12, results="failure",
                       build_url=URL, what=WhatBroke.from_build(b), trends_url=TRENDS,
                       title="DragonFly vkckpt", revision="abc123", branch="master", **kw)


def test_red_panic_mail_leads_with_what_broke():
    n = notice(panic_build())
    assert text.subject(n) == ("[DragonFly vkckpt] vkckpt-master #12 red: cycle: kernel: "
                               "cycle 2/3 restore: " + PANIC)
    lines = text.body(n).splitlines()
    assert lines[:8] == [
        "vkckpt-master #12 red: cycle: kernel: cycle 2/3 restore: " + PANIC,
        "",
        "step:     cycle",
        "kind:     kernel",
        "cause:    cycle 2/3 restore: " + PANIC,
        "panic:    " + PANIC,
        "backtrace (first frames):",
        "    " + FRAMES[0],
    ]
    body = text.body(n)
    assert FRAMES[4] in body and FRAMES[5] not in body and "... 3 more in the build" in body
    assert "cycles:   1/3 ok" in body
    assert "culprit" not in body            # no bisection watches this builder
    assert f"build:    {URL}\ntrends:   {TRENDS}\n" in body
    assert "revision: abc123 on master" in body


def test_failing_tests_with_verdicts_and_flaky_ones():
    body = text.body(notice(suite_build()))
    assert ("failing tests and checks:\n"
            "    ckpt-pipe [deterministic (3/3 failed)]: pipe lost 3 bytes\n"
            "    ckpt-mmap: page differs\n"
            "    ckpt-shm\n"
            "flaky (passed on a re-run):\n"
            "    ckpt-signal [flaky (1/3 failed)]\n") in body


def test_green_and_culprit_mails():
    green = notice(build(0), event="green", previous_url="http://bb/#/builders/1/builds/11")
    assert text.subject(green) == "[DragonFly vkckpt] vkckpt-master #12 is green again " \
                                  "(red since #11)"
    assert "previous: http://bb/#/builders/1/builds/11 (#11)" in text.body(green)
    culprit = notice(build(0, vkckpt_culprit=CULPRIT), "culprit", builder="vkckpt-bisect")
    short = CULPRIT["revision"][:12]
    assert text.subject(culprit) == (f"[DragonFly vkckpt] vkckpt-master: culprit {short} vm: "
                                     f"lazy pmap teardown — A. Hacker (cycle restore)")
    lines = text.body(culprit).splitlines()
    assert lines[2:4] == ["Bisection found the first bad commit for vkckpt-master:",
                          f"culprit:  {short} vm: lazy pmap teardown — A. Hacker "
                          f"(cycle restore)"]
    assert CULPRIT["url"] in text.body(culprit)


def test_a_red_build_with_its_culprit_names_it_in_the_body():
    body = text.body(notice(panic_build(vkckpt_culprit=CULPRIT)))
    assert f"culprit:  {CULPRIT['revision'][:12]} vm: lazy pmap teardown" in body
    assert "bisecting" not in body


def test_a_bisected_red_build_says_so_and_a_step_summary_is_shown_as_it_is():
    b = build(steps=[step("cycle", 2, "kernel: cycle 1/1 (restore): panic: x"),
                     step("bisect-watch", 0, "bisecting", 2)], vkckpt_panic="panic: x")
    n = notice(b)
    assert text.headline(n) == "vkckpt-master #12 red: cycle: kernel: cycle 1/1 (restore): " \
                               "panic: x"
    assert text.body(n).splitlines()[2:6] == [
        "step:     cycle", "kind:     kernel", "summary:  kernel: cycle 1/1 (restore): panic: x",
        "panic:    panic: x"]
    assert "culprit:  bisecting; a message follows when the culprit is found" in text.body(n)


def test_subject_is_one_bounded_line():
    long_cause = "x\n" * 400
    n = notice(build(vkckpt_outcome={"step": "boot", "kind": "timeout", "cause": long_cause}))
    s = text.subject(n)
    assert "\n" not in s and len(s) <= text.SUBJECT_MAX and s.endswith("…")


def test_chat_lines_and_payload():
    n = notice(panic_build())
    lines = text.chat_lines(n)
    assert len(lines) == 3 and lines[0].startswith("vkckpt-master #12 red: cycle: kernel")
    assert lines[1] == f"at {FRAMES[0]}"
    assert lines[-1] == f"{URL} · trends {TRENDS}"
    suite = text.chat_lines(notice(suite_build()))
    assert suite[1] == ("failing: ckpt-pipe [deterministic (3/3 failed)], ckpt-mmap, "
                        "ckpt-shm")
    p = text.payload(n)
    assert p["event"] == "red" and p["url"] == URL and p["trends_url"] == TRENDS
    assert p["what_broke"]["panic"] == PANIC and p["what_broke"]["backtrace"] == FRAMES[:5]
    assert p["previous"] == {"number": 11, "url": None} and p["culprit"] is None
    assert p["text"] == "\n".join(lines)
    import json
    json.dumps(p)           # the webhook posts it as JSON


def test_a_bisection_without_a_culprit():
    n = notice(panic_build(), "no culprit", builder="vkckpt-master-bisect-control",
               bisection={"builder": "vkckpt-master", "number": 7, "url": "http://bb/red",
                          "result": "could not bisect: a flaky result"})
    assert text.headline(n) == "vkckpt-master #7: no culprit: could not bisect: a flaky result"
    lines = text.body(n).splitlines()
    assert lines[2:7] == ["The bisection ended without a culprit: could not bisect: a flaky "
                          "result", "red:      http://bb/red", "", "What broke:",
                          "step:     cycle"]
    assert text.chat_lines(n)[0] == text.headline(n) and len(text.chat_lines(n)) == 2
    assert text.payload(n)["bisection"]["result"] == "could not bisect: a flaky result"


def test_an_infrastructure_exception_and_every_red_build():
    from tests.notify.builds import exception_build
    n = notice(exception_build(), "exception")
    assert text.headline(n) == "vkckpt-master #12 could not run: preflight: infrastructure: " \
                               "disk full"
    assert "kind:     infrastructure" in text.body(n)
    assert text.headline(notice(panic_build(), "failing")).startswith("vkckpt-master #12 red: ")
