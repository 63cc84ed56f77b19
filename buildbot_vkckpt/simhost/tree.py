"""The fake DragonFly source tree of a simulated host: a small git repository at ``ROOT/src``.

It has DragonFly's shape (top-level ``Makefile``/``Makefile.inc1``, ``sys/config/VKERNEL64``,
``sys/kern/kern_checkpoint.c``, ``bin/ls/ls.c``, ``etc/``, ``test/vkernel/Makefile`` …) with tiny
files, so tests can push changes to realistic paths and the simulated ``make`` (bmake.py) finds
the kernel configurations and ``etc`` files it needs. Commits use a fixed author passed through
the environment, so no global git configuration is required.
"""
import os
import subprocess
from pathlib import Path

AUTHOR = ("DragonFly Simulator", "simhost@dragonfly.invalid")

VKERNEL64 = """\
#
# VKERNEL64 - vkernel64 kernel configuration
#
platform	vkernel64
machine		x86_64
machine_arch	x86_64
cpu		HAMMER_CPU
ident		VKERNEL64
maxusers	0

makeoptions	DEBUG=-g

options		SMP
options		INET
options		INET6
options		FFS
options		SOFTUPDATES
options		HAMMER
options		HAMMER2
options		NFS
options		NFS_ROOT
options		TMPFS
options		PROCFS
options		DDB
options		DDB_TRACE

device		vkd
device		vke
device		vcd
device		loop
device		ether
device		pty
"""

X86_64_GENERIC = """\
#
# X86_64_GENERIC - generic kernel configuration for x86_64
#
platform	pc64
machine		x86_64
machine_arch	x86_64
cpu		HAMMER_CPU
ident		X86_64_GENERIC
maxusers	0

makeoptions	DEBUG=-g

options		SMP
options		INET
options		FFS
options		HAMMER2
options		DDB

device		ahci
device		em
device		xhci
"""

TTYS = """\
#
# ttys - terminal initialization information
#
# name	getty				type	status		comments
#
# If console is marked "insecure", then init will ask for the root password
# when going to single-user mode.
console	none				unknown	off secure
#
ttyv0	"/usr/libexec/getty Pc"		cons25	on  secure
# Virtual terminals
ttyv1	"/usr/libexec/getty Pc"		cons25	on  secure
ttyv2	"/usr/libexec/getty Pc"		cons25	on  secure
ttyv3	"/usr/libexec/getty Pc"		cons25	on  secure
ttyv4	"/usr/libexec/getty Pc"		cons25	on  secure
ttyv5	"/usr/libexec/getty Pc"		cons25	on  secure
ttyv6	"/usr/libexec/getty Pc"		cons25	on  secure
ttyv7	"/usr/libexec/getty Pc"		cons25	on  secure
# Serial terminals
ttyd0	"/usr/libexec/getty std.9600"	dialup	off secure
"""

GETTYTAB = """\
#
# gettytab - terminal configuration used by getty(8)
#
default:\\
	:cb:ce:ck:lc:fd#1000:im=\\r\\n%s/%m (%h) (%t)\\r\\n\\r\\n:sp#1200:\\
	:if=/etc/issue:

P|Pc|Pc console:\\
	:ht:np:sp#9600:

al.Pc:\\
	:al=root:tc=Pc:

std.9600|9600-baud:\\
	:np:sp#9600:
"""

MASTER_PASSWD = """\
root::0:0::0:0:Charlie &:/root:/bin/csh
toor:*:0:0::0:0:Bourne-again Superuser:/root:
daemon:*:1:1::0:0:Owner of many system processes:/root:/sbin/nologin
operator:*:2:5::0:0:System &:/:/sbin/nologin
_pflogd:*:64:64::0:0:pflogd privsep user:/var/empty:/sbin/nologin
nobody:*:65534:65534::0:0:Unprivileged user:/nonexistent:/sbin/nologin
"""

