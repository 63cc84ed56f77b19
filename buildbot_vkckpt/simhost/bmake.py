"""The simulated DragonFly ``make``: the top-level targets of ``/usr/src`` and ``etc distribution``.

Run by the wrapper ``ROOT/bin/make`` as ``python -m buildbot_vkckpt.simhost.bmake make ARGS...``.
The source directory is the current directory (a checkout of the fake tree, see tree.py), so a
Buildbot worker's own checkout works as well as ``ROOT/src``.

It prints what DragonFly's ``Makefile``/``Makefile.inc1`` print (reference/dragonfly.md §9, §12):
the 62-dash banners, ``===> dir`` and ``cc`` lines per stage, compiler warnings and errors on
stderr, and bmake's failure lines in serial and ``-j`` form, one pair per nesting level (§13).
It leaves its outputs where DragonFly does: the world stage in ``${MAKEOBJDIRPREFIX}/world_x86_64``,
objects in ``${MAKEOBJDIRPREFIX}${SRCDIR}``, the kernel in ``…${SRCDIR}/sys/<KERNCONF>/kernel.debug``
(a script that runs the simulated vkernel). Faults come from ``ROOT/state/faults.json``.
"""
import os
import random
import shutil
import sys
import time
from pathlib import Path

from buildbot_vkckpt.simhost import tree
from buildbot_vkckpt.simhost.host import SimHost

DASHES = "-" * 62
MACHINE_ARCH = "x86_64"
DEFAULT_KERNCONF = "X86_64_GENERIC"
VERSION_BASE = "5.9.0"
WORLD_STAMP = ".buildworld-done"
KERNEL_STAMP = ".buildkernel-revision"
SPEED_VAR = "VKCKPT_SIM_SPEED"

TOP_TARGETS = ("buildworld", "quickworld", "realquickworld", "buildkernel", "quickkernel",
               "nativekernel", "installworld", "installkernel", "reinstallkernel")

WORLD_CFLAGS = ("-O2 -pipe -std=gnu99 -Wsystem-headers -Wall -Wno-format-y2k -W "
                "-Wno-unused-parameter -Wstrict-prototypes -Wmissing-prototypes "
                "-Wpointer-arith -Wno-uninitialized -Wno-pointer-sign")
KERNEL_CFLAGS = ("-pipe -O -fno-strict-aliasing -march=x86-64 -g -Wall -Wredundant-decls "
                 "-Wnested-externs -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith "
                 "-Winline -Wcast-qual -Wold-style-definition -std=c99 -nostdinc -I. -I{src}/sys "
                 "-D_KERNEL -include opt_global.h -fno-common -ffreestanding")


class MakeError(Exception):
    """A failed make: ``levels`` are (target, directory) pairs, innermost first; ``code`` is the
    exit status of the failed command, which only the innermost level reports."""

    def __init__(self, levels, code=1):
        super().__init__(levels)
        self.levels = list(levels)
        self.code = code

    def wrap(self, target, directory):
        self.levels.append((target, str(directory)))
        return self


