"""Test metadata: one ``tests/<name>.meta`` file of ``key=value`` lines per program."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

KEYS = frozenset({"description", "timeout", "expect", "reason", "requires", "pass_with"})
EXPECTATIONS = frozenset({"pass", "xfail"})
# kernel features that turn an xfail into an expected pass (run.sh --kernel-has FEATURE):
# vkernel_chkpt = the kernel under test carries the 2013 GSoC checkpoint work, which restores
# threads and kqueues (its sys_checkpoint.2 drops both limits)
KERNEL_FEATURES = frozenset({"vkernel_chkpt"})


class MetaError(ValueError):
    """A metadata file that does not follow the format."""


@dataclass(frozen=True)
class TestMeta:
    name: str
    description: str
    timeout: int            # seconds; run.sh bounds every wait of the test by it
    expect: str             # "pass" or "xfail"
    reason: str             # why it is expected to fail (man-page quote); "" for pass
    requires: tuple[str, ...]
    path: Path              # the .meta file
    pass_with: str = ""     # a KERNEL_FEATURES name under which an xfail test must pass

    __test__ = False        # not a pytest test class

    @property
    def xfail(self) -> bool:
        return self.expect == "xfail"

    def expect_on(self, features=()) -> str:
        """The expectation on a kernel that has ``features``."""
        return "pass" if self.pass_with and self.pass_with in features else self.expect

    @property
    def source(self) -> Path:
        return self.path.with_suffix(".c")


def parse_meta(text: str, name: str, path: Path | None = None) -> TestMeta:
    """Parse one metadata file; raise MetaError naming the first problem."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or key not in KEYS:
            raise MetaError(f"{name}.meta line {number}: expected one of "
                            f"{', '.join(sorted(KEYS))} as key=value, got {raw!r}")
        if key in values:
            raise MetaError(f"{name}.meta line {number}: {key} given twice")
        values[key] = value.strip()
    expect = values.get("expect", "")
    if expect not in EXPECTATIONS:
        raise MetaError(f"{name}.meta: expect must be pass or xfail, got {expect!r}")
    if expect == "xfail" and not values.get("reason"):
        raise MetaError(f"{name}.meta: an xfail test needs reason=")
    if "#" in values.get("reason", ""):
        raise MetaError(f"{name}.meta: reason must not contain '#' (it ends up in a TAP directive)")
    pass_with = values.get("pass_with", "")
    if pass_with and pass_with not in KERNEL_FEATURES:
        raise MetaError(f"{name}.meta: pass_with must be one of "
                        f"{', '.join(sorted(KERNEL_FEATURES))}, got {pass_with!r}")
    if pass_with and expect != "xfail":
        raise MetaError(f"{name}.meta: pass_with only makes sense on an xfail test")
    timeout = values.get("timeout", "")
    if not timeout.isdigit() or int(timeout) < 1:
        raise MetaError(f"{name}.meta: timeout must be whole seconds >= 1, got {timeout!r}")
    if not values.get("description"):
        raise MetaError(f"{name}.meta: description= is missing")
    requires = tuple(r for r in values.get("requires", "").replace(",", " ").split() if r)
    return TestMeta(name=name, description=values["description"], timeout=int(timeout),
                    expect=expect, reason=values.get("reason", ""), requires=requires,
                    path=path or Path(f"{name}.meta"), pass_with=pass_with)


def load_tests(directory: Path) -> list[TestMeta]:
    """Every ``*.meta`` in *directory*, in name order (the order run.sh uses)."""
    return [parse_meta(p.read_text(), p.stem, p) for p in sorted(directory.glob("*.meta"))]
