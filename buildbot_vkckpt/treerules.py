"""Build rules derived from the pushed DragonFly tree itself.

The hand-written table in :mod:`buildbot_vkckpt.changes` says what a *kind* of path needs; some
facts can only be read from the tree being built, and change with it:

World compiles kernel sources.
    World Makefiles reach into ``sys/`` with ``.PATH`` and ``SRCS``: ``lib/libkvm/Makefile`` sets
    ``SYSDIR= ${.CURDIR}/../../sys`` and ``.PATH: ${SYSDIR}/kern`` and lists ``kern_kinfo.c``
    in ``SRCS``; ``sbin/hammer2`` takes ``icrc32.c`` and ``xxhash.c`` from ``sys/libkern`` and
    ``sys/vfs/hammer2/xxhash``; ``lib/libprop`` its sources from ``sys/libprop``. Every such
    file (and every header in a ``.PATH`` directory, which the compiled sources include with
    quotes) needs **world**.
The vkernel build uses world paths.
    ``sys/conf/kern.pre.mk`` adds ``-I$S/../include`` for the vkernel platform ("Real kernel
    builds do not need /usr/include, but vkernel builds do") and includes ``$S/conf/acpi.mk``;
    ``sys/platform/vkernel64/conf/Makefile`` links the kernel "as a normal user program" with
    ``${CC} ... -pthread`` and no ``-nostdlib``, so the world's crt objects (``lib/csu``), libc
    and thread library go into it; ``Makefile.inc1`` builds the kernel with ``KMAKEENV=
    ${WMAKEENV}``, whose ``PATH`` holds the bootstrap tools (``BSTRAPDIRS1``/``BSTRAPDIRS2``)
    and the cross tools (``CTOOLSDIRS``), and the startup libraries come from
    ``_startup_libs*``. Every such path needs the **kernel**.

:func:`derive` turns the text of those Makefiles into :class:`~buildbot_vkckpt.changes.Rule`
objects, each naming the Makefile and the line that gave it. ``changes.classify_paths`` adds
their stages to the first matching hand rule (never fewer stages, only more), except for
documentation. :func:`wanted_makefiles` says which files to read from the checkout;
:class:`TreeRulesCache` keeps the result per tree revision.

:func:`derive` is pure Python with no I/O: the plan step reads the files on the worker with
``git grep``; :func:`read_checkout` runs the same passes on a local checkout (command line,
benchmark). The parser understands what those Makefiles use (assignments,
``+=``/``?=``/``:=``, line continuations, comments, ``.PATH``, ``.include``, ``.for`` loop
variables); conditionals are ignored, so every branch counts (more rules, never fewer). A
variable it cannot resolve becomes a ``*`` wildcard.
"""
from __future__ import annotations

import itertools
import posixpath
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from buildbot_vkckpt import changes
from buildbot_vkckpt.changes import Rule, Stage

W, K = Stage.WORLD, Stage.KERNEL

ROOT = "/@src"                   # stands for the top of the tree while paths are resolved
MAX_CANDIDATES = 8               # values one variable may take across branches
MAX_DEPTH = 12                   # nested ${...} expansion

# What the world Makefiles see as the machine: world is built for the pc64 platform.
MACHINE_VARS = {"MACHINE_ARCH": "x86_64", "MACHINE": "x86_64", "TARGET_ARCH": "x86_64",
                "TARGET": "x86_64", "MACHINE_CPUARCH": "x86_64",
                "MACHINE_PLATFORM": "pc64", "TARGET_PLATFORM": "pc64"}

# The kernel side: the files read for it, and the platform under test.
MAKEFILE_INC1 = "Makefile.inc1"
KERN_PRE_MK = "sys/conf/kern.pre.mk"
VKERNEL_MAKEFILE = "sys/platform/vkernel64/conf/Makefile"
# the vkernel's kernel Makefiles: its conf/Makefile includes kern.pre.mk and kern.post.mk,
# which includes bsd.kern.mk, which includes the platform's conf/kern.mk
KERNEL_MAKEFILES = (KERN_PRE_MK, "sys/conf/kern.post.mk", "sys/conf/bsd.kern.mk",
                    "sys/platform/vkernel64/conf/kern.mk", VKERNEL_MAKEFILE)