# --- what each world stage builds ----------------------------------------------------------
# (directory, sources, product); a product ending in .a is a library.
BOOTSTRAP_TOOLS = [
    ("usr.bin/m4", ["eval.c", "expr.c", "look.c", "main.c", "misc.c", "gnum4.c", "trace.c"], "m4"),
    ("usr.bin/sed", ["compile.c", "main.c", "misc.c", "process.c"], "sed"),
    ("usr.bin/xinstall", ["xinstall.c"], "xinstall"),
    ("usr.bin/yacc", ["closure.c", "error.c", "lalr.c", "lr0.c", "main.c", "mkpar.c",
                      "output.c", "reader.c", "symtab.c", "verbose.c", "warshall.c"], "yacc"),
]
BUILD_TOOLS = [
    ("bin/sh", ["mknodes.c", "mksyntax.c"], "mksyntax"),
    ("lib/libncurses/libncurses", ["make_hash.c", "make_keys.c"], "make_keys"),
]
CROSS_TOOLS = [
    ("gnu/usr.bin/binutils234/libbfd", ["archive.c", "bfd.c", "elf64-x86-64.c", "format.c",
                                        "opncls.c", "section.c"], "libbfd.a"),
    ("gnu/usr.bin/binutils234/ld", ["ldexp.c", "ldlang.c", "ldmain.c", "ldwrite.c"], "ld.bfd"),
    ("gnu/usr.bin/cc80/libiberty", ["concat.c", "hashtab.c", "obstack.c", "xmalloc.c"],
     "libiberty.a"),
    ("gnu/usr.bin/cc80/libbackend", ["alias.c", "builtins.c", "cfgexpand.c", "combine.c",
                                     "df-core.c", "emit-rtl.c", "expr.c", "gimple.c",
                                     "gimplify.c", "ipa-inline.c", "lra.c", "optabs.c",
                                     "reload.c", "tree.c", "tree-ssa.c", "varasm.c"],
     "libbackend.a"),
    ("gnu/usr.bin/cc80/cc1", ["c-decl.c", "c-parser.c", "c-typeck.c", "main.c"], "cc1"),
    ("gnu/usr.bin/cc80/cc", ["gcc.c", "gcc-main.c"], "cc"),
]
LIBRARIES = [
    ("lib/csu/x86_64", ["crt1.c", "crti.S", "crtn.S"], "crt1.o"),
    ("lib/libc", ["gen/getcwd.c", "gen/sysctl.c", "gen/glob.c", "gen/popen.c",
                  "stdio/vfprintf.c", "stdio/fopen.c", "stdlib/malloc.c", "stdlib/qsort.c",
                  "string/strlcpy.c", "string/strstr.c", "sys/checkpoint.c", "net/getaddrinfo.c"],
     "libc.a"),
    ("lib/libutil", ["login_cap.c", "pidfile.c", "pty.c", "humanize_number.c"], "libutil.a"),
    ("lib/libm", ["src/e_exp.c", "src/e_log.c", "src/s_sin.c"], "libm.a"),
    ("lib/libthread_xu", ["thread/thr_create.c", "thread/thr_mutex.c", "thread/thr_sig.c"],
     "libthread_xu.a"),
    ("lib/libkvm", ["kvm.c", "kvm_proc.c"], "libkvm.a"),
    ("lib/libedit", ["chared.c", "el.c", "read.c"], "libedit.a"),
]
EVERYTHING = [
    ("bin/cat", ["cat.c"], "cat"),
    ("bin/ls", ["cmp.c", "ls.c", "print.c", "util.c"], "ls"),
    ("bin/ps", ["fmt.c", "keyword.c", "print.c", "ps.c"], "ps"),
    ("bin/sh", ["alias.c", "eval.c", "expand.c", "jobs.c", "main.c", "parser.c", "var.c"], "sh"),
    ("sbin/init", ["init.c"], "init"),
    ("sbin/mount", ["getmntopts.c", "mount.c"], "mount"),
    ("sbin/newfs", ["mkfs.c", "newfs.c"], "newfs"),
    ("sbin/disklabel64", ["disklabel64.c", "edisklabel64.c"], "disklabel64"),
    ("libexec/getty", ["chat.c", "gettytab.c", "init.c", "main.c", "subr.c"], "getty"),
    ("usr.bin/checkpt", ["checkpt.c"], "checkpt"),
    ("usr.bin/grep", ["file.c", "grep.c", "queue.c", "util.c"], "grep"),
    ("usr.sbin/vnconfig", ["vnconfig.c"], "vnconfig"),
    ("usr.sbin/vknetd", ["bridge.c", "mac.c", "vknetd.c"], "vknetd"),
]
INITRD = [("initrd/rescue", ["rescue.c"], "rescue")]

# What installworld puts where: object product -> path under DESTDIR.
INSTALLED = {
    "bin/cat": "bin/cat", "bin/ls": "bin/ls", "bin/ps": "bin/ps", "bin/sh": "bin/sh",
    "sbin/init": "sbin/init", "sbin/mount": "sbin/mount", "sbin/newfs": "sbin/newfs",
    "sbin/disklabel64": "sbin/disklabel64", "libexec/getty": "usr/libexec/getty",
    "usr.bin/checkpt": "usr/bin/checkpt", "usr.bin/grep": "usr/bin/grep",
    "usr.sbin/vnconfig": "usr/sbin/vnconfig", "usr.sbin/vknetd": "usr/sbin/vknetd",
    "lib/libc": "lib/libc.so.8", "lib/libutil": "lib/libutil.so.4",
    "lib/libthread_xu": "usr/lib/libthread_xu.so.2", "initrd/rescue": "rescue/rescue",
}
HIERARCHY = ["bin", "boot", "dev", "etc/defaults", "etc/mtree", "etc/rc.d", "lib", "mnt", "proc",
             "rescue", "root", "sbin", "tmp", "usr/bin", "usr/include", "usr/lib", "usr/libexec",
             "usr/sbin", "usr/share/man", "var/log", "var/run", "var/tmp"]

