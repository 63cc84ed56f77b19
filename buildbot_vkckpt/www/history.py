"""The guest suite's per-test history: each test's last results as a strip, oldest to newest.

A test expected to fail (xfail) is marked; one whose expected failure now passes (xpass) gets
a warning: the kernel got better or the test no longer tests what it says, and either way its
expectation needs a look.
"""
from html import escape

# outcome -> the mark in the strip
MARKS = {"pass": "✓", "fail": "✗", "xfail": "x", "xpass": "!", "skip": "s", "missing": "?"}
OUTCOME_WORDS = {"pass": "passed", "fail": "FAILED", "xfail": "failed as expected",
                 "xpass": "passed but is expected to fail", "skip": "skipped",
                 "missing": "no result"}


def tests_of(rows):
    """Test names in first-seen order, newest build first."""
    names = []
    for row in rows:
        names.extend(t for t in row.suite if t not in names)
    return names


def xpass_warnings(rows):
    """``(test, build number)`` of tests whose latest result is an expected failure that
    passed."""
    found = []
    for test in tests_of(rows):
        latest = next((r for r in rows if test in r.suite), None)
        if latest is not None and latest.suite[test] == "xpass":
            found.append((test, latest.number))
    return found


def strip_html(rows):
    """The history table of one builder's ``rows`` (newest first); "" without suite results."""
    tests = tests_of(rows)
    if not tests:
        return ""
    builds = [r for r in reversed(rows) if r.suite]
    out = ['<table class="vkd-history"><tr><th>guest test</th>'
           f'<th>last {len(builds)} builds, oldest → newest</th></tr>']
    for test in sorted(tests):
        outcomes = [r.suite.get(test) for r in builds]
        xfail = any(o in ("xfail", "xpass") for o in outcomes)
        latest = next((o for o in reversed(outcomes) if o), None)
        marks = []
        for row, outcome in zip(builds, outcomes):
            word = OUTCOME_WORDS.get(outcome, outcome or "not run")
            marks.append(f'<span class="vkd-h vkd-h-{escape(outcome or "none")}" '
                         f'title="#{row.number}: {escape(word)}">'
                         f"{escape(MARKS.get(outcome, '·'))}</span>")
        label = f"<code>{escape(test)}</code>"
        if xfail:
            label += ' <span class="vkd-xfail" title="expected to fail on this flavour">' \
                     "xfail</span>"
        if latest == "xpass":
            label += ' <span class="vkd-xpass">xfail now passes</span>'
        out.append(f'<tr data-test="{escape(test)}"><td>{label}</td>'
                   f'<td class="vkd-strip">{"".join(marks)}</td></tr>')
    out.append("</table>")
    return "".join(out)
