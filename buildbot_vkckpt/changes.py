"""Changed paths of a DragonFly push -> build plan (world? kernel? image? tests? nothing?).

Pure Python, no Buildbot import: the scheduler's ``fileIsImportant``, the factory, the
benchmark and the docs all use the same ordered rule table, ``RULES``. The first rule whose
pattern matches a path decides what that path needs; a push needs the union over its paths.

Patterns are globs over source-tree paths: ``*`` and ``?`` stay inside one path component,
``**`` crosses components (``a/**`` is everything under ``a/``), ``{x,y}`` is alternation,
``[1-9]`` a character class and a backslash makes the next character literal.

Why one module of ~530 lines: a third of it is the rule table itself (each rule with the DragonFly
paths and the reason behind it), which is read beside the matcher that gives it its meaning.
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

    @functools.cached_property
    def prefix(self) -> str:
        """The literal start every matching path has (a cheap test before the regex)."""
        m = re.match(r"[^*?\[{\\]*", self.pattern)
        return m.group(0) if m else ""


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
    # --- not documentation, though named like it ------------------------------------------
    # tcsh keeps per-OS config headers named like manual pages (config/bsd4.4).
    Rule("contrib/tcsh-*/config/**", W, "tcsh configuration header (not a manual page)"),
    # GCC's machine descriptions (gcc/config/i386/i386.md, ...) are compiled into cc1: the
    # compiler of both world and kernel. They must win over the Markdown rule below.
    Rule("{contrib/gcc*,gnu/usr.bin/cc*}/**/*.md", W | K,
         "GCC machine description (not Markdown): compiled into the compiler of world and "
         "kernel"),
    # --- documentation: nothing to build -------------------------------------------------
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
    Rule("nrelease/**", N, "release media scripts; not part of buildworld or the image"),
    # --- build machinery and toolchain: everything -------------------------------------
    Rule("{Makefile,Makefile.inc1}", W | K,
         "top-level build machinery of buildworld and buildkernel"),
    Rule("Makefile_upgrade.inc", I,
         "list of obsolete files: installworld only copies it to /etc/upgrade (Makefile.inc1)"),
    Rule("Makefile.ssh.common", W,
         "common settings of the OpenSSH Makefiles (included by world's ssh programs)"),
    Rule("share/mk/**", W | K, "make rules used by buildworld and buildkernel"),
    Rule("{contrib/gcc*,contrib/binutils*,gnu/usr.bin/cc*,gnu/usr.bin/binutils*,"
         "gnu/lib/gcc*}/**", W | K, "toolchain: compiles both world and kernel"),
    Rule("{contrib/bmake,usr.bin/bmake,usr.sbin/config,usr.bin/objformat}/**", W | K,
         "build tool used by buildworld and buildkernel (bmake is DragonFly's make, config, "
         "compiler driver)"),
    Rule("tools/{install.sh,gitrev.sh}", W | K,
         "INSTALL of every make stage, buildkernel included (Makefile.inc1 WMAKEENV); "
         "gitrev.sh names the revision in newvers.sh's version string"),
    Rule("tools/**", N, "developer tools outside buildworld (tools/tools, tools/regression, "
                        "scripts)"),
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
    Rule("sys/conf/acpi.mk", W | K,
         "ACPICA layout: kern.pre.mk includes it for the kernel, usr.sbin/acpi/Makefile.inc "
         "for world"),
    Rule("sys/conf/**", K, "kernel build machinery (files lists, options)"),
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
         "kernel source also compiled into userland (sbin/hammer2 icrc32 and xxhash, libprop)"),
    Rule("sys/dev/virtual/vkernel/**", K, "vkernel devices (vkd, vke, vcd)"),
    Rule("sys/dev/disk/{md,vn}/**", K, "pseudo disks configured in VKERNEL64 (md, vn)"),
    Rule("sys/dev/Makefile*", K, "module build entry for every platform"),
    Rule("sys/dev/**", N, "hardware driver: VKERNEL64 does not compile it and the vkernel64 "
                          "module build only enters dev/virtual/vkernel"),
    Rule("sys/**", K, "kernel source compiled into VKERNEL64 or its modules"),
    # --- userland ------------------------------------------------------------------------
    Rule("include/**", W | K,
         "userland header; the vkernel compiles against include/ too (kern.pre.mk: "
         "-I$S/../include for vkernel64, platform/init.c includes <stdio.h>, <unistd.h>, ...)"),
    Rule("lib/csu/**", W | K,
         "crt objects: world's programs and the vkernel, which is linked as a user program "
         "(sys/platform/vkernel64/conf/Makefile)"),
    Rule("etc/{Makefile*,mtree/**}", W, "used by buildworld (mtree specs, etc/Makefile)"),
    Rule("etc/**", I, "configuration installed into the image by make distribution"),
    Rule("initrd/**", W, "rescue and initrd, buildworld stage 5"),
    Rule("share/{misc,zoneinfo}/Makefile*", W, "read by buildworld"),
    Rule("share/{misc,zoneinfo}/**", I,
         "data installed by installworld (pci_vendors, ...; zic compiles the zones at "
         "install time, share/zoneinfo/Makefile beforeinstall)"),
    Rule("{bin,sbin,lib,libexec,usr.bin,usr.sbin,gnu,contrib,crypto,games,share,stand,"
         "secure,kerberos5}/**", W, "userland built by buildworld"),
    Rule("**", W | K, "outside the known tree layout: build everything to be safe"),
)

# A path that cannot be trusted as a tree path: it is never dropped, it builds everything.
ODD_RULE = Rule("**", W | K, "unusual path name (a '..' component or a control character): "
                             "build everything to be safe")

# Host-side vkernel code: the host half of a vkernel checkpoint. This pipeline builds and
# boots a new *guest* kernel; the host keeps running its own kernel, so a change here is tested
# only as far as the guest kernel compiles and runs it (dragonfly.md §23: "The host kernel is
# half of a vkernel checkpoint"). Each with the DragonFly fact behind it.
HOST_RULES: tuple[Rule, ...] = (
    Rule("sys/kern/imgact_elf.c", N,
         "the host writes a vkernel's checkpoint: VPAGETABLE segments as file handles "
         "(each_segment, cb_put_fp) and the NT_DRAGONFLY_* notes"),
    Rule("sys/kern/kern_checkpoint.c", N,
         "the host's sys_checkpoint freezes and thaws the vkernel process (ckpt_fhtovp)"),
    Rule("sys/vm/vm_vmspace.c", N,
         "vmspace_create/vmspace_mmap/vmspace_ctl: the host system calls a vkernel runs on"),
    Rule("sys/platform/pc64/x86_64/{pmap,pmap_inval}.c", N,
         "the host pmap's VPAGETABLE support behind every vkernel memory access"),
    Rule("sys/platform/pc64/include/pmap.h", N, "the host pmap's VPAGETABLE support"),
)
UNTESTED_HOST = ("host-side vkernel code, tested only inside the guest: the host keeps running "
                 "its own kernel")

@dataclass(frozen=True)
class Plan:
    world: bool
    kernel: bool
    image: bool
    tests: bool
    reasons: tuple[str, ...] = ()
    # changed paths of host-side vkernel code (HOST_RULES): not tested by this pipeline
    untested_host_paths: tuple[str, ...] = ()

    @classmethod
    def from_stages(cls, stages: Stage, reasons: Iterable[str] = (),
                    untested_host_paths: Iterable[str] = ()) -> "Plan":
        stages = closure(stages)
        return cls(world=bool(stages & W), kernel=bool(stages & K), image=bool(stages & I),
                   tests=bool(stages & T), reasons=tuple(reasons),
                   untested_host_paths=tuple(untested_host_paths))

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
            "vkckpt_untested_host_paths": list(self.untested_host_paths),
        }


# " => " as some hooks and `git diff --stat` write a rename: "old => new" or "a/{x => y}/b"
_RENAME_BRACES = re.compile(r"^(.*)\{([^{}]*) => ([^{}]*)\}(.*)$", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _normalize(path) -> list[tuple[str, bool]]:
    """The tree paths one changed-path entry stands for, each with ``odd`` (True: not a path
    to trust, classified by ODD_RULE). [] for values that are no path at all (non-strings,
    empty). Odd names are never dropped: a rename ``old => new`` gives both sides, a ``..``
    component or a control character gives an odd path, a backslash is a character of the
    name (DragonFly paths use ``/``), bytes that are not UTF-8 are decoded with replacement."""
    if isinstance(path, bytes):
        path = path.decode("utf-8", "replace")
    if not isinstance(path, str):
        return []
    if " => " in path:
        m = _RENAME_BRACES.match(path)
        if m:
            pre, old, new, post = m.groups()
            sides = [pre + old + post, pre + new + post]
        else:
            sides = path.split(" => ", 1)
        return [n for side in sides for n in _normalize(side)]
    original, path = path, path.strip(" \t\r\n")
    while path.startswith("./"):
        path = path[2:]
    path = re.sub(r"/+", "/", path).strip("/")
    if path in ("", "."):
        # "" is no path; a name of blanks is a name git allows: odd, never dropped
        return [(original, True)] if original.strip("\r\n") else []
    odd = ".." in path.split("/") or _CONTROL.search(path) is not None
    return [(path, odd)]


def rules_for(suite_prefix: str | None = DEFAULT_SUITE_PREFIX) -> tuple[Rule, ...]:
    """RULES with the plugin's guest-suite rule in front of the test/ rules."""
    prefix = None
    if suite_prefix:
        found = _normalize(suite_prefix)
        if len(found) == 1 and not found[0][1]:
            prefix = found[0][0]
    return _rules_for(prefix)


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
    """The hand rule that decides for ``path`` (the first whose pattern matches)."""
    found = _normalize(path)
    if len(found) != 1:
        return ODD_RULE if found else RULES[-1]
    norm, odd = found[0]
    if odd:
        return ODD_RULE
    return next(r for r in rules_for(suite_prefix) if r.matches(norm))