KERNEL_COMMON = ["kern/kern_checkpoint.c", "kern/kern_exec.c", "kern/kern_fork.c",
                 "kern/kern_sig.c", "kern/kern_synch.c", "kern/vfs_syscalls.c", "kern/vfs_bio.c",
                 "vm/vm_map.c", "vm/vm_fault.c", "vm/vm_vmspace.c", "vfs/ufs/ffs_vfsops.c",
                 "vfs/hammer2/hammer2_vfsops.c", "vfs/tmpfs/tmpfs_vnops.c", "net/if.c",
                 "netinet/tcp_input.c", "ddb/db_trace.c"]
KERNEL_PLATFORM = {
    "vkernel64": ["platform/vkernel64/platform/init.c", "platform/vkernel64/platform/console.c",
                  "platform/vkernel64/platform/machintr.c", "platform/vkernel64/x86_64/trap.c",
                  "platform/vkernel64/x86_64/mp.c", "dev/virtual/vkernel/disk/vdisk.c",
                  "dev/virtual/vkernel/net/if_vke.c", "dev/virtual/vkernel/cdrom/vcd.c"],
    "pc64": ["platform/pc64/x86_64/machdep.c", "platform/pc64/x86_64/trap.c",
             "dev/disk/ahci/ahci.c", "dev/netif/em/if_em.c"],
}
KERNEL_MODULES = ["vfs/nullfs", "vfs/procfs", "net/if_tap", "net/bridge"]

# The warnings of a normal build: (file the compile line builds, warning, its source line).
# Header warnings repeat for every file that includes the header, as with a real compiler.
NORMAL_WARNINGS = [
    ("usr.bin/m4/eval.c", ("usr.bin/m4/eval.c", 412, 7, "dodefn",
     "'strncpy' specified bound depends on the length of the source argument",
     "stringop-overflow=", "strncpy(buf, p, strlen(p));")),
    ("gnu/usr.bin/cc80/libbackend/combine.c", ("gnu/usr.bin/cc80/libbackend/combine.c", 2291, 12,
     "try_combine", "this statement may fall through", "implicit-fallthrough=",
     "new_mode = GET_MODE (dest);")),
    ("gnu/usr.bin/cc80/libbackend/tree.c", ("gnu/usr.bin/cc80/libbackend/tree.c", 9410, 3,
     "build_common_tree_nodes", "comparison of integer expressions of different signedness: "
     "'int' and 'unsigned int'", "sign-compare", "for (i = 0; i < NUM_INT_N_ENTS; i++)")),
    ("lib/libc/gen/getcwd.c", ("lib/libc/gen/getcwd.c", 112, 9, "__getcwd",
     "'bufsize' may be used uninitialized in this function", "maybe-uninitialized",
     "if (bufsize < 2) {")),
    ("lib/libc/gen/glob.c", ("lib/libc/include/libc_private.h", 88, 1, None,
     "'__libc_isthreaded' redundant redeclaration", "redundant-decls",
     "extern int __isthreaded;")),
    ("lib/libc/stdio/vfprintf.c", ("lib/libc/include/libc_private.h", 88, 1, None,
     "'__libc_isthreaded' redundant redeclaration", "redundant-decls",
     "extern int __isthreaded;")),
    ("lib/libc/stdlib/malloc.c", ("lib/libc/stdlib/malloc.c", 1043, 21, "_slaballoc",
     "cast discards 'const' qualifier from pointer target type", "cast-qual",
     "chunk = (struct slchunk *)z->z_LChunks;")),
    ("lib/libc/stdlib/malloc.c", ("lib/libc/include/libc_private.h", 88, 1, None,
     "'__libc_isthreaded' redundant redeclaration", "redundant-decls",
     "extern int __isthreaded;")),
    ("lib/libutil/pty.c", ("lib/libutil/pty.c", 76, 14, "openpty",
     "unused variable 'ttygid'", "unused-variable", "gid_t ttygid;")),
    ("bin/ls/print.c", ("bin/ls/print.c", 307, 17, "printtime",
     "format '%ld' expects argument of type 'long int', but argument 3 has type 'time_t'",
     "format=", "(void)printf(\"%ld \", ftime);")),
    ("bin/sh/jobs.c", ("bin/sh/jobs.c", 1170, 6, "waitforjob",
     "variable 'st' set but not used", "unused-but-set-variable", "int st;")),
    ("sbin/mount/mount.c", ("sbin/mount/mount.c", 612, 3, "mountfs",
     "ignoring return value of 'fgets', declared with attribute warn_unused_result",
     "unused-result", "fgets(buf, sizeof(buf), stdin);")),
    ("libexec/getty/main.c", ("libexec/getty/main.c", 455, 10, "getname",
     "pointer targets in passing argument 1 of 'strlen' differ in signedness",
     "pointer-sign", "if (strlen(name) > 0)")),
    ("usr.bin/checkpt/checkpt.c", ("usr.bin/checkpt/checkpt.c", 74, 6, "main",
     "unused variable 'error'", "unused-variable", "int error;")),
    ("usr.sbin/vknetd/bridge.c", ("usr.sbin/vknetd/bridge.c", 133, 2, "bridge_packet",
     "this statement may fall through", "implicit-fallthrough=", "case 0:")),
    ("kern/kern_checkpoint.c", ("sys/kern/kern_checkpoint.c", 582, 15, "elf_getsigs",
     "cast discards 'const' qualifier from pointer target type", "cast-qual",
     "csi = (struct ckpt_siginfo *)ptr;")),
    ("platform/vkernel64/platform/init.c", ("sys/platform/vkernel64/platform/init.c", 1204, 9,
     "init_netif", "'netif' may be used uninitialized in this function", "maybe-uninitialized",
     "if (netif < 0)")),
]

