"""A forgiving TAP 13 reader for the suite's results (and anything close to it).

The master reads TAP that crossed a results disk from a guest that may have
died half-way: every line is optional, unknown lines are skipped, a YAML block
may be cut short, and nothing here raises on bad input.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

_RESULT = re.compile(r"^(not\s+)?ok\b\s*(\d+)?\s*(.*)$", re.IGNORECASE)
_PLAN = re.compile(r"^1\.\.(\d+)\b")
_DIRECTIVE = re.compile(r"^(todo|skip)\S*\s*(.*)$", re.IGNORECASE | re.DOTALL)
_YAML_KEY = re.compile(r"^([A-Za-z_][\w-]*):\s*(.*)$")


@dataclass
class TapResult:
    number: int
    name: str
    ok: bool
    todo: bool = False          # "# TODO": an expected failure (xfail)
    skip: bool = False
    reason: str = ""            # the directive's text, without a leading "xfail:"
    duration_ms: float | None = None
    message: str = ""
    diagnostics: dict[str, str] = field(default_factory=dict)

    @property
    def xfail(self) -> bool:
        return self.todo

    @property
    def outcome(self) -> str:
        """pass, fail, xfail (failed as expected), xpass (TODO but ok) or skip."""
        if self.skip:
            return "skip"
        if self.todo:
            return "xpass" if self.ok else "xfail"
        return "pass" if self.ok else "fail"


@dataclass
class TapReport:
    version: int | None = None
    plan: int | None = None
    results: list[TapResult] = field(default_factory=list)
    bail_out: str | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def missing(self) -> list[int]:
        """Planned test numbers with no result line (a truncated or bailed run)."""
        if self.plan is None:
            return []
        seen = {r.number for r in self.results}
        return [n for n in range(1, self.plan + 1) if n not in seen]

    @property
    def complete(self) -> bool:
        return self.plan is not None and not self.missing and self.bail_out is None


def _split_directive(rest: str) -> tuple[str, str | None]:
    """Description and directive: the directive starts at the first unescaped '#'."""
    i = 0
    while i < len(rest):
        if rest[i] == "\\":
            i += 2
            continue
        if rest[i] == "#":
            return rest[:i], rest[i + 1:].strip()
        i += 1
    return rest, None


def _yaml_scalar(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        out, body, i = [], value[1:-1], 0
        while i < len(body):
            if body[i] == "\\" and i + 1 < len(body):
                out.append({"n": "\n", "t": "\t"}.get(body[i + 1], body[i + 1]))
                i += 2
            else:
                out.append(body[i])
                i += 1
        return "".join(out)
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'")
    return value


def _result(match: re.Match, counter: int) -> TapResult:
    number = int(match.group(2)) if match.group(2) else counter
    description, directive = _split_directive(match.group(3))
    name = description.strip()
    if name.startswith("-"):
        name = name[1:].strip()
    result = TapResult(number=number, name=name.replace("\\#", "#"), ok=not match.group(1))
    if directive is not None:
        d = _DIRECTIVE.match(directive)
        if d:
            result.todo = d.group(1).lower() == "todo"
            result.skip = not result.todo
            reason = d.group(2).strip()
            if reason.lower().startswith("xfail:"):
                reason = reason[len("xfail:"):].strip()
            result.reason = reason
    return result


def _attach_yaml(result: TapResult, lines: list[str]) -> None:
    for line in lines:
        m = _YAML_KEY.match(line.strip())
        if m:
            result.diagnostics[m.group(1)] = _yaml_scalar(m.group(2))
    result.message = result.diagnostics.get("message", "")
    try:
        result.duration_ms = float(result.diagnostics["duration_ms"])
    except (KeyError, ValueError):
        result.duration_ms = None


def parse_tap_report(text: str | bytes | None) -> TapReport:
    """Everything readable in *text*; never raises."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    report = TapReport()
    if not isinstance(text, str):
        return report
    last: TapResult | None = None
    yaml: list[str] | None = None
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.rstrip()
        if yaml is not None:
            if line.strip() == "...":
                _attach_yaml(last, yaml)
                yaml = None
                continue
            if line.startswith((" ", "\t")) or not line:
                yaml.append(line)
                continue
            _attach_yaml(last, yaml)     # block cut short by the next line
            yaml = None
        stripped = line.strip()
        if not stripped:
            continue
        if stripped == "---" and last is not None and line[:1] in (" ", "\t"):
            yaml = []
            continue
        if line.startswith("TAP version"):
            tail = line[len("TAP version"):].strip()
            report.version = int(tail) if tail.isdigit() else None
            continue
        if line.lower().startswith("bail out!"):
            report.bail_out = line[len("bail out!"):].strip()
            last = None
            continue
        if line.startswith("#"):
            report.comments.append(line[1:].strip())
            continue
        m = _PLAN.match(line)
        if m and report.plan is None:
            report.plan = int(m.group(1))
            continue
        m = _RESULT.match(line)
        if m:
            last = _result(m, len(report.results) + 1)
            report.results.append(last)
    if yaml is not None and last is not None:
        _attach_yaml(last, yaml)          # truncated inside a YAML block
    return report


def parse_tap(text: str | bytes | None) -> list[TapResult]:
    """The test results in *text*, in order; garbage and truncation are tolerated."""
    return parse_tap_report(text).results
