"""Changed paths of a DragonFly push -> build plan (world? kernel? image? tests? nothing?).

Pure Python, no Buildbot import: the scheduler's ``fileIsImportant``, the factory, the
benchmark and the docs all use the same ordered rule table, ``RULES``. The first rule whose
pattern matches a path decides what that path needs; a push needs the union over its paths.

Patterns are globs over source-tree paths: ``*`` and ``?`` stay inside one path component,
``**`` crosses components (``a/**`` is everything under ``a/``), ``{x,y}`` is alternation,
``[1-9]`` a character class and a backslash makes the next character literal.
"""
from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass
from typing import Iterable

DEFAULT_SUITE_PREFIX = "test/vkckpt/"

# How many (path, reason) lines a plan keeps; a 700-file vendor import still gets one line
# per rule, so this only bounds pathological pushes.
MAX_REASONS = 20


class Stage(enum.Flag):
    NONE = 0
    WORLD = enum.auto()
    KERNEL = enum.auto()
    IMAGE = enum.auto()
    TESTS = enum.auto()


EVERYTHING = Stage.WORLD | Stage.KERNEL | Stage.IMAGE | Stage.TESTS


def closure(stages: Stage) -> Stage:
    """world => image => tests; kernel => image (installkernel goes into the image)."""
    if stages & (Stage.WORLD | Stage.KERNEL):
        stages |= Stage.IMAGE
    if stages & Stage.IMAGE:
        stages |= Stage.TESTS
    return stages


def stage_names(stages: Stage) -> str:
    names = [s.name.lower() for s in (Stage.WORLD, Stage.KERNEL, Stage.IMAGE, Stage.TESTS)
             if stages & s]
    return " + ".join(names) if names else "nothing"


# Documentation rules all use this reason prefix; a plan of nothing but these is
# "documentation only".
DOC = "documentation"


@dataclass(frozen=True)
class Rule:
    pattern: str
    stages: Stage
    reason: str

    @functools.cached_property
    def regex(self) -> re.Pattern:
        return re.compile(glob_to_regex(self.pattern), re.DOTALL)

    def matches(self, path: str) -> bool:
        return self.regex.fullmatch(path) is not None

    @property
    def effect(self) -> Stage:
        return closure(self.stages)