KERNEL_FILES = (MAKEFILE_INC1,) + KERNEL_MAKEFILES
FLAG_VARS = ("INCLUDES", "CFLAGS", "COPTS", "KCFLAGS")
# Makefile.inc1 variables naming directories whose programs or libraries the kernel build runs
# or links: KMAKEENV is WMAKEENV, whose PATH is the cross tools then the bootstrap tools.
KERNEL_TOOL_VARS = (("BSTRAPDIRS1", "bootstrap tool on the kernel build's PATH"),
                    ("BSTRAPDIRS2", "bootstrap tool on the kernel build's PATH"),
                    ("BTOOLSDIRS", "build tool on the kernel build's PATH"),
                    ("CTOOLSDIRS", "cross tool that compiles and links the kernel"),
                    ("_startup_libs80", "compiler startup objects and libgcc, which ${CC} "
                                        "links into the vkernel"))

# git grep's pattern for world Makefiles that may reach into sys/ (the plan step's first pass)
# (``../../sys``, ``${SRCDIR}/sys/kern``, ``SYSDIR``, ...; extra hits only cost a parse)
REACHES_SYS = r"\.\./sys|/sys([/ \t}]|$)|SYSDIR|SRCTOP|KERNDIR"

_ASSIGN = re.compile(r"^([A-Za-z0-9_.${}-]+)\s*([?:+!]?)=\s*(.*)$")
_PATH = re.compile(r"^\.PATH(?:\.[A-Za-z0-9_]+)?\s*:\s*(.*)$")
_FOR = re.compile(r"^\.\s*for\s+(.+?)\s+in\s+(.*)$")
_INCLUDE = re.compile(r"^\.\s*(?:-|s|d)?include\s+[\"<]([^\">]+)[\">]")
_VAR = re.compile(r"\$(?:\{([^{}]*)\}|\(([^()]*)\)|([A-Za-z0-9_.<>@*!%?]))")
_MAKEFILE_NAMES = ("Makefile", "Makefile.inc", "makefile")
# a value make would know and this parser does not; a "*" wildcard in the rule's pattern
UNKNOWN = "\x00"
_LEFTOVER = re.compile(r"\$[{(]\S*")
MAX_UNKNOWN = 3                  # wildcards in one pattern; more: the whole directory
MAX_REASON = 200


# --- reading Makefiles ---------------------------------------------------------------------
def logical_lines(text: str) -> list[str]:
    """The Makefile's lines with backslash continuations joined and comments removed."""
    out, pending = [], ""
    for raw in text.splitlines():
        line = pending + raw
        if line.endswith("\\") and not line.endswith("\\\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        out.append(_strip_comment(line).strip())
    if pending:
        out.append(_strip_comment(pending).strip())
    return [line for line in out if line]


def _strip_comment(line: str) -> str:
    for i, c in enumerate(line):
        if c == "#" and (i == 0 or line[i - 1] != "\\"):
            return line[:i]
    return line


@dataclass
class Makefile:
    """What the derivation needs from one Makefile."""
    path: str
    assigns: list[tuple[str, str, str]] = field(default_factory=list)   # (name, op, value)
    paths: list[str] = field(default_factory=list)                     # .PATH values
    includes: list[str] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)                 # first line of a text

    @classmethod
    def parse(cls, path: str, text: str) -> "Makefile":
        mk = cls(path)
        for line in logical_lines(text):
            if line.startswith("\t"):
                continue  # a command of a rule
            m = _PATH.match(line)
            if m:
                mk.paths.append(m.group(1))
                mk.lines.setdefault(m.group(1), line)
                continue
            m = _INCLUDE.match(line)
            if m:
                mk.includes.append(m.group(1))
                continue
            m = _FOR.match(line)
            if m:
                # every value of the loop variable is one of its values
                names, values = m.group(1).split(), m.group(2)
                if len(names) == 1:
                    mk.assigns.append((names[0], "for", values))
                continue
            if line.startswith("."):
                continue  # .if, .endif ...: every branch counts
            m = _ASSIGN.match(line)
            if m:
                name, op, value = m.groups()
                mk.assigns.append((name, op, value))
        return mk


