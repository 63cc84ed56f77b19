"""The guest suite's per-test history: each test's last results as a strip, oldest to newest.

A test expected to fail (xfail) is marked; one whose expected failure now passes (xpass) gets
a warning: the kernel got better or the test no longer tests what it says, and either way its
expectation needs a look.
"""
from html import escape

# outcome -> the mark in the strip
MARKS = {"pass": "✓", "fail": "✗", "xfail": "x", "xpass": "!", "skip": "s", "missing": "?",
         "flaky": "~"}
OUTCOME_WORDS = {"pass": "passed", "fail": "FAILED", "xfail": "failed as expected",
                 "flaky": "flaky: failed, then passed when re-run",
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


def flake_rate(rows, test):
    """``(k, n)``: ``test`` was flaky (failed, then passed when re-run) in ``k`` of the
    ``n`` builds shown."""
    return sum(1 for r in rows if str(r.flaky.get(test, "")).startswith("flaky")), len(rows)


def flake_cell(rows, test):
    k, n = flake_rate(rows, test)
    if not k:
        return '<td class="vkd-flake">–</td>'
    return (f'<td class="vkd-flake" title="flaky in {k} of the last {n} builds">'
            f"{k}/{n} ({100 * k // n} %)</td>")


def strip_html(rows):
    """The history table of one builder's ``rows`` (newest first); "" without suite results.
    Cycle checks that were re-run join the guest tests, for their flake rate."""
    tests = tests_of(rows)
    checks = []
    for row in rows:
        checks.extend(t for t in row.flaky if t not in tests and t not in checks)
    if not tests and not checks:
        return ""
    builds = [r for r in reversed(rows) if r.suite or r.flaky]
    out = ['<table class="vkd-history"><tr><th>guest test</th>'
           f'<th>last {len(builds)} builds, oldest → newest</th><th>flake rate</th></tr>']
    for test in sorted(tests) + sorted(checks):
        if test in checks:      # a check has a mark only where it was re-run
            outcomes = [None if test not in r.flaky else "flaky"
                        if r.flaky[test].startswith("flaky") else "fail" for r in builds]
        else:
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
                   f'<td class="vkd-strip">{"".join(marks)}</td>'
                   f"{flake_cell(builds, test)}</tr>")
    out.append("</table>")
    return "".join(out)