def glob_to_regex(pattern: str) -> str:
    """Translate a tree glob (see module doc) into a regular expression."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        elif pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = pattern.index("]", i + 1)
            out.append("[" + pattern[i + 1:end] + "]")
            i = end + 1
        elif c == "{":
            end = pattern.index("}", i)
            alts = pattern[i + 1:end].split(",")
            out.append("(?:" + "|".join(glob_to_regex(a) for a in alts) + ")")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


W, K, I, T, N = Stage.WORLD, Stage.KERNEL, Stage.IMAGE, Stage.TESTS, Stage.NONE

# Header directories of sys/ that buildworld puts into /usr/include: LDIRS and LSUBDIRS of
# DragonFly's include/Makefile as of commit dde54508e4 (2020-04-25). Buildworld's includes
# stage runs with SHARED=symlinks, so while world compiles, these directories are whole-tree
# symlinks into sys/: every header below them is visible, not only the installed *.h.
INSTALLED_HEADER_DIRS = (
    "net netbt netgraph netgraph7 netinet netinet6 sys vm"
).split()
INSTALLED_HEADER_SUBDIRS = (
    "bus/cam bus/pccard bus/pci bus/isa bus/ppbus bus/smbus bus/u4b "
    "dev/disk/dm dev/disk/mpt/mpilib dev/misc/lpt dev/misc/ppi dev/netif/wi "
    "dev/raid/ciss dev/raid/mfi dev/smbus/smb dev/video/bktr dev/video/meteor "
    "gnu/vfs/ext2fs libprop netproto/802_11 netproto/mpls netproto/smb "
    "vfs/isofs/cd9660 vfs/msdosfs vfs/nfs vfs/ntfs vfs/smbfs vfs/udf vfs/ufs "
    "vfs/hammer vfs/hammer2 vfs/autofs vfs/fuse vfs/tmpfs"
).split()
# Single headers include/Makefile copies by name.
INSTALLED_HEADER_FILES = (
    "crypto/rijndael/rijndael.h opencrypto/*.h dev/acpica/acpiio.h "
    "dev/misc/evdev/input.h dev/misc/evdev/input-event-codes.h "
    "dev/drm/include/linux/compiler.h dev/drm/include/linux/posix_types.h "
    "dev/drm/include/linux/types.h dev/drm/include/uapi/asm-generic/int-ll64.h "
    "dev/drm/include/uapi/linux/types.h dev/drm/include/asm/bitsperlong.h "
    "dev/drm/include/asm/int-ll64.h dev/drm/include/asm/ioctl.h"
).split()

_INSTALLED = "kernel header installed into /usr/include by buildworld"

RULES: tuple[Rule, ...] = (
    # --- documentation: nothing to build -------------------------------------------------
    # tcsh keeps per-OS config headers named like manual pages (config/bsd4.4).
    Rule("contrib/tcsh-*/config/**", W, "tcsh configuration header (not a manual page)"),
    Rule("**/*.[1-9]", N, f"{DOC}: manual page"),
    Rule("share/man/**", N, f"{DOC}: manual pages"),
    Rule("{share/doc,doc}/**", N, f"{DOC}: documents outside the build"),
    Rule("share/examples/**", N, f"{DOC}: examples, copied but never compiled"),
    Rule("**/{README*,*.README}", N, f"{DOC}: README"),
    Rule("**/*.md", N, f"{DOC}: Markdown"),
    Rule("{UPDATING,COPYRIGHT,**/LICENSE*}", N, f"{DOC}: notes and licences"),
    Rule("**/.git*", N, "repository metadata"),
    # --- tests -------------------------------------------------------------------------
    # (the plugin's own suite prefix is inserted here by classify_paths)
    Rule("test/vkernel/**", I, "in-tree vkernel recipe that the root image step follows"),
    Rule("test/**", N, "regression programs outside buildworld; the vkernel test neither "
                       "builds nor runs them"),
    Rule("{tools/tools,tools/regression}/**", N, "developer tools outside buildworld"),
    Rule("nrelease/**", N, "release media scripts; not part of buildworld or the image"),
    # --- build machinery and toolchain: everything -------------------------------------
    Rule("{Makefile,Makefile.inc1,Makefile_upgrade.inc}", W | K,
         "top-level build machinery of buildworld and buildkernel"),
    Rule("share/mk/**", W | K, "make rules used by buildworld and buildkernel"),
    Rule("{contrib/gcc*,contrib/binutils*,gnu/usr.bin/cc*,gnu/usr.bin/binutils*,"
         "gnu/lib/gcc*}/**", W | K, "toolchain: compiles both world and kernel"),
    Rule("{contrib/bmake,usr.bin/make,usr.sbin/config,usr.bin/objformat}/**", W | K,
         "build tool used by buildworld and buildkernel (make, config, compiler driver)"),
    Rule("tools/**", W | K, "build helper used by every stage (tools/install.sh)"),
    # --- sys/: what VKERNEL64 compiles, and what world takes from sys/ ------------------
    Rule("sys/config/VKERNEL64", K, "the kernel configuration under test"),
    Rule("sys/config/**", N, "another kernel configuration; the test builds only VKERNEL64"),
    Rule("sys/platform/vkernel64/**", K, "vkernel64 platform code"),
    Rule("sys/platform/pc64/include/**/*.h", W | K,
         "machine header installed into /usr/include/machine (world is built for pc64)"),
    Rule("sys/platform/**", N, "another platform's code; VKERNEL64 does not compile it"),
    Rule("sys/cpu/x86_64/include/**/*.h", W | K,
         "CPU header installed into /usr/include/cpu and /usr/include/machine"),
    Rule("{sys/kern/syscalls.master,sys/sys/syscall.mk}", W | K,
         "system call table: the kernel's sysent and libc's stubs come from it"),
    Rule("sys/conf/newvers.sh", W | K, "version script: kernel version and world's osreldate.h"),
    Rule("sys/conf/acpi.mk", W, "ACPICA layout used by the usr.sbin/acpi tools"),
    Rule("sys/conf/**", K, "kernel build machinery (files lists, kern.*.mk, options)"),
    Rule("sys/boot/**", W, "boot loader: built by buildworld and installed into the image; "
                           "a vkernel does not boot through it"),
    Rule("sys/contrib/dev/acpica/**", W, "ACPICA sources compiled into usr.sbin/acpi tools"),
    Rule("sys/contrib/edk2/**", W, "EFI headers used by the EFI loader and libefivar"),
    Rule("sys/contrib/dev/**", N, "firmware and vendor code of hardware drivers VKERNEL64 "
                                  "does not compile"),
    Rule("sys/{" + ",".join(INSTALLED_HEADER_DIRS + INSTALLED_HEADER_SUBDIRS) + "}/**/*.h",
         W | K, _INSTALLED),
    Rule("sys/{" + ",".join(INSTALLED_HEADER_FILES) + "}", W | K, _INSTALLED),
    Rule("sys/dev/acpica/*.h", W, "ACPI header the usr.sbin/acpi tools compile against"),
    Rule("{sys/libkern,sys/libprop,sys/vfs/hammer2/xxhash}/**", W | K,
         "kernel source also compiled into userland (sbin/hammer crc32, libprop, hammer2)"),
    Rule("sys/dev/virtual/vkernel/**", K, "vkernel devices (vkd, vke, vcd)"),
    Rule("sys/dev/disk/{md,vn}/**", K, "pseudo disks configured in VKERNEL64 (md, vn)"),
    Rule("sys/dev/Makefile*", K, "module build entry for every platform"),
    Rule("sys/dev/**", N, "hardware driver: VKERNEL64 does not compile it and the vkernel64 "
                          "module build only enters dev/virtual/vkernel"),
    Rule("sys/**", K, "kernel source compiled into VKERNEL64 or its modules"),
    # --- userland ------------------------------------------------------------------------
    Rule("include/**", W, "userland header"),
    Rule("etc/{Makefile*,mtree/**}", W, "used by buildworld (mtree specs, etc/Makefile)"),
    Rule("etc/**", I, "configuration installed into the image by make distribution"),
    Rule("initrd/**", W, "rescue and initrd, buildworld stage 5"),
    Rule("{bin,sbin,lib,libexec,usr.bin,usr.sbin,gnu,contrib,crypto,games,share,stand}/**", W,
         "userland built by buildworld"),
    Rule("**", W | K, "outside the known tree layout: build everything to be safe"),
)


@dataclass(frozen=True)
class Plan:
    world: bool
    kernel: bool
    image: bool
    tests: bool
    reasons: tuple[str, ...] = ()

    @classmethod
    def from_stages(cls, stages: Stage, reasons: Iterable[str] = ()) -> "Plan":
        stages = closure(stages)
        return cls(world=bool(stages & W), kernel=bool(stages & K), image=bool(stages & I),
                   tests=bool(stages & T), reasons=tuple(reasons))

    @property
    def stages(self) -> Stage:
        s = N
        for flag, on in ((W, self.world), (K, self.kernel), (I, self.image), (T, self.tests)):
            if on:
                s |= flag
        return s

    def nothing(self) -> bool:
        return not (self.world or self.kernel or self.image or self.tests)

    def describe(self) -> str:
        if not self.nothing():
            return stage_names(self.stages)
        if self.reasons and all(f": {DOC}" in r for r in self.reasons):
            return "nothing (documentation only)"
        return "nothing (no change reaches the vkernel test)"

    def to_properties(self) -> dict:
        return {
            "vkckpt_plan": self.describe(),
            "vkckpt_build_world": self.world,
            "vkckpt_build_kernel": self.kernel,
            "vkckpt_build_image": self.image,
            "vkckpt_run_tests": self.tests,
            "vkckpt_plan_reasons": list(self.reasons),
        }


def _normalize(path) -> str | None:
    """A usable tree path, or None for garbage (non-strings, empty, '..' escapes)."""
    if isinstance(path, bytes):
        path = path.decode("utf-8", "replace")
    if not isinstance(path, str):
        return None
    path = path.strip().replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    path = re.sub(r"/+", "/", path).strip("/")
    if not path or ".." in path.split("/"):
        return None
    return path


def rules_for(suite_prefix: str | None = DEFAULT_SUITE_PREFIX) -> tuple[Rule, ...]:
    """RULES with the plugin's guest-suite rule in front of the test/ rules."""
    return _rules_for(_normalize(suite_prefix) if suite_prefix else None)