class Env:
    """Variables of one directory's make run, each with every value a branch may give it."""

    def __init__(self, curdir: str, extra: Mapping[str, str] | None = None):
        self.curdir = curdir
        self.values: dict[str, list[str]] = {}
        for name, value in {**MACHINE_VARS, **(extra or {})}.items():
            self.values[name] = [value]

    def apply(self, makefile: Makefile):
        for name, op, value in makefile.assigns:
            if op == "!":
                self.values[name] = [UNKNOWN]  # shell output: unknown
            elif op == "for":
                words = [w for v in self.expand(value) for w in v.split()]
                self.values[name] = _cap(words + self.values.get(name, []))
            elif op == "+":
                old = self.values.get(name, [""])
                self.values[name] = _cap([f"{o} {value}".strip() for o in old])
            elif op == "?" and name in self.values:
                self.values[name] = _cap(self.values[name] + [value])
            else:
                known = self.values.get(name, [])
                self.values[name] = _cap([value] + [k for k in known if k != value])

    def expand(self, text: str, depth: int = 0) -> list[str]:
        """Every value ``text`` may take; an unresolvable part becomes UNKNOWN."""
        if depth > MAX_DEPTH:
            return [_LEFTOVER.sub(UNKNOWN, _VAR.sub(UNKNOWN, text))]
        parts, pos = [""], 0
        for m in _VAR.finditer(text):
            literal = text[pos:m.start()].replace("$$", "$")
            name = m.group(1) if m.group(1) is not None else (m.group(2) or m.group(3))
            choices = self._lookup(name, depth)
            parts = _cap([p + literal + c for p in parts for c in choices])
            pos = m.end()
        tail = text[pos:].replace("$$", "$")
        # what is left of a nested ${A_${B}} is no name we know
        return _cap([_LEFTOVER.sub(UNKNOWN, p + tail) for p in parts])

    def _lookup(self, name: str, depth: int) -> list[str]:
        if name == ".CURDIR":
            return [self.curdir]
        if name not in self.values or ":" in name or "$" in name:
            return [UNKNOWN]  # .OBJDIR, .TARGET, modifiers, a variable set elsewhere
        out = []
        for value in self.values[name]:
            out.extend(self.expand(value, depth + 1))
        return _cap(out)

    def words(self, text: str) -> list[str]:
        out = []
        for value in self.expand(text):
            out.extend(value.split())
        return list(OrderedDict.fromkeys(out))


def _cap(values: list[str]) -> list[str]:
    return list(OrderedDict.fromkeys(values))[:MAX_CANDIDATES]


def tree_path(word: str, curdir: str) -> str | None:
    """``word`` (a directory or file as make sees it) as a path in the tree, or None when it
    is outside the tree (an absolute host path, the object directory, an escape)."""
    if word.startswith(ROOT + "/") or word == ROOT:
        path = word
    elif word.startswith(UNKNOWN):
        # ${SRCTOP}/sys/kern, ${SRCDIR}/sys/... with the top set where this parser does not
        # look (share/mk, the environment): the tree's sys/ (more rules, never fewer)
        m = re.match(UNKNOWN + r"+/(?:\.?/)*(sys(?:/.*)?)$", word)
        if not m:
            return None
        path = ROOT + "/" + m.group(1)
    elif word.startswith("/"):
        return None
    else:
        path = posixpath.join(curdir, word)
    path = posixpath.normpath(path)
    if path == ROOT or not path.startswith(ROOT + "/"):
        return None
    rel = path[len(ROOT) + 1:]
    return rel or None