STORM_MESSAGES = [
    ("unused variable 'tmp'", "unused-variable", "int tmp;"),
    ("comparison of integer expressions of different signedness: 'int' and 'size_t' "
     "{aka 'long unsigned int'}", "sign-compare", "if (n < len)"),
    ("this statement may fall through", "implicit-fallthrough=", "flags |= F_LONG;"),
    ("'ptr' may be used uninitialized in this function", "maybe-uninitialized", "free(ptr);"),
    ("cast discards 'const' qualifier from pointer target type", "cast-qual",
     "p = (char *)name;"),
    ("format '%d' expects argument of type 'int', but argument 2 has type 'long int'",
     "format=", "printf(\"%d\\n\", count);"),
    ("implicit declaration of function 'sys_checkpoint'", "implicit-function-declaration",
     "error = sys_checkpoint(CKPT_FREEZE, fd, -1, -1);"),
    ("variable 'error' set but not used", "unused-but-set-variable", "int error;"),
    ("declaration of 'len' shadows a previous local", "shadow", "size_t len;"),
    ("missing initializer for field 'sa_flags' of 'struct sigaction'",
     "missing-field-initializers", "struct sigaction sa = { 0 };"),
]


def world_stages(src, worlddest):
    """(key, stage target, banner, sub-make target, sub-make dir, catalogue, recursive, seconds)
    of buildworld in order; ``src`` and ``worlddest`` fill in the directories."""
    return [
        ("2", "_worldtmp", ">>> Rebuilding the temporary build tree", None, None, None, False, 0.05),
        ("1", "_bootstrap-tools", ">>> stage 1: bootstrap tools", "bootstrap-tools", "",
         BOOTSTRAP_TOOLS, False, 0.15),
        ("2b", "_obj", ">>> stage 2b: rebuilding the object tree", "par-obj", "", None, True, 0.1),
        ("2c", "_build-tools", ">>> stage 2c: build tools", "build-tools", "", BUILD_TOOLS,
         False, 0.05),
        ("3", "_cross-tools", ">>> stage 3: cross tools", "cross-tools", "", CROSS_TOOLS,
         False, 0.45),
        ("4a", "_includes", f">>> stage 4a: populating {worlddest}/usr/include", "par-includes",
         "", None, True, 0.05),
        ("4b", "_libraries", ">>> stage 4b: building libraries", "libraries", "", LIBRARIES,
         False, 0.4),
        ("4c", "_depend", ">>> stage 4c: make dependencies", "par-depend", "", None, True, 0.1),
        ("4d", "everything", ">>> stage 4d: building everything", "all", "", EVERYTHING,
         True, 0.55),
        ("5", "_initrd", ">>> stage 5: building rescue and initrd", "all", "initrd", INITRD,
         False, 0.1),
    ]


