"""What the simulated make knows: constants, what each world stage and the kernel build,
the warnings it prints (bmake.py)."""


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