def escape_glob(path: str) -> str:
    """A tree path as a glob matching it literally, make's unknowns becoming ``*`` (at most
    MAX_UNKNOWN per component run; a name with more becomes ``*`` as a whole)."""
    out = []
    for part in path.split("/"):
        if part.count(UNKNOWN) > MAX_UNKNOWN:
            out.append("*")
            continue
        part = re.sub(r"([*?\[\]{},\\])", r"\\\1", part)
        out.append(re.sub(UNKNOWN + "+", "*", part))
    return "/".join(out)


# --- the derivation --------------------------------------------------------------------------
def _chain(path: str, makefiles: Mapping[str, Makefile]) -> list[Makefile]:
    """The Makefile.inc files above ``path``'s directory (outermost first), then itself."""
    parts = posixpath.dirname(path).split("/") if posixpath.dirname(path) else []
    chain = []
    for i in range(len(parts) + 1):
        inc = posixpath.join(*parts[:i], "Makefile.inc") if i else "Makefile.inc"
        if inc != path and inc in makefiles:
            chain.append(makefiles[inc])
    chain.append(makefiles[path])
    return chain


def _is_world_makefile(path: str) -> bool:
    """A Makefile that buildworld reads: its hand rule needs world (sys/boot, lib, bin, ...)."""
    if posixpath.basename(path) not in _MAKEFILE_NAMES or path == "Makefile":
        return False
    if path.startswith("sys/") and not path.startswith("sys/boot/"):
        return False  # the kernel's own module Makefiles
    rule = changes.rule_for(path, None)
    return bool(rule.stages & W) and not rule.reason.startswith(changes.DOC)


def _world_rules(makefiles: Mapping[str, Makefile]) -> list[Rule]:
    rules = []
    for path in sorted(makefiles):
        if not _is_world_makefile(path) or posixpath.basename(path) == "Makefile.inc":
            continue
        curdir = ROOT + "/" + posixpath.dirname(path)
        env = Env(curdir)
        chain = _chain(path, makefiles)
        for mk in chain:
            env.apply(mk)
        sys_dirs = OrderedDict()   # tree dir -> (Makefile, .PATH line)
        for mk in chain:
            for value in mk.paths:
                for word in env.words(value):
                    rel = tree_path(word, curdir)
                    if rel and rel.startswith("sys/"):
                        sys_dirs.setdefault(rel, (mk.path, mk.lines.get(value, value)))
        for mk in chain:
            for inc in mk.includes:
                for word in env.words(inc):
                    rel = tree_path(word, curdir)
                    if rel and rel.startswith("sys/") and UNKNOWN not in rel:
                        rules.append(Rule(escape_glob(rel), W,
                                          f"read by world ({mk.path}: .include \"{inc}\")"))
        srcs = env.words(" ".join(env.values.get("SRCS", [""])))
        if not srcs and env.values.get("PROG"):
            srcs = [f"{p}.c" for p in env.words(env.values["PROG"][0])]
        where = path
        names = []
        for src in srcs:
            if "/" in src:
                rel = tree_path(src, curdir)
                if rel and rel.startswith("sys/"):
                    rules.append(Rule(escape_glob(rel), W, f"compiled into world by {where} "
                                                          f"(SRCS {src.replace(ROOT, '').replace(UNKNOWN, '*')})"))
            elif src not in names:
                names.append(src)
        for sys_dir, (mk_path, line) in sys_dirs.items():
            # bmake looks for each SRCS name in .CURDIR, then along .PATH: any name may come
            # from the sys/ directory; its headers are included by those sources
            alternatives = [escape_glob(n) for n in names] + ["*.h"]
            rules.append(Rule(f"{escape_glob(sys_dir)}/{{{','.join(alternatives)}}}", W,
                              f"compiled into world by {where} ({_show(line)}; SRCS)"))
    return rules


