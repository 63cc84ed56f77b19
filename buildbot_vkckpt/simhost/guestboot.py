"""The simulated vkernel's boot after the devices: probe lines, root mount, rc, getty, login
(reference/dragonfly.md §5, §6; a mixin of ``guestkernel.Kernel``)."""
import os
import re
import selectors
import time

from . import netif, simfs

DEFAULT_PANIC = "vm_fault: fault on nofault entry, addr: deadc000"
MOUNTROOT_HELP = [
    "",
    "Manual root filesystem specification:",
    "  <fstype>:<device>  Specify root (e.g. ufs:da0s1a)",
    "  ?                  List valid disk boot devices",
    "  panic              Just panic",
    "  abort              Abort manual input",
]


class BootMixin:
    # --- boot --------------------------------------------------------------------------------
    def start_boot(self):
        mem = self.memsize
        avail = mem - mem // 12
        steps = [(0.01, line) for line in self.flavour.copyright]
        steps += [(0.005, self.version), (0.0, f"    {self.builder}"),
                  (0.02, f"real memory = {mem} ({mem // 1024}K bytes)"),
                  (0.005, f"avail memory = {avail} ({avail // 1024}K bytes)"),
                  (0.01, "DragonFly/MP: Multiprocessor")]
        steps += [(0.003, f" cpu{i} ({'BSP' if i == 0 else 'AP'})")
                  for i in range(self.opts.ncpus)]
        for i, (path, cow) in enumerate(self.opts.disks):
            size = os.fstat(self.disk_fds[i]).st_size
            steps.append((0.01, f"vkd{i}: <Virtual disk> "))
            steps.append((0.002, f"vkd{i}: {size >> 20}MB ({size // 512} 512 byte sectors)"))
            if cow:
                steps.append((0.0, f"vkd{i}: COW disk"))
        for i, _ in enumerate(self.opts.cdroms):
            steps.append((0.01, f"vcd{i}: <Virtual CD-ROM> "))
        for n in self.netifs:   # ether_ifattach()'s line (if_ethersubr.c); not in §5
            steps.append((0.005, f"{n.name}: MAC address: {n.mac}"))
        self.play(steps, then=self.after_probe)

    def after_probe(self):
        if self.host.fault("boot-hang") is not None:
            self.state = "hung"
            return
        if self.host.fault("boot-stall") is not None:
            self.stall()
            return
        panic = self.host.fault("boot-panic")
        if panic is not None:
            self.after(0.02, lambda: self.panic(panic or DEFAULT_PANIC, "boot"))
            return
        self.after(0.02, lambda: self.mount_root(
            quiet_missing="vfs.root.mountfrom" not in self.opts.kenv))

    def stall(self):
        self.kprintf("vkd0: request timed out, retrying (blkno 16)")
        self.after(0.1, self.stall)

    def root_candidates(self):
        if "vfs.root.mountfrom" in self.opts.kenv:
            return [self.opts.kenv["vfs.root.mountfrom"]]
        if self.opts.boot_device == "cd":
            return ["cd9660:vcd0"]
        return ["ufs:vkd0s0a", "ufs:vkd0s1a"]

    def mount_root(self, candidates=None, quiet_missing=True):
        for spec in candidates or self.root_candidates():
            error = self.try_mount(spec, quiet_missing)
            if error == 0:
                self.after(0.03, self.run_rc)
                return
        self.mountroot_prompt()

    def try_mount(self, spec, quiet_missing):
        """0 on success, else an errno; prints what vfs_mountroot_try prints."""
        fstype, _, dev = spec.partition(":")
        m = re.fullmatch(r"vkd(\d+)s(\d+)([a-p])", dev)
        path = None
        if m and int(m.group(1)) < len(self.opts.disks):
            path = self.opts.disks[int(m.group(1))][0]
        meta = simfs.read_meta(path) if path else simfs.empty_meta()
        exists = m is not None and path is not None and simfs.has_partition(
            meta, m.group(2), m.group(3))
        if not exists and quiet_missing:
            return 6
        self.kprintf(f"Mounting root from {spec}")
        if not exists or self.host.fault("mountroot") is not None:
            self.kprintf("Root mount failed: 6")
            return 6
        fs = simfs.filesystem(meta, f"s{m.group(2)}{m.group(3)}")
        if not fs or fs.get("type") != fstype:
            self.kprintf("Root mount failed: 22")
            return 22
        try:
            self.guest.mount_root(path, f"s{m.group(2)}{m.group(3)}")
        except (simfs.SimfsError, OSError) as exc:
            self.kprintf(f"Root mount failed: 5 ({exc})")
            return 5
        self.root_spec = spec
        return 0

    def mountroot_prompt(self):
        for line in MOUNTROOT_HELP:
            self.kprintf(line)
        self.write("\nmountroot> ")
        self.state = "mountroot"
        self.read_console(True)
        if self.console_eof:
            self.panic("vconsgetc: EOF on console", "mountroot")

    def mountroot_line(self, line):
        line = line.strip()
        if line == "?":
            names = []
            for i in range(len(self.opts.disks)):
                names += [f"vkd{i}", f"vkd{i}s1", f"vkd{i}s1a"]
            self.kprintf(" " + " ".join(names))
            self.write("\nmountroot> ")
        elif line == "panic":
            self.panic("mountroot", "mountroot")
        elif line == "abort":
            self.panic("Root mount failed, startup aborted.", "mountroot")
        elif not line:
            self.write("mountroot> ")
        else:
            self.state = "boot"
            self.read_console(False)
            self.mount_root([line], quiet_missing=False)

    def run_rc(self):
        self.hostname = self.guest.hostname()
        if self.opts.single_user:
            self.write("Enter full pathname of shell or RETURN for /bin/sh: ")
            self.state = "single"
            self.read_console(True)
            return
        root = self.root_spec.partition(":")[2]
        free = 1013254
        steps = [(0.01, "Starting file system checks:"),
                 (0.02, f"/dev/{root}: FILESYSTEM CLEAN; SKIPPING CHECKS"),
                 (0.005, f"/dev/{root}: clean, {free} free (214 frags, 126630 blocks, "
                         "0.0% fragmentation)"),
                 (0.01, "Mounting local file systems:."),
                 (0.01, f"Setting hostname: {self.hostname}."),
                 (0.01, "lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 16384"),
                 *self.rc_netifs(),
                 (0.01, "Starting devd."),
                 (0.01, "Starting cron."),
                 (0.01, "Starting background file system checks in 60 seconds."),
                 (0.01, ""),
                 (0.0, time.strftime("%a %b %e %H:%M:%S UTC %Y", time.gmtime()))]
        self.play([(p, (lambda t=t: self.write(t + "\n"))) for p, t in steps],
                  then=self.start_getty)

    def rc_netifs(self):
        """rc's netif lines: each vke that rc.conf configures comes up and prints its flags."""
        rc_conf = self.guest.etc("rc.conf")
        steps = []
        for n in self.netifs:
            if netif.rc_configured(rc_conf, n.name):
                n.up = True
                steps.append((0.01, n.ifconfig()[0]))
        return steps

    def start_getty(self):
        getty = self.guest.console_getty()
        if getty is None:
            self.state = "idle"   # no getty on the console: the guest runs, nobody logs in
            return
        self.write(f"\nDragonFly/x86_64 ({self.hostname}) (ttyv0)\n\n")
        if getty == "autologin":
            self.login("root")
        else:
            self.write("login: ")
            self.state = "login"
            self.read_console(True)

    def login_line(self, line):
        name = line.strip()
        if not name:
            self.write("login: ")
        elif name == "root":
            self.login(name)
        else:
            self.login_name = name
            self.write("Password:")
            self.state = "password"

    def password_line(self, line):
        self.write("\nLogin incorrect\nlogin: ")
        self.state = "login"

    def single_line(self, line):
        self.login("root", motd=False)

    def login(self, user, motd=True):
        if motd:
            text = self.guest.motd()
            if text:
                self.write(text if text.endswith("\n") else text + "\n")
        self.shell = self.guest.spawn_shell()
        self.sel.register(self.shell.master, selectors.EVENT_READ, self.on_shell_output)
        self.state = "shell"
        self.read_console(True)