# etc/root/dot.cshrc (GSoC branch and master alike; prompt line unchanged since 2003). The one
# line left out is ``set path = (/sbin /bin /usr/sbin /usr/bin ...)``: the simulated guest has
# no /sbin or /bin of its own (they would be this machine's), so its PATH stays the one the
# simulated kernel gives it (docs/simhost-fidelity.rst).
DOT_CSHRC = """\
# $FreeBSD: src/etc/root/dot.cshrc,v 1.25.2.2 2001/03/05 13:36:53 asmodai Exp $
#
# .cshrc - csh resource script, read at beginning of execution by each shell
#
# see also csh(1), environ(7).
#

alias h		history 25
alias j		jobs -l
alias la	ls -a
alias lf	ls -FA
alias ll	ls -lA

# A righteous umask
umask 22

setenv	EDITOR	vi
setenv	PAGER	more
setenv	BLOCKSIZE	K

if ($?prompt) then
	# An interactive shell -- set some stuff up
	set prompt = "`hostname -s`# "
	set filec
	set history = 100
	set savehist = 100
	set mail = (/var/mail/$USER)
	if ( $?tcsh ) then
		bindkey "^W" backward-delete-word
		bindkey -k up history-search-backward
		bindkey -k down history-search-forward
	endif
endif
"""

GROUP = """\
wheel:*:0:root
daemon:*:1:
operator:*:5:root
tty:*:4:
_pflogd:*:64:
authpf:*:63:
nobody:*:65534:
"""

TEST_VKERNEL_MAKEFILE = """\
# Makefile - set up a vkernel environment for testing the vkernel
#
SRCDIR ?= ${.CURDIR}/../..
PHYSMEM ?= 256m
NCPUS ?= 2
FSTYPE ?= ufs
MAKE_JOBS ?= $(sysctl -n hw.ncpu)

.if !defined(VKDIR)
.error "must specify VKDIR=target or as an environment variable"
.endif

USEKERNEL=VKERNEL64

all: help

scratch: world kernel root install
quickw: quickworld quickkernel reinstall reinstallkernel
quick: quickkernel reinstallkernel

world: checkq
	cd ${SRCDIR} && make -j ${MAKE_JOBS} buildworld

kernel: checkq
	cd ${SRCDIR} && make -j ${MAKE_JOBS} KERNCONF=${USEKERNEL} buildkernel
"""