@functools.lru_cache(maxsize=8)
def _rules_for(prefix: str | None) -> tuple[Rule, ...]:
    if not prefix:
        return RULES
    suite = Rule(_escape_glob(prefix) + "/**", T, "guest checkpoint suite of the plugin")
    at = next(i for i, r in enumerate(RULES) if r.pattern.startswith("test/"))
    return RULES[:at] + (suite,) + RULES[at:]


def _escape_glob(text: str) -> str:
    return re.sub(r"([*?\[\]{},\\])", r"\\\1", text)


def rule_for(path: str, suite_prefix: str | None = DEFAULT_SUITE_PREFIX) -> Rule:
    norm = _normalize(path)
    for rule in rules_for(suite_prefix):
        if norm is not None and rule.matches(norm):
            return rule
    return RULES[-1]


def classify_paths(paths: Iterable[str] | None,
                   suite_prefix: str | None = DEFAULT_SUITE_PREFIX) -> Plan:
    """The plan for one change. No file list (None or empty) means build everything."""
    if paths is None or isinstance(paths, (str, bytes)):
        # A bare string is not a list of paths; treat it as one path, not as characters.
        paths = [] if paths is None else [paths]
    paths = [p for p in (_normalize(p) for p in paths) if p is not None]
    if not paths:
        return Plan.from_stages(EVERYTHING, ("no file list (forced build or a hook without "
                                             "files): build everything",))
    rules = rules_for(suite_prefix)
    hits: dict[Rule, list[str]] = {}
    for path in paths:
        rule = next(r for r in rules if r.matches(path))  # the last rule matches anything
        hits.setdefault(rule, []).append(path)
    stages = N
    ranked = []
    for rule, matched in hits.items():
        stages |= rule.stages
        more = f" (+{len(matched) - 1} more)" if len(matched) > 1 else ""
        ranked.append((_weight(rule.effect), f"{matched[0]}{more}: {rule.reason}"))
    # Reasons for the biggest effects first (stable within equal weights), capped.
    ranked.sort(key=lambda item: -item[0])
    return Plan.from_stages(stages, [reason for _, reason in ranked][:MAX_REASONS])