def _show(line: str) -> str:
    line = " ".join(line.split())
    line = line if line.startswith(".PATH") else f".PATH: {line}"
    return line if len(line) <= MAX_REASON else line[:MAX_REASON - 3] + "..."


def _kernel_rules(makefiles: Mapping[str, Makefile]) -> list[Rule]:
    rules = []
    inc1 = makefiles.get(MAKEFILE_INC1)
    thread_lib = "thread_xu"
    if inc1 is not None:
        env = Env(ROOT)
        env.apply(inc1)
        thread_lib = (env.values.get("THREAD_LIB") or ["thread_xu"])[0].strip() or "thread_xu"
        for var, why in KERNEL_TOOL_VARS:
            if var not in env.values:
                continue
            for word in env.words(" ".join(env.values[var])):
                rel = tree_path(word, ROOT)
                if rel and UNKNOWN not in rel.split("/")[0]:
                    rules.append(Rule(escape_glob(rel) + "/**", K,
                                      f"{why} ({MAKEFILE_INC1}: {var})"))
    vk = makefiles.get(VKERNEL_MAKEFILE)
    sysdir = ROOT + "/sys"
    for mk in (makefiles[p] for p in KERNEL_MAKEFILES if p in makefiles):
        mkdir = ROOT + "/" + posixpath.dirname(mk.path)
        env = Env(mkdir, {"S": sysdir, "P": "vkernel64", "M": "x86_64",
                          "MACHINE_PLATFORM": "vkernel64"})
        env.apply(mk)
        env.values["S"] = [sysdir]   # config(8) points $S at sys/ (the obj dir's @ link)
        for var in FLAG_VARS:
            for value in env.values.get(var, []):
                for word in env.words(value):
                    if not word.startswith("-I"):
                        continue
                    rel = tree_path(word[2:], sysdir)
                    if rel and rel != "sys" and not rel.startswith("sys/") \
                            and UNKNOWN not in rel:
                        rules.append(Rule(escape_glob(rel) + "/**", K,
                                          f"the vkernel compiles against it ({mk.path}: "
                                          f"{var}+= {word.replace(ROOT + '/sys', '$S')})"))
        for inc in mk.includes:
            for word in env.words(inc):
                rel = tree_path(word, mkdir)   # relative to the including Makefile
                if rel and UNKNOWN not in rel:
                    rules.append(Rule(escape_glob(rel), K,
                                      f"included by the vkernel build ({mk.path}: .include "
                                      f"\"{inc}\")"))
    if vk is not None:
        env = Env(ROOT)
        env.apply(vk)
        link = " ".join(env.values.get("SYSTEM_LD", []))
        if link and "-nostdlib" not in link:
            libs = [("lib/csu", "crt objects"), ("lib/libc", "libc")]
            if "-pthread" in link or "-lpthread" in link:
                libs += [("lib/libpthread", "-pthread"), (f"lib/lib{thread_lib}", "-pthread")]
            for lib, what in libs:
                rules.append(Rule(escape_glob(lib) + "/**", K,
                                  f"linked into the vkernel ({what}): {VKERNEL_MAKEFILE} links "
                                  f"it as a user program (SYSTEM_LD without -nostdlib)"))
    return rules


def derive(files: Mapping[str, str]) -> tuple[Rule, ...]:
    """Rules from ``{tree path: Makefile text}``; duplicates (same pattern and stages) once."""
    makefiles = {path: Makefile.parse(path, text) for path, text in files.items()
                 if isinstance(path, str) and isinstance(text, str)}
    seen, out = set(), []
    for rule in itertools.chain(_world_rules(makefiles), _kernel_rules(makefiles)):
        key = (rule.pattern, rule.stages)
        if key not in seen:
            seen.add(key)
            out.append(rule)
    return tuple(out)