# path -> content. Kept tiny; paths follow DragonFly's tree (2020 master).
FILES = {
    "README": "This is the top level of the DragonFly source directory.\n",
    "UPDATING": "Updating Information for DragonFly users.\n",
    "COPYRIGHT": "Copyright (c) 2003-2020 The DragonFly Project.\n",
    "Makefile": (
        "# The user-driven targets are:\n"
        "#\n"
        "# buildworld          - Rebuild *everything*, including glue to help do upgrades.\n"
        "# quickworld          - Skip the glue and do a quick rebuild.\n"
        "# installworld        - Install everything built by \"buildworld\".\n"
        "# buildkernel         - Rebuild the kernel and the kernel-modules.\n"
        "# quickkernel         - Rebuild the kernel quickly (build or keep module tools).\n"
        "# nativekernel        - Rebuild the kernel using native tools.\n"
        "# installkernel       - Install the kernel and the kernel-modules.\n"
        "# reinstallkernel     - Reinstall the kernel and the kernel-modules.\n"
        "#\n"
        "TGTS=	buildworld quickworld realquickworld installworld buildkernel \\\n"
        "	quickkernel nativekernel installkernel reinstallkernel\n"
        "\n"
        "all:\n"
        "	@echo \"Explicit target required.  See build(7).\"\n"
        "\n"
        "${TGTS}:\n"
        "	@cd ${.CURDIR}; ${MAKE} -m ${.CURDIR}/share/mk -f Makefile.inc1 ${.TARGET}\n"),
    "Makefile.inc1": (
        "# Makefile.inc1 - the real work of the top-level Makefile\n"
        "WORLDDEST=	${OBJTREE}/world_${MACHINE_ARCH}\n"
        "KERNCONF?=	X86_64_GENERIC\n"
        "KRNLSRCDIR=	${.CURDIR}/sys\n"
        "KRNLCONFDIR=	${KRNLSRCDIR}/config\n"
        "KRNLOBJDIR=	${OBJTREE}${KRNLSRCDIR}\n"),
    "share/mk/sys.mk": "# sys.mk - default rules\nCC?=	cc\nCFLAGS?=	-O2 -pipe\n",
    "share/mk/bsd.prog.mk": "# bsd.prog.mk - building programs\n.include <bsd.init.mk>\n",
    "share/mk/bsd.lib.mk": "# bsd.lib.mk - building libraries\n.include <bsd.init.mk>\n",
    "share/mk/bsd.subdir.mk": "# bsd.subdir.mk - recursing into SUBDIR\n",
    "share/man/man7/vkernel.7": (
        ".Dd January 5, 2019\n.Dt VKERNEL 7\n.Os\n.Sh NAME\n.Nm vkernel ,\n"
        ".Nm vcd ,\n.Nm vkd ,\n.Nm vke\n.Nd virtual kernel architecture\n"),
    "share/man/man7/build.7": ".Dd June 1, 2020\n.Dt BUILD 7\n.Os\n.Sh NAME\n.Nm build\n",
    "sys/Makefile": "SUBDIR=	dev kern net vfs\n.include <bsd.subdir.mk>\n",
    "sys/config/VKERNEL64": VKERNEL64,
    "sys/config/X86_64_GENERIC": X86_64_GENERIC,
    "sys/config/LINT64": "platform	pc64\nmachine		x86_64\nident		LINT64\n",
    "sys/conf/newvers.sh": "#!/bin/sh\nTYPE=\"DragonFly\"\nBRANCH=\"DEVELOPMENT\"\n",
    "sys/conf/kern.post.mk": "# kern.post.mk - kernel build rules\n",
    "sys/kern/kern_checkpoint.c": (
        "/*\n * Checkpoint and restore of a process (sys_checkpoint(2)).\n */\n"
        "#include <sys/param.h>\n#include <sys/checkpoint.h>\n\n"
        "int\nsys_sys_checkpoint(struct sysmsg *sysmsg, const struct sys_checkpoint_args *uap)\n"
        "{\n\treturn (0);\n}\n"),
    "sys/kern/kern_sig.c": "#include <sys/param.h>\n#include <sys/signalvar.h>\n",
    "sys/kern/kern_exec.c": "#include <sys/param.h>\n#include <sys/imgact.h>\n",
    "sys/kern/kern_fork.c": "#include <sys/param.h>\n#include <sys/proc.h>\n",
    "sys/kern/vfs_syscalls.c": "#include <sys/param.h>\n#include <sys/mount.h>\n",
    "sys/sys/param.h": (
        "#ifndef _SYS_PARAM_H_\n#define _SYS_PARAM_H_\n"
        "#define __DragonFly_version 500900\t/* propagated to newvers */\n#endif\n"),
    "sys/sys/checkpoint.h": "#ifndef _SYS_CHECKPOINT_H_\n#define _SYS_CHECKPOINT_H_\n"
                            "#define CKPT_FREEZE\t0x1\n#define CKPT_THAW\t0x2\n#endif\n",
    "sys/sys/ckpt.h": "#ifndef _SYS_CKPT_H_\n#define _SYS_CKPT_H_\n#endif\n",
    "sys/vm/vm_map.c": "#include <vm/vm_map.h>\n",
    "sys/vm/vm_vmspace.c": "/* sys_vmspace_create() and friends used by the vkernel */\n",
    "sys/platform/vkernel64/conf/Makefile": "KERNEL?=	kernel\n.include \"../../../conf/kern.pre.mk\"\n",
    "sys/platform/vkernel64/conf/files": "vkernel64/platform/init.c		standard\n",
    "sys/platform/vkernel64/platform/init.c": (
        "/* vkernel64 start-up: options, memory image, disks, network */\n"
        "static const char *optstr = \"c:hsvztTl:m:n:r:R:e:i:p:I:Ud\";\n"),
    "sys/platform/vkernel64/platform/console.c": "/* vkernel console on fd 0 / fd 1 */\n",
    "sys/platform/vkernel64/x86_64/trap.c": "/* vkernel64 traps */\n",
    "sys/platform/pc64/x86_64/machdep.c": "/* pc64 machine dependent code */\n",
    "sys/dev/virtual/vkernel/disk/vdisk.c": "/* vkd(4) virtual disk */\n",
    "sys/dev/virtual/vkernel/net/if_vke.c": "/* vke(4) virtual ethernet */\n",
    "sys/vfs/ufs/ffs_vfsops.c": "/* FFS mount */\n",
    "sys/vfs/hammer2/hammer2_vfsops.c": "/* HAMMER2 mount */\n",
    "bin/Makefile": "SUBDIR=	cat ls ps sh\n.include <bsd.subdir.mk>\n",
    "bin/cat/Makefile": "PROG=	cat\n.include <bsd.prog.mk>\n",
    "bin/cat/cat.c": "int main(int argc, char **argv) { return 0; }\n",
    "bin/ls/Makefile": "PROG=	ls\nSRCS=	cmp.c ls.c print.c util.c\n.include <bsd.prog.mk>\n",
    "bin/ls/ls.c": "#include <sys/param.h>\n\nint\nmain(int argc, char *argv[])\n{\n\treturn (0);\n}\n",
    "bin/ls/print.c": "/* ls(1) output */\n",
    "bin/ls/cmp.c": "/* ls(1) sort functions */\n",
    "bin/ls/util.c": "/* ls(1) helpers */\n",
    "bin/ps/ps.c": "/* ps(1) */\n",
    "bin/sh/Makefile": "PROG=	sh\n.include <bsd.prog.mk>\n",
    "bin/sh/main.c": "/* sh(1) main loop */\n",
    "bin/sh/eval.c": "/* sh(1) evaluator */\n",
    "bin/sh/jobs.c": "/* sh(1) job control */\n",
    "bin/sh/parser.c": "/* sh(1) parser */\n",
    "sbin/init/init.c": "/* init(8) */\n",
    "sbin/mount/mount.c": "/* mount(8) */\n",
    "sbin/newfs/newfs.c": "/* newfs(8) */\n",
    "sbin/disklabel64/disklabel64.c": "/* disklabel64(8) */\n",
    "lib/Makefile": "SUBDIR=	csu libc libutil libm libthread_xu\n.include <bsd.subdir.mk>\n",
    "lib/libc/Makefile": "LIB=	c\nSHLIB_MAJOR=	8\n.include <bsd.lib.mk>\n",
    "lib/libc/gen/getcwd.c": "/* getcwd(3) */\n",
    "lib/libc/gen/sysctl.c": "/* sysctl(3) */\n",
    "lib/libc/stdio/vfprintf.c": "/* vfprintf(3) */\n",
    "lib/libc/stdlib/malloc.c": "/* malloc(3) */\n",
    "lib/libc/string/strlcpy.c": "/* strlcpy(3) */\n",
    "lib/libc/sys/sys_checkpoint.2": ".Dd June 29, 2007\n.Dt SYS_CHECKPOINT 2\n.Os\n",
    "lib/libutil/login_cap.c": "/* login capabilities */\n",
    "lib/libthread_xu/thread/thr_create.c": "/* pthread_create(3) */\n",
    "libexec/getty/main.c": "/* getty(8) */\n",
    "libexec/getty/init.c": "char loginmsg[] = \"login: \";\n",
    "usr.bin/checkpt/Makefile": "PROG=	checkpt\n.include <bsd.prog.mk>\n",
    "usr.bin/checkpt/checkpt.c": (
        "/* checkpt(1): restore a process from a checkpoint file (-r file) */\n"
        "#include <sys/checkpoint.h>\n"),
    "usr.bin/checkpt/checkpt.1": ".Dd June 29, 2007\n.Dt CHECKPT 1\n.Os\n",
    "usr.bin/grep/grep.c": "/* grep(1) */\n",
    "usr.sbin/vnconfig/vnconfig.c": "/* vnconfig(8) */\n",
    "usr.sbin/vknetd/vknetd.c": "/* vknetd(8) */\n",
    "etc/Makefile": (
        "# etc/Makefile - the distribution target installs the configuration files\n"
        "BIN1=	gettytab group master.passwd rc.conf\n"
        "distribution:\n"
        "	cd ${.CURDIR}; ${INSTALL} -o root -g wheel -m 644 ${BIN1} ${DESTDIR}/etc\n"),
    "etc/etc.x86_64/ttys": TTYS,
    "etc/gettytab": GETTYTAB,
    "etc/master.passwd": MASTER_PASSWD,
    "etc/group": GROUP,
    "etc/root/dot.cshrc": DOT_CSHRC,
    "etc/rc.conf": "# This file is overwritten by sysinstall; put local settings here.\n",
    "etc/defaults/rc.conf": "hostname=\"\"\nsendmail_enable=\"NO\"\nvknetd_enable=\"NO\"\n",
    "etc/mtree/BSD.root.dist": "/set type=dir uname=root gname=wheel mode=0755\n.\n",
    "test/vkernel/Makefile": TEST_VKERNEL_MAKEFILE,
    "test/vkernel/README": "Setting up a vkernel test environment (see vknetd(8)).\n",
    "initrd/rescue/Makefile": "PROG=	rescue\n",
    "gnu/usr.bin/cc80/Makefile": "SUBDIR=	cc_prep libiberty libcpp libdecnumber libbackend cc1 cc\n",
    "tools/regression/README": "Regression tests.\n",
    # world compiling a kernel source (lib/libkvm/Makefile's .PATH into sys/kern, as in
    # DragonFly) and the vkernel build reading include/ (sys/conf/kern.pre.mk): the plan
    # step derives build rules from these Makefiles
    "lib/libkvm/Makefile": (
        "SYSDIR=\t${.CURDIR}/../../sys\n"
        ".PATH:\t${SYSDIR}/kern\n"
        "\n"
        "LIB=\tkvm\n"
        "CFLAGS+=-I${SYSDIR}\n"
        "SRCS=\tkvm.c kvm_${MACHINE_ARCH}.c kvm_proc.c \\\n"
        "\tkern_kinfo.c\n"
        "INCS=\tkvm.h\n"
        "\n"
        ".include <bsd.lib.mk>\n"),
    "lib/libkvm/kvm.c": "/* kvm(3) */\n",
    "lib/libkvm/kvm_proc.c": "/* kvm_getprocs(3) */\n",
    "sys/kern/kern_kinfo.c": "/* struct kinfo_proc filling, shared with libkvm */\n",
    "sys/conf/kern.pre.mk": (
        "# the top part of the MI kernel build instructions\n"
        "INCLUDES= -nostdinc -I. -Iinclude -I$S\n"
        "# Real kernel builds do not need /usr/include, but vkernel builds do.\n"
        ".if ${MACHINE_PLATFORM} == \"vkernel64\"\n"
        ".if exists($S/../include)\n"
        "INCLUDES+= -I$S/../include\n"
        ".else\n"
        "INCLUDES+= -I/usr/include\n"
        ".endif\n"
        ".endif\n"),
    "include/unistd.h": "#ifndef _UNISTD_H_\n#define _UNISTD_H_\n#endif\n",
}