def _weight(stages: Stage) -> int:
    return sum(w for flag, w in ((W, 8), (K, 4), (I, 2), (T, 1)) if stages & flag)


def merge(plans: Iterable[Plan]) -> Plan:
    """Union of several changes' plans (one build for several pushes). No plans = everything."""
    plans = list(plans)
    if not plans:
        return Plan.from_stages(EVERYTHING, ("no changes (forced build): build everything",))
    stages = N
    reasons: list[str] = []
    for plan in plans:
        stages |= plan.stages
        reasons.extend(r for r in plan.reasons if r not in reasons)
    return Plan.from_stages(stages, reasons[:MAX_REASONS])


def plan_for_changes(changes: Iterable, suite_prefix: str | None = DEFAULT_SUITE_PREFIX) -> Plan:
    """The plan for a build request's changes (objects with a ``files`` attribute)."""
    return merge(classify_paths(getattr(c, "files", None), suite_prefix) for c in changes)


def is_important(change, suite_prefix: str | None = DEFAULT_SUITE_PREFIX) -> bool:
    """For ``SingleBranchScheduler(fileIsImportant=...)``: skip changes whose plan is nothing.

    A change without files is important (it builds everything)."""
    return not classify_paths(getattr(change, "files", None), suite_prefix).nothing()


def reuse_note(plan: Plan, last_good_build: int | None) -> str:
    """First-step summary: ``plan: kernel + image + tests; world reused from build 41``."""
    text = f"plan: {plan.describe()}"
    if plan.nothing():
        return text
    reused = [name for name, built in (("world", plan.world), ("kernel", plan.kernel))
              if not built]
    if not reused:
        return text
    what = " and ".join(reused)
    if last_good_build is None:
        return f"{text}; no earlier good build to reuse {what} from"
    return f"{text}; {what} reused from build {int(last_good_build)}"


def rules_table_rst(suite_prefix: str | None = DEFAULT_SUITE_PREFIX) -> str:
    """The rule table as an RST list-table; docs/build-plans.rst embeds it (a test checks)."""
    lines = [".. list-table::", "   :header-rows: 1", "   :widths: 40 20 40", "",
             "   * - Pattern (first match wins)", "     - Rebuilds", "     - Why"]
    for rule in rules_for(suite_prefix):
        lines += [f"   * - ``{rule.pattern}``", f"     - {stage_names(rule.effect)}",
                  f"     - {rule.reason}"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    """``python -m buildbot_vkckpt.changes PATH...`` prints the plan; ``--rst`` the table."""
    import sys
    args = sys.argv[1:] if argv is None else list(argv)
    if args == ["--rst"]:
        sys.stdout.write(rules_table_rst())
        return 0
    plan = classify_paths(args)
    print(plan.describe())
    for reason in plan.reasons:
        print("  " + reason)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
