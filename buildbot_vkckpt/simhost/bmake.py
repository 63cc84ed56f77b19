"""The simulated DragonFly ``make``: the top-level targets of ``/usr/src`` and ``etc distribution``.

Run by the wrapper ``ROOT/bin/make`` as ``python -S -m buildbot_vkckpt.simhost.bmake make
ARGS...`` (launch.py).
The source directory is the current directory (a checkout of the fake tree, see tree.py), so a
Buildbot worker's own checkout works as well as ``ROOT/src``.

It prints what DragonFly's ``Makefile``/``Makefile.inc1`` print (reference/dragonfly.md §9, §12):
the 62-dash banners, ``===> dir`` and ``cc`` lines per stage, compiler warnings and errors on
stderr, and bmake's failure lines in serial and ``-j`` form, one pair per nesting level (§13).
It leaves its outputs where DragonFly does: the world stage in ``${MAKEOBJDIRPREFIX}/world_x86_64``,
objects in ``${MAKEOBJDIRPREFIX}${SRCDIR}``, the kernel in ``…${SRCDIR}/sys/<KERNCONF>/kernel.debug``
(a script that runs the simulated vkernel). Faults come from ``ROOT/state/faults.json``.
"""
import errno
import os
import random
import shutil
import sys
from pathlib import Path

from buildbot_vkckpt.simhost import tree
from buildbot_vkckpt.simhost.host import SimHost

from .bmakedata import (EVERYTHING, INITRD, LIBRARIES, MACHINE_ARCH, MakeError, NORMAL_WARNINGS,
                        QUICK_STAGES, STAGE_FAILURES, STAGE_KEYS, STORM_MESSAGES, TOP_TARGETS,
                        WORLD_CFLAGS, WORLD_STAMP, world_stages)
from .bmakeio import SPEED_VAR, Invocation, Output, speed_from, write_marker  # noqa: F401
from .bmakekernel import KernelTargets