def git(src, *args, check=True):
    """Run git in ``src`` with a fixed identity, so commits work without a global config."""
    env = dict(os.environ)
    env.update({
        "GIT_AUTHOR_NAME": AUTHOR[0], "GIT_AUTHOR_EMAIL": AUTHOR[1],
        "GIT_COMMITTER_NAME": AUTHOR[0], "GIT_COMMITTER_EMAIL": AUTHOR[1],
        "GIT_CONFIG_NOSYSTEM": "1",
    })
    return subprocess.run(["git", *args], cwd=str(src), env=env, check=check,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True).stdout.strip()


def create_source_tree(host):
    """Write the tree into ``host.src`` and commit it; returns the commit id.

    An existing repository is left as it is (``init`` may be run twice)."""
    src = Path(host.src)
    if (src / ".git").exists():
        return revision(src)
    src.mkdir(parents=True, exist_ok=True)
    for rel, text in FILES.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if text.startswith("#!"):
            path.chmod(0o755)
    git(src, "init", "-q", "-b", "master")
    git(src, "add", "-A")
    git(src, "commit", "-q", "-m", "Initial import of the simulated DragonFly source tree")
    return revision(src)


def commit_change(src, files, message):
    """Write ``{path: text}`` into the tree and commit them: what a developer's push looks like.

    Returns the new commit id."""
    src = Path(src)
    for rel, text in files.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(src, "add", "--", *files)
    git(src, "commit", "-q", "-m", message)
    return revision(src)


def revision(src):
    """Full commit id of HEAD, or "" when ``src`` is not a git repository."""
    try:
        return git(src, "rev-parse", "HEAD")
    except (OSError, subprocess.CalledProcessError):
        return ""


def commit_count(src):
    """Number of commits reachable from HEAD (the ``.<n>.`` of the version string)."""
    try:
        return int(git(src, "rev-list", "--count", "HEAD"))
    except (OSError, ValueError, subprocess.CalledProcessError):
        return 0