def host_rule_for(path: str) -> Rule | None:
    return next((r for r in HOST_RULES if r.matches(path)), None)


def classify_paths(paths: Iterable[str] | None,
                   suite_prefix: str | None = DEFAULT_SUITE_PREFIX,
                   tree_rules: Iterable[Rule] = ()) -> Plan:
    """The plan for one change. No file list (None or empty) means build everything.

    ``tree_rules`` (from :mod:`buildbot_vkckpt.treerules`) add their stages to a path's hand
    rule: a derived rule never takes a stage away, and never applies to documentation."""
    decided = decide(paths, suite_prefix, tree_rules)
    if decided is None:
        return Plan.from_stages(EVERYTHING, ("no file list (forced build or a hook without "
                                             "files): build everything",))
    hits, host = decided
    stages = N
    ranked = []
    for rule, matched in hits.items():
        stages |= rule.stages
        more = f" (+{len(matched) - 1} more)" if len(matched) > 1 else ""
        ranked.append((_weight(rule.effect), f"{matched[0]}{more}: {rule.reason}"))
    # Reasons for the biggest effects first (stable within equal weights), capped; the
    # untested-host note is always kept, last.
    ranked.sort(key=lambda item: -item[0])
    host_paths = [p for matched in host.values() for p in matched]
    notes = []
    if host_paths:
        more = f" (+{len(host_paths) - 1} more)" if len(host_paths) > 1 else ""
        notes.append(f"{host_paths[0]}{more}: {UNTESTED_HOST}")
    reasons = [reason for _, reason in ranked][:MAX_REASONS - len(notes)] + notes
    return Plan.from_stages(stages, reasons, host_paths)