def wanted_makefiles(hits: Iterable[str]) -> list[str]:
    """git pathspecs to read after the first pass found ``hits`` (Makefiles mentioning sys/):
    the hits, the Makefile.inc files above them, every Makefile below a hit Makefile.inc (its
    SRCS users), and the kernel side's files. Literal pathspecs, so odd names stay names."""
    specs = OrderedDict()
    for path in KERNEL_FILES:
        specs[f":(literal){path}"] = None
    for path in sorted(set(hits)):
        if "\n" in path or not _is_world_makefile(path):
            continue
        specs[f":(literal){path}"] = None
        parts = posixpath.dirname(path).split("/") if posixpath.dirname(path) else []
        for i in range(1, len(parts) + 1):
            specs[f":(literal){posixpath.join(*parts[:i], 'Makefile.inc')}"] = None
        if posixpath.basename(path) == "Makefile.inc":
            base = posixpath.dirname(path)
            specs[f":(glob){_escape_pathspec_glob(base)}/**/Makefile"] = None
    return list(specs)


def _escape_pathspec_glob(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def parse_grep(output: str, revision: str = "HEAD") -> dict[str, str]:
    """``git grep -z -n -I -e '' <revision> -- ...`` output (``rev:path NUL line NUL text``)
    back into ``{path: text}``."""
    files: dict[str, dict[int, str]] = {}
    prefix = f"{revision}:"
    for record in output.split("\n"):
        parts = record.split("\0", 2)
        if len(parts) != 3:
            continue
        name, number, text = parts
        if name.startswith(prefix):
            name = name[len(prefix):]
        try:
            files.setdefault(name, {})[int(number)] = text
        except ValueError:
            continue
    return {name: "\n".join(lines[n] for n in sorted(lines)) + "\n"
            for name, lines in files.items()}


def parse_name_list(output: str, revision: str = "HEAD") -> list[str]:
    """``git grep -l -z`` output into paths."""
    prefix = f"{revision}:"
    return [name[len(prefix):] if name.startswith(prefix) else name
            for name in output.split("\0") if name.strip("\n")]


class TreeRulesCache:
    """Derived rules per tree revision, the few most recent kept (one master, many builds)."""

    def __init__(self, size: int = 16):
        self.size = size
        self._rules: OrderedDict[str, tuple[Rule, ...]] = OrderedDict()

    def get(self, revision: str):
        rules = self._rules.get(revision)
        if rules is not None:
            self._rules.move_to_end(revision)
        return rules

    def put(self, revision: str, rules: tuple[Rule, ...]):
        self._rules[revision] = rules
        self._rules.move_to_end(revision)
        while len(self._rules) > self.size:
            self._rules.popitem(last=False)


MAKEFILE_SPECS = (":(glob)**/Makefile", ":(glob)**/Makefile.inc", ":(glob)**/makefile")


def read_checkout(path, revision: str = "HEAD") -> dict[str, str]:
    """The Makefiles :func:`derive` needs, read from a local git checkout with the same two
    ``git grep`` passes the plan step runs on the worker (for ``python -m
    buildbot_vkckpt.changes --tree`` and ``benchmarks/plan.py --tree``)."""
    import subprocess

    def git(*args):
        done = subprocess.run(["git", "-c", "core.quotepath=off", *args], cwd=str(path),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if done.returncode not in (0, 1):
            raise RuntimeError(done.stderr.decode("utf-8", "replace").strip())
        return done.stdout.decode("utf-8", "replace")

    revision = git("rev-parse", "--verify", f"{revision}^{{commit}}").strip()
    hits = parse_name_list(git("grep", "-l", "-z", "-I", "-E", "-e", REACHES_SYS, revision,
                               "--", *MAKEFILE_SPECS), revision)
    return parse_grep(git("grep", "-z", "-n", "-I", "-e", "", revision, "--",
                          *wanted_makefiles(hits)), revision)