# --- the make ------------------------------------------------------------------------------------
class BMake(KernelTargets):
    def __init__(self, host, inv, cwd, environ, output):
        self.host, self.inv, self.environ, self.o = host, inv, environ, output
        cwd = Path(cwd).resolve()
        if (cwd / "Makefile.inc1").exists():
            self.src, self.subdir = cwd, ""
        elif (cwd.parent / "Makefile.inc1").exists():
            self.src, self.subdir = cwd.parent, cwd.name
        else:
            self.src, self.subdir = None, str(cwd)
        self.cwd = cwd
        self.jobmode = inv.jobs is not None
        prefix = self.var("MAKEOBJDIRPREFIX") or "/usr/obj"
        self.objprefix = Path(host.host_path(prefix))
        self.worlddest = Path(f"{self.objprefix}/world_{MACHINE_ARCH}")
        self.objtree = Path(f"{self.objprefix}{self.src}") if self.src else None
        self.rng = random.Random(1)
        self.faults = host.faults()
        self._revision = None

    # variables: command line first, then environment (as bmake does)
    def var(self, name, default=""):
        if name in self.inv.vars:
            return self.inv.vars[name]
        return self.environ.get(name, default)

    def defined(self, name):
        return name in self.inv.vars or name in self.environ

    def fault(self, name):
        if name not in self.faults:
            return None
        return "" if self.faults[name] is None else str(self.faults[name])

    # --- dispatch ---------------------------------------------------------------------------
    def run(self):
        if self.src is None:
            return self.no_makefile()
        targets = self.inv.targets
        try:
            if self.subdir == "etc":
                for target in targets:
                    if target != "distribution":
                        return self.unknown_target(target)
                    self.distribution()
                return 0
            if self.subdir:
                return self.no_makefile()
            if not targets:
                self.o.out("Explicit target required.  See build(7).")
                return 0
            for target in targets:
                if target not in TOP_TARGETS:
                    return self.unknown_target(target)
                try:
                    getattr(self, target)()
                except MakeError as exc:
                    raise exc.wrap(target, self.src)  # the top-level Makefile's own level
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    # a full objdir: the tool that wrote says so in err(3)'s format, make
                    # stops (the host kernel's "write failed, filesystem is full" goes to
                    # its console, not to make's output)
                    self.o.err(f"install: {exc.filename}: No space left on device")
                    raise MakeError([("all", Path(exc.filename or self.src).parent)]) \
                        .wrap(target, self.src)
            return 0
        except MakeError as exc:
            return self.report(exc)
        finally:
            self.o.flush()

    def report(self, exc):
        """bmake's failure lines, one Error/stopped pair per nesting level (§13)."""
        for i, (target, directory) in enumerate(exc.levels):
            code = exc.code if i == 0 else (2 if self.jobmode else 1)
            if self.jobmode:
                self.o.out(f"*** [{target}] Error code {code}")
                self.o.out()
                self.o.out(f"make: stopped in {directory}")
                self.o.err("1 error")
                self.o.out()
                self.o.out(f"make: stopped in {directory}")
            else:
                self.o.out(f"*** Error code {code}")
                self.o.out()
                self.o.out("Stop.")
                self.o.out(f"make: stopped in {directory}")
        self.o.flush()
        return 2 if self.jobmode else 1

    def unknown_target(self, target):
        self.o.err(f"make: don't know how to make {target}. Stop")
        self.o.err("")
        self.o.err(f"make: stopped in {self.cwd}")
        return 2

    def no_makefile(self):
        self.o.err("make: no target to make.")
        self.o.err("")
        self.o.err(f"make: stopped in {self.cwd}")
        return 2

    # --- helpers shared by the targets --------------------------------------------------------
    def revision(self):
        if self._revision is None:
            self._revision = tree.revision(self.src)
        return self._revision

    def world_done(self):
        return self.fault("world-missing") is None and (self.worlddest / WORLD_STAMP).exists()

    def destdir(self, target):
        raw = self.var("DESTDIR")
        if not raw:
            self.o.err(f"make: {target}: the simulated host does not install into / "
                       "(set DESTDIR)")
            raise MakeError([(target, self.src)], 1)
        return Path(self.host.host_path(raw))

    def compile_error_path(self):
        """The ``compile-error`` fault as a path relative to the source directory."""
        raw = self.fault("compile-error")
        if not raw:
            return None
        for prefix in (f"{self.src}/", "/usr/src/", "./"):
            if raw.startswith(prefix):
                raw = raw[len(prefix):]
        return raw.strip("/")

    def changed_since(self, stamp, incremental):
        """Source paths changed since the revision in ``stamp``, or None (build everything)."""
        if not incremental or not stamp.exists():
            return None
        old = stamp.read_text().strip()
        try:
            names = tree.git(self.src, "diff", "--name-only", old, "HEAD")
        except Exception:  # unknown revision, not a repository: rebuild everything
            return None
        return set(filter(None, names.splitlines()))

    def warning_lines(self, path, line, col, func, message, flag, snippet):
        full = f"{self.src}/{path}"
        lines = []
        if func:
            lines.append(("err", f"{full}: In function '{func}':"))
        lines.append(("err", f"{full}:{line}:{col}: warning: {message} [-W{flag}]"))
        if snippet:
            lines.append(("err", f"  {snippet}"))
            lines.append(("err", " " * (col + 1) + "^~~~~"))
        return lines

    def storm(self, count, files):
        """``count`` warnings spread over the compiled ``files``, with some duplicates."""
        rng = random.Random(count)
        per_file = {}
        seen = []
        for _ in range(count):
            if seen and rng.random() < 0.2:
                path, warning = rng.choice(seen)
            else:
                path = rng.choice(files)
                msg, flag, snippet = rng.choice(STORM_MESSAGES)
                warning = (path, rng.randint(20, 2400), rng.randint(2, 40), None, msg, flag, None)
                seen.append((path, warning))
            per_file.setdefault(path, []).append(warning)
        return per_file

    def compile_error_lines(self, path):
        full = f"{self.src}/{path}"
        func, name = (("ckpt_freeze_proc", "ckpt_fileops") if path.startswith("sys/")
                      else ("main", "ckpt_flags"))
        return [("err", f"{full}: In function '{func}':"),
                ("err", f"{full}:217:9: error: '{name}' undeclared (first use in this "
                        f"function); did you mean '{name}_t'?"),
                ("err", f"  fp->f_ops = &{name};"),
                ("err", "          ^~~~~~~~~~~~"),
                ("err", f"{full}:217:9: note: each undeclared identifier is reported only once "
                        "for each function it appears in")]

    # --- buildworld and friends ----------------------------------------------------------------
    def buildworld(self):
        self.world("buildworld", STAGE_KEYS)

    def quickworld(self):
        self.world("quickworld", QUICK_STAGES)

    def realquickworld(self):
        self.world("realquickworld", tuple(k for k in QUICK_STAGES if k != "4c"))

    def world(self, target, keys):
        stamp = self.worlddest / WORLD_STAMP
        quick = target != "buildworld"
        if quick and not self.world_done():
            self.o.banner(f">>> starting {target} target")
            self.o.banner(">>> stage 2b: rebuilding the object tree")
            self.o.err("sh: make: not found")
            raise MakeError([("_obj", self.src)], 127)
        changed = self.changed_since(stamp, quick or self.defined("NO_CLEAN"))
        if stamp.exists():
            stamp.unlink()  # the world is unfinished until this build completes
        self.o.banner(f">>> starting {target} target")
        storm = self.fault("warning-storm")
        fail = self.fault("world-fail")
        if fail is not None and fail not in STAGE_KEYS:
            fail = "4b"
        error_path = self.compile_error_path()
        plan = []
        for stage in world_stages(self.src, self.worlddest):
            if stage[0] in keys:
                plan.append(stage)
        all_files = [f"{d}/{s}" for st in plan if st[5] for d, srcs, _ in st[5] for s in srcs]
        storm_map = self.storm(int(storm) if storm and storm.isdigit() else 500, all_files) \
            if storm is not None else {}
        for key, stage_target, banner, sub, subdir, catalogue, recursive, seconds in plan:
            self.o.banner(banner)
            try:
                lines, failure = self.world_stage(key, catalogue, changed, error_path,
                                                  storm_map, fail == key, sub, subdir, recursive)
                scale = 1.0 if changed is None else 0.3
                self.o.paced(lines, seconds * scale)
                if failure:
                    raise failure
            except MakeError as exc:
                raise exc.wrap(stage_target, self.src)
        write_marker(stamp, self.revision() + "\n")
        self.o.banner(f">>> {target} target complete")

    def world_stage(self, key, catalogue, changed, error_path, storm_map, fail, sub, subdir,
                    recursive):
        """Lines of one stage, and the MakeError that ends it (or None)."""
        src, obj, wd = self.src, self.objtree, self.worlddest
        lines = []

        def failure(directory, target, code=1):
            levels = [(target, src / directory)]
            if recursive:  # bsd.subdir.mk: one make per directory level
                parts = directory.split("/")[:-1]
                for n in range(len(parts), 0, -1):
                    levels.append((sub, src / "/".join(parts[:n])))
            if sub:
                levels.append((sub, src / subdir if subdir else src))
            return MakeError(levels, code)

        if fail:
            directory, target, message = STAGE_FAILURES[key]
            message = message.format(worlddest=wd, objtree=obj)
        if key == "2":
            if not self.defined("NO_CLEAN"):
                lines.append(("out", f"rm -rf {wd}"))
                shutil.rmtree(wd, ignore_errors=True)
            for d in ("usr/bin", "usr/include", "usr/lib", "usr/libexec", "usr/sbin"):
                (wd / d).mkdir(parents=True, exist_ok=True)
                lines.append(("out", f"mkdir -p {wd}/{d}"))
            lines.append(("out", f"mtree -deU -f {src}/etc/mtree/BSD.usr.dist -p {wd}/usr "
                                 ">/dev/null"))
            if fail:
                lines.append(("err", message))
                return lines, MakeError([], 1)
            return lines, None
        if key == "2b":
            for d in sorted({d for cat in (LIBRARIES, EVERYTHING, INITRD) for d, _, _ in cat}):
                (obj / d).mkdir(parents=True, exist_ok=True)
                lines.append(("out", f"===> {d}"))
                lines.append(("out", f"{obj}/{d} created for {src}/{d}"))
                if fail and d == directory:
                    lines.append(("err", message))
                    return lines, failure(directory, target)
            return lines, None
        if key == "4a":
            inc = wd / "usr" / "include"
            for d, hdrs in (("include", ["stdio.h", "stdlib.h", "string.h", "unistd.h"]),
                            ("sys", ["param.h", "checkpoint.h", "ckpt.h"]),
                            ("lib/libc", ["libc_private.h"])):
                lines.append(("out", f"===> {d}"))
                lines.append(("out", f"install -C -o root -g wheel -m 444 {' '.join(hdrs)} "
                                     f"{inc}{'/sys' if d == 'sys' else ''}"))
                if fail and d == directory:
                    lines.append(("err", message))
                    return lines, failure(directory, target)
            header = src / "sys" / "sys" / "param.h"
            if header.exists():
                write_marker(inc / "sys" / "param.h", header.read_text())
            return lines, None
        if key == "4c":
            for d, srcs, _ in EVERYTHING:
                lines.append(("out", f"===> {d}"))
                lines.append(("out", f"mkdep -f .depend -a -I{src}/{d} "
                                     + " ".join(f"{src}/{d}/{s}" for s in srcs)))
                if fail and d == directory:
                    lines.append(("err", message))
                    return lines, failure(directory, target)
            return lines, None
        # a compiling stage
        catalogue = [(d, list(srcs), product) for d, srcs, product in catalogue]
        if error_path:
            self.place_error_file(key, catalogue, error_path)
        for d, srcs, product in catalogue:
            lines.append(("out", f"===> {d}"))
            built = []
            for s in srcs:
                path = f"{d}/{s}"
                if changed is not None and path not in changed and path != error_path:
                    continue
                built.append(s)
                objname = Path(s).stem + ".o"
                lines.append(("out", f"cc {WORLD_CFLAGS} -I{src}/{d} -c {src}/{path} "
                                     f"-o {objname}"))
                if path == error_path:
                    lines.extend(self.compile_error_lines(path))
                    return lines, failure(d, objname)
                for trigger, warning in NORMAL_WARNINGS:
                    if trigger == path:
                        lines.extend(self.warning_lines(*warning))
                for warning in storm_map.get(path, []):
                    lines.extend(self.warning_lines(*warning))
            if fail and d == directory:
                lines.append(("err", message))
                return lines, failure(directory, target)
            if built or changed is None:
                lines.extend(self.link_lines(d, srcs, product))
                write_marker(obj / d / product,
                             f"simulated DragonFly {product} from {d}, source {self.revision()}\n")
        return lines, None

    @staticmethod
    def place_error_file(key, catalogue, path):
        """Make sure the stage that builds ``path`` compiles it (it may not be in the list)."""
        parts = path.split("/")
        top = parts[0]
        stage = {"lib": "4b", "gnu": "3", "initrd": "5", "sys": None}.get(top, "4d")
        if stage != key or len(parts) < 2:
            return
        for d, srcs, _ in catalogue:
            if path.startswith(d + "/"):
                if path[len(d) + 1:] not in srcs:
                    srcs.append(path[len(d) + 1:])
                return
        d = "/".join(parts[:2]) if len(parts) > 2 else parts[0]
        catalogue.append((d, [path[len(d) + 1:]], Path(d).name))

    def link_lines(self, d, srcs, product):
        objs = " ".join(Path(s).stem + ".o" for s in srcs)
        if product.endswith(".a"):
            name = product[3:-2]
            return [("out", f"building static {name} library"),
                    ("out", f"ar cq {product} `lorder {objs} | tsort -q`"),
                    ("out", f"ranlib {product}"),
                    ("out", f"install -C -o root -g wheel -m 444 {product} "
                            f"{self.worlddest}/usr/lib")]
        if product.endswith(".o"):
            return [("out", f"install -C -o root -g wheel -m 444 {product} "
                            f"{self.worlddest}/usr/lib")]
        return [("out", f"cc -O2 -pipe -o {product} {objs}")]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and not argv[0].startswith("-") and "=" not in argv[0] and argv[0] == "make":
        argv = argv[1:]  # the wrapper passes the tool name first
    from .procname import set_comm
    set_comm("make")
    host = SimHost.from_env()
    inv = Invocation(argv)
    cwd = Path(inv.chdir) if inv.chdir else Path.cwd()
    output = Output(speed_from(host, os.environ))
    try:
        return BMake(host, inv, cwd, os.environ, output).run()
    except KeyboardInterrupt:
        output.flush()
        return 130


if __name__ == "__main__":
    sys.exit(main())