STAGE_KEYS = ("2", "1", "2b", "2c", "3", "4a", "4b", "4c", "4d", "5")
QUICK_STAGES = ("2b", "4a", "4b", "4c", "4d", "5")
# world-fail=STAGE: the directory that fails and the error printed before bmake's lines.
STAGE_FAILURES = {
    "2": (None, "_worldtmp", "mtree: {worlddest}/usr: No such file or directory"),
    "1": ("usr.bin/m4", "all", "collect2: error: ld returned 1 exit status"),
    "2b": ("lib/libc", "obj", "mkdir: {objtree}/lib/libc: Permission denied"),
    "2c": ("bin/sh", "build-tools", "collect2: error: ld returned 1 exit status"),
    "3": ("gnu/usr.bin/cc80/cc1", "all", "collect2: error: ld returned 1 exit status"),
    "4a": ("include", "includes", "install: {worlddest}/usr/include/stdio.h: No space left "
           "on device"),
    "4b": ("lib/libc", "all", "collect2: error: ld returned 1 exit status"),
    "4c": ("bin/ls", "depend", "mkdep: compile failed"),
    "4d": ("bin/sh", "all", "collect2: error: ld returned 1 exit status"),
    "5": ("initrd/rescue", "all", "collect2: error: ld returned 1 exit status"),
}


# --- command line ----------------------------------------------------------------------------
class Invocation:
    """bmake's command line: targets, ``-j``, ``-C``, ``-DVAR`` and ``VAR=value``."""

    def __init__(self, argv):
        self.targets, self.jobs, self.chdir, self.vars = [], None, None, {}
        args = list(argv)
        while args:
            arg = args.pop(0)
            if arg in ("-j", "-D", "-C", "-m", "-f", "-I", "-V", "-d", "-T") and args:
                value = args.pop(0)
                self._option(arg[1], value)
            elif arg.startswith("-") and len(arg) > 2 and arg[1] in "jDCmfIVdT":
                self._option(arg[1], arg[2:])
            elif arg.startswith("-"):
                pass  # -s, -k, -n, -B ...: accepted, no effect here
            elif "=" in arg:
                name, _, value = arg.partition("=")
                self.vars[name] = value
            else:
                self.targets.append(arg)

    def _option(self, flag, value):
        if flag == "j":
            try:
                self.jobs = max(1, int(value))
            except ValueError:
                self.jobs = 1
        elif flag == "D":
            self.vars[value] = "1"
        elif flag == "C":
            self.chdir = value