def decide(paths, suite_prefix: str | None = DEFAULT_SUITE_PREFIX,
           tree_rules: Iterable[Rule] = ()):
    """({rule: [paths it decided]}, {host rule: [paths]}) for a change's paths, or None when
    there is no usable file list. Every path has its hand rule (the first match) and any
    derived rule that adds a stage to it; the benchmark counts what each rule decides."""
    if paths is None or isinstance(paths, (str, bytes)):
        # A bare string is not a list of paths; treat it as one path, not as characters.
        paths = [] if paths is None else [paths]
    found = [n for p in paths for n in _normalize(p)]
    if not found:
        return None
    rules = rules_for(suite_prefix)
    derived = tuple(tree_rules or ())
    hits: dict[Rule, list[str]] = {}
    host: dict[Rule, list[str]] = {}
    for path, odd in found:
        if odd:
            hits.setdefault(ODD_RULE, []).append(repr(path)[1:-1])
            continue
        rule = next(r for r in rules if r.matches(path))  # the last rule matches anything
        hits.setdefault(rule, []).append(path)
        if derived and not rule.reason.startswith(DOC):
            for extra in derived:
                if path.startswith(extra.prefix) and extra.stages & ~rule.stages \
                        and extra.matches(path):
                    hits.setdefault(extra, []).append(path)
        hrule = host_rule_for(path)
        if hrule is not None:
            host.setdefault(hrule, []).append(path)
    return hits, host


def _weight(stages: Stage) -> int:
    return sum(w for flag, w in ((W, 8), (K, 4), (I, 2), (T, 1)) if stages & flag)


def merge(plans: Iterable[Plan]) -> Plan:
    """Union of several changes' plans (one build for several pushes). No plans = everything."""
    plans = list(plans)
    if not plans:
        return Plan.from_stages(EVERYTHING, ("no changes (forced build): build everything",))
    stages = N
    reasons: list[str] = []
    host: list[str] = []
    for plan in plans:
        stages |= plan.stages
        reasons.extend(r for r in plan.reasons if r not in reasons)
        host.extend(p for p in plan.untested_host_paths if p not in host)
    notes = [r for r in reasons if r.endswith(UNTESTED_HOST)][:1]
    others = [r for r in reasons if r not in notes]
    return Plan.from_stages(stages, others[:MAX_REASONS - len(notes)] + notes, host)


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
    """``python -m buildbot_vkckpt.changes [--tree CHECKOUT] PATH...`` prints the plan
    (``--tree``: with the rules derived from a DragonFly git checkout); ``--rst`` the table."""
    import sys
    args = sys.argv[1:] if argv is None else list(argv)
    if args == ["--rst"]:
        sys.stdout.write(rules_table_rst())
        return 0
    tree_rules = ()
    if len(args) >= 2 and args[0] == "--tree":
        from buildbot_vkckpt import treerules
        tree_rules = treerules.derive(treerules.read_checkout(args[1]))
        args = args[2:]
    plan = classify_paths(args, tree_rules=tree_rules)
    print(plan.describe())
    for reason in plan.reasons:
        print("  " + reason)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
