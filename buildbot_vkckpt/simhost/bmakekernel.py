"""Kernel builds and installs of the simulated make: buildkernel, nativekernel, quickkernel,
installkernel, reinstallkernel, installworld, distribution (a mixin of ``bmake.BMake``)."""
import shutil
from pathlib import Path

from buildbot_vkckpt.simhost import tree

from .bmakedata import (DEFAULT_KERNCONF, HIERARCHY, INSTALLED, KERNEL_CFLAGS, KERNEL_COMMON,
                        KERNEL_MODULES, KERNEL_PLATFORM, KERNEL_STAMP, MakeError, NORMAL_WARNINGS,
                        VERSION_BASE, WORLD_STAMP)
from .bmakeio import (date_now, write_marker)


class KernelTargets:
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
            planted = kernelbin.planted_in_tree(self.src)   # the tree's regression knob
            for name in ("kernel.debug", "kernel.stripped"):
                kernelbin.write_vkernel(kobj / name, self.host.root, kernconf, ident, flavour,
                                        planted=planted)
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