# --- output ------------------------------------------------------------------------------------
class Output:
    """stdout/stderr with pacing: a stage's lines take its share of the build's time, flushed in
    small pieces so a live log shows progress. Speed 0 means instant."""

    CHUNKS = 8

    def __init__(self, speed, out=None, err=None):
        self.speed = speed
        self.streams = {"out": out or sys.stdout, "err": err or sys.stderr}
        self._last = "out"

    def write(self, stream, text):
        if stream != self._last:
            self.streams[self._last].flush()
            self._last = stream
        self.streams[stream].write(text + "\n")

    def out(self, text=""):
        self.write("out", text)

    def err(self, text):
        self.write("err", text)

    def flush(self):
        for s in self.streams.values():
            s.flush()

    def banner(self, text):
        for line in ("", DASHES, text, DASHES):
            self.out(line)
        self.flush()

    def paced(self, lines, seconds):
        """Write (stream, text) pairs over ``seconds`` nominal seconds."""
        delay = 0 if self.speed <= 0 else seconds / self.speed / self.CHUNKS
        step = max(1, -(-len(lines) // self.CHUNKS))
        for i in range(0, len(lines), step):
            for stream, text in lines[i:i + step]:
                self.write(stream, text)
            self.flush()
            if delay:
                time.sleep(delay)


def speed_from(host, environ):
    """Build speed factor: ``VKCKPT_SIM_SPEED`` (env) or ``sim_speed`` in host state; 1 = the
    demo's pace, 0 = instant, 2 = twice as fast."""
    raw = environ.get(SPEED_VAR)
    if raw is None:
        try:
            raw = host.load_state().get("sim_speed")
        except (OSError, ValueError, AttributeError):
            raw = None
    try:
        return max(0.0, float(raw)) if raw is not None else 1.0
    except (TypeError, ValueError):
        return 1.0


def date_now():
    """``LC_ALL=C date``."""
    return time.strftime("%a %b %e %H:%M:%S %Z %Y")


def write_marker(path, text, mode=0o644):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


# --- the make ------------------------------------------------------------------------------------
class BMake:
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

    # --- kernels ----------------------------------------------------------------------------
    def kernconfs(self):
        return self.var("KERNCONF", DEFAULT_KERNCONF).split() or [DEFAULT_KERNCONF]

    def kernel_objdir(self, kernconf):
        return Path(f"{self.objtree}/sys/{kernconf}")

    def check_kernconfs(self, target):
        confdir = self.src / "sys" / "config"
        missing = [k for k in self.kernconfs() if not (confdir / k).is_file()]
        if missing:
            self.o.out(">>> ERROR: Missing kernel configuration file(s).")
            for k in missing:
                self.o.out(f">>> {k} not found in {confdir}.")
            raise MakeError([(target, self.src)], 1)

    def buildkernel(self):
        self.kernels("buildkernel", need_world=True, quick=False)

    def nativekernel(self):
        self.kernels("nativekernel", need_world=False, quick=False)

    def quickkernel(self):
        self.kernels("quickkernel", need_world=True, quick=True)

    def kernels(self, target, need_world, quick):
        self.check_kernconfs(target)
        if need_world and not self.world_done():
            for line in ("You must buildworld before buildkernel.  If you wish",
                         "to build a kernel using native tools, config it manually",
                         "or use the nativekernel target if you are in a rush."):
                self.o.out(line)
            raise MakeError([(target, self.src)], 1)
        for kernconf in self.kernconfs():
            try:
                self.build_one_kernel(kernconf, quick)
            except MakeError as exc:
                raise exc.wrap(target, self.src)

    def build_one_kernel(self, kernconf, quick):
        kobj = self.kernel_objdir(kernconf)
        config = (self.src / "sys" / "config" / kernconf).read_text()
        platform = "vkernel64" if "platform\tvkernel64" in config.replace(" ", "\t") else "pc64"
        self.o.banner(f">>> Kernel build for {kernconf} started on {date_now()}")
        self.o.out(f"===> {kernconf}")
        lines = []
        if quick:
            if not kobj.is_dir():
                lines.append(("out", f"cd {kobj}; make KERNEL=kernel all"))
                lines.append(("err", f"sh: cd: {kobj}: No such file or directory"))
                self.o.paced(lines, 0)
                raise MakeError([], 2)
            changed = self.changed_since(kobj / KERNEL_STAMP, True)
        else:
            changed = self.changed_since(kobj / KERNEL_STAMP, self.defined("NO_CLEAN"))
            lines.append(("out", f"mkdir -p {self.objtree}/sys"))
            lines.append(("out", f"cd {self.src}/sys/config; config -d {kobj} "
                                 f"{self.src}/sys/config/{kernconf}"))
            lines.append(("out", f"Kernel build directory is {kobj}"))
            lines.append(("out", "Don't forget to do a ``make depend''"))
            if not self.defined("NO_CLEAN"):
                lines.append(("out", f"cd {kobj}; make KERNEL=kernel clean"))
                lines.append(("out", "rm -f *.o *.so *.So *.ko *.s eddep errs kernel.debug "
                                     "kernel.stripped linterrs makelinks setdef[01].c "
                                     "setdefs.h tags vers.c version"))
                for name in ("version", "kernel.debug", "kernel.stripped", KERNEL_STAMP):
                    if (kobj / name).exists():
                        (kobj / name).unlink()
            kobj.mkdir(parents=True, exist_ok=True)
            write_marker(kobj / "Makefile", f"# kernel Makefile for {kernconf} ({platform})\n")
            lines.append(("out", f"cd {kobj}; make KERNEL=kernel depend{self.kmake_flags()}"))
            lines.append(("out", f"mkdep -f .newdep -a -x c -nostdinc -I. -I{self.src}/sys "
                                 "-D_KERNEL -include opt_global.h"))
        self.o.paced(lines, 0.15)
        lines = [("out", f"cd {kobj}; make KERNEL=kernel all{self.kmake_flags()}")]
        files = KERNEL_COMMON + KERNEL_PLATFORM[platform]
        error_path = self.kernel_error_path()
        if error_path and error_path not in files:
            files = files + [error_path]
        storm = self.fault("warning-storm")
        storm_map = self.storm(int(storm) if storm and storm.isdigit() else 500,
                               [f"sys/{f}" for f in files]) if storm is not None else {}
        cflags = KERNEL_CFLAGS.format(src=self.src)
        failure = None
        for f in files:
            path = f"sys/{f}"
            if changed is not None and path not in changed and f != error_path:
                continue
            lines.append(("out", f"cc -c {cflags} {self.src}/{path}"))
            if f == error_path:
                lines.extend(self.compile_error_lines(path))
                failure = MakeError([(Path(f).stem + ".o", kobj)], 1)
                break
            for trigger, warning in NORMAL_WARNINGS:
                if trigger == f:
                    lines.extend(self.warning_lines(*warning))
            for warning in storm_map.get(path, []):
                lines.extend(self.warning_lines(*warning))
        if failure is None:
            buildno = self.next_buildno(kobj)
            lines += [("out", f"sh {self.src}/sys/conf/newvers.sh "
                              f"{self.src}/sys/platform/{platform}/conf"),
                      ("out", f"cc -c {cflags} vers.c"),
                      ("out", "linking kernel.debug"),
                      ("out", "   text\t   data\t    bss\t    dec\t    hex\tfilename"),
                      ("out", "3841027\t 187224\t 482120\t4510371\t 44d2a3\tkernel.debug"),
                      ("out", "objcopy --strip-debug kernel.debug kernel.stripped")]
            if not self.defined("NO_MODULES"):
                lines.append(("out", f"cd {kobj}; make KERNEL=kernel modules"))
                for mod in KERNEL_MODULES:
                    lines.append(("out", f"===> {mod}"))
                    lines.append(("out", f"cc -c {cflags} {self.src}/sys/{mod}/"
                                         f"{Path(mod).name}.c"))
                    lines.append(("out", f"ld -Bshareable -d -warn-common -o "
                                         f"{Path(mod).name}.ko {Path(mod).name}.kld"))
        self.o.paced(lines, 0.85 if changed is None else 0.25)
        if failure:
            raise failure
        self.write_kernel(kobj, kernconf, platform, buildno)
        self.o.banner(f">>> Kernel build for {kernconf} completed on {date_now()}")

    def kmake_flags(self):
        return " -DNO_MODULES" if self.defined("NO_MODULES") else ""

    def kernel_error_path(self):
        """The kernel source (relative to sys/) that fails: ``kernel-fail[=PATH]`` or a
        ``compile-error`` under sys/."""
        path = self.compile_error_path()
        if path and path.startswith("sys/"):
            return path[4:]
        kfail = self.fault("kernel-fail")
        if kfail is None:
            return None
        kfail = (kfail or "sys/kern/kern_checkpoint.c").strip("/")
        return kfail[4:] if kfail.startswith("sys/") else kfail

    @staticmethod
    def next_buildno(kobj):
        version = kobj / "version"
        try:
            n = int(version.read_text().strip()) + 1
        except (OSError, ValueError):
            n = 1
        write_marker(version, f"{n}\n")
        return n

    def write_kernel(self, kobj, kernconf, platform, buildno):
        from . import kernelbin
        rev = self.revision()
        flavour = self.host.flavour()
        base = "3.5.0" if flavour == "gsoc2013" else VERSION_BASE
        ident = (f"DragonFly v{base}.{tree.commit_count(self.src)}.g{rev[:5]}"
                 f"-DEVELOPMENT #{buildno}: {date_now()}")
        write_marker(kobj / "vers.c", f'char version[] = "{ident}\\n";\n')
        if platform == "vkernel64":
            for name in ("kernel.debug", "kernel.stripped"):
                kernelbin.write_vkernel(kobj / name, self.host.root, kernconf, ident, flavour)
        else:  # a bare-metal kernel: not runnable on this host
            text = f"simulated DragonFly kernel {kernconf} ({platform}): {ident}\n"
            write_marker(kobj / "kernel.debug", text, 0o644)
            write_marker(kobj / "kernel.stripped", text, 0o644)
        if not self.defined("NO_MODULES"):
            for mod in KERNEL_MODULES:
                write_marker(kobj / "modules" / f"{Path(mod).name}.ko",
                             f"simulated module {mod}\n")
        write_marker(kobj / KERNEL_STAMP, rev + "\n")

    # --- installs ---------------------------------------------------------------------------
    def installkernel(self):
        self.install_kernel("installkernel", keep_old=True)

    def reinstallkernel(self):
        self.install_kernel("reinstallkernel", keep_old=False)

    def install_kernel(self, target, keep_old):
        self.check_kernconfs(target)
        destdir = self.destdir(target)
        kernconf = self.kernconfs()[0]  # INSTALLKERNEL: the first of KERNCONF
        kobj = self.kernel_objdir(kernconf)
        kdir = destdir / "boot" / "kernel"
        self.o.banner(f">>> Kernel install for {kernconf} started on {date_now()}")
        self.o.out(f"cd {kobj}; make KERNEL=kernel DESTDIR={destdir} "
                   f"{'install' if keep_old else 'reinstall'}")
        if not (kobj / "kernel.debug").exists():
            self.o.err(f"sh: cd: {kobj}: No such file or directory")
            raise MakeError([(target, self.src)], 2)
        lines = []
        if keep_old and kdir.is_dir():
            old = destdir / "boot" / "kernel.old"
            shutil.rmtree(old, ignore_errors=True)
            kdir.rename(old)
            lines.append(("out", f"mv {kdir} {old}"))
        kdir.mkdir(parents=True, exist_ok=True)
        lines.append(("out", f"mkdir -p {kdir}"))
        lines.append(("out", f"install -o root -g wheel -m 555 kernel.debug {kdir}/kernel"))
        shutil.copyfile(kobj / "kernel.debug", kdir / "kernel")
        (kdir / "kernel").chmod(0o755)
        modules = kobj / "modules"
        if not self.defined("NO_MODULES") and modules.is_dir():
            for ko in sorted(modules.iterdir()):
                lines.append(("out", f"install -o root -g wheel -m 444 {ko.name} {kdir}"))
                shutil.copyfile(ko, kdir / ko.name)
        self.o.paced(lines, 0.05)
        self.o.banner(f">>> Kernel install for {kernconf} completed on {date_now()}")

    def installworld(self):
        destdir = self.destdir("installworld")
        self.o.banner(">>> starting installworld target")
        if not self.world_done():
            self.o.err(f"sh: {self.worlddest}/usr/bin/make: not found")
            raise MakeError([("installworld", self.src)], 127)
        rev = (self.worlddest / WORLD_STAMP).read_text().strip()
        self.o.banner(">>> Making hierarchy")
        lines = [("out", f"cd {self.src}; make -f Makefile.inc1 hierarchy"),
                 ("out", f"mtree -deU -f {self.src}/etc/mtree/BSD.root.dist -p {destdir}/")]
        for d in HIERARCHY:
            (destdir / d).mkdir(parents=True, exist_ok=True)
        self.o.paced(lines, 0.02)
        self.o.banner(">>> Installing everything")
        lines = [("out", f"cd {self.src}; make -f Makefile.inc1 install")]
        for d, dest in INSTALLED.items():
            lines.append(("out", f"===> {d}"))
            lines.append(("out", f"install -s -o root -g wheel -m 555 {Path(dest).name} "
                                 f"{destdir}/{Path(dest).parent}"))
            write_marker(destdir / dest, "#!/bin/sh\n"
                         f"# simulated DragonFly /{dest} from world {rev}\nexit 0\n", 0o755)
        defaults = self.src / "etc" / "defaults" / "rc.conf"
        if defaults.exists():
            write_marker(destdir / "etc" / "defaults" / "rc.conf", defaults.read_text())
        write_marker(destdir / ".world-revision", rev + "\n")
        self.o.paced(lines, 0.1)
        self.o.banner(">>> installworld target complete")

    def distribution(self):
        destdir = self.destdir("distribution")
        etc_src = self.src / "etc"
        etc = destdir / "etc"
        etc.mkdir(parents=True, exist_ok=True)
        files = {"gettytab": "gettytab", "group": "group", "master.passwd": "master.passwd",
                 "rc.conf": "rc.conf", "etc.x86_64/ttys": "ttys",
                 "defaults/rc.conf": "defaults/rc.conf"}
        lines = [("out", f"cd {etc_src}; install -o root -g wheel -m 644 gettytab group "
                         f"rc.conf {etc}"),
                 ("out", f"cd {etc_src}; install -o root -g wheel -m 600 master.passwd {etc}"),
                 ("out", f"cd {etc_src}/etc.x86_64; install -o root -g wheel -m 644 ttys {etc}"),
                 ("out", f"cd {etc_src}/defaults; install -o root -g wheel -m 444 rc.conf "
                         f"{etc}/defaults")]
        for name, dest in files.items():
            source = etc_src / name
            text = source.read_text() if source.exists() else ""
            write_marker(etc / dest, text, 0o600 if name == "master.passwd" else 0o644)
        passwd = "".join(":".join(f[:4] + f[7:]) + "\n"
                         for f in (line.split(":") for line in
                                   (etc / "master.passwd").read_text().splitlines())
                         if len(f) >= 10)
        write_marker(etc / "passwd", passwd)
        for db in ("pwd.db", "spwd.db"):
            write_marker(etc / db, "simulated password database\n")
        lines.append(("out", f"pwd_mkdb -p -d {etc} {etc}/master.passwd"))
        cshrc = etc_src / "root" / "dot.cshrc"   # etc/Makefile: dot.cshrc -> /root/.cshrc
        if cshrc.exists():
            write_marker(destdir / "root" / ".cshrc", cshrc.read_text())
            lines.append(("out", f"cd {etc_src}/root; install -o root -g wheel -m 644 "
                                 f"dot.cshrc {destdir}/root/.cshrc"))
        write_marker(etc / "fstab", "")
        lines.append(("out", f"install -o root -g wheel -m 644 /dev/null {etc}/fstab"))
        self.o.paced(lines, 0.05)


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
