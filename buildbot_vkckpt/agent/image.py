"""``image``: build the vkernel's root image the way test/vkernel/Makefile does.

vnconfig -c -T -S, fdisk -IB, disklabel (auto, then an ``a`` partition), newfs, mount,
installworld + distribution + installkernel into it, then fstab, ttys (console getty with
autologin), a minimal rc.conf and the guest suite. The mount and the vn unit are released on
every path, success or failure. An image is reused when its stamp says it came from the same
world revision and kernel.
"""
import hashlib
import json
import os
import fnmatch
import re
import shutil
import subprocess
import zipfile

from . import cleanup, hostcmd
from .events import Outcome, result_event
from .ledger import Ledger
from .session import Session
from .sizes import parse_size

GUEST_SUITE_DIR = "usr/vkckpt"
# the guest suite's files relative to buildbot_vkckpt/suite: what the guest builds and runs
# (the master-side Python next to them, bytecode and built binaries stay out)
SUITE_MEMBERS = ("Makefile", "*.sh", "lib/*.c", "lib/*.h", "lib/*.sh", "tests/*.c",
                 "tests/*.meta")
# where the suite sits inside the agent zipapp, and in the package tree when run unzipped
SUITE_ARCHIVE_DIR = "buildbot_vkckpt/suite"
BUILTIN_SUITE = "builtin"
TTYS_CONSOLE = 'console\t"/usr/libexec/getty al.Pc"\tcons25\ton\tsecure\n'
# a ttys line's status field (the 4th: name, quoted getty command, type, status); DragonFly's
# own file pads it with tabs or spaces (``cons25\ton  secure``)
TTYS_STATUS_ON = re.compile(r'^(\s*\S+\s+(?:"[^"]*"|\S+)\s+\S+\s+)on(?=\s|$)')
RC_CONF = """\
# written by vkckpt-agent image: boot fast, nothing the tests do not need
hostname="vkernel"
sendmail_enable="NONE"
sshd_enable="NO"
cron_enable="NO"
syslogd_enable="NO"
blanktime="NO"
dumpdev="NO"
background_fsck="NO"
update_motd="NO"
"""


def add_arguments(p):
    p.add_argument("--src", required=True, help="DragonFly source tree (/usr/src)")
    p.add_argument("--objdir", required=True, help="MAKEOBJDIRPREFIX of the builds")
    p.add_argument("--kernconf", default="VKERNEL64")
    p.add_argument("--image", required=True, help="root image file to create")
    p.add_argument("--size", default="2g")
    p.add_argument("--suite", default=None,
                   help=f"directory copied into the image at /{GUEST_SUITE_DIR}, or "
                   f"'{BUILTIN_SUITE}': the suite shipped inside this agent")
    p.add_argument("--with-suite", action="store_true",
                   help=f"without --suite: install the built-in suite (--suite {BUILTIN_SUITE})")
    p.add_argument("--net", action="store_true", help="configure vke0 with DHCP")
    p.add_argument("--world-rev", default=None, help="world revision (default: git HEAD of --src)")
    p.add_argument("--force", action="store_true", help="rebuild even when the stamp matches")


def kernel_path(objdir, src, kernconf):
    return os.path.join(objdir, os.path.abspath(src).lstrip("/"), "sys", kernconf, "kernel.debug")


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def files_sha256(files):
    """One digest over (relative path, content) pairs: a directory and the same files
    shipped in the zipapp give the same digest."""
    h = hashlib.sha256()
    for rel, data, _mode in files:
        h.update(rel.encode() + b"\0")
        h.update(hashlib.sha256(data).hexdigest().encode())
    return h.hexdigest()


def directory_files(path):
    """Every file under ``path`` as sorted (relative path, bytes, mode)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(path):
        for name in filenames:
            full = os.path.join(dirpath, name)
            with open(full, "rb") as fh:
                data = fh.read()
            out.append((os.path.relpath(full, path).replace(os.sep, "/"), data,
                        os.stat(full).st_mode & 0o777))
    return sorted(out)


def is_suite_member(rel):
    return any(fnmatch.fnmatchcase(rel, pattern) and pattern.count("/") == rel.count("/")
               for pattern in SUITE_MEMBERS)


def builtin_suite_files():
    """The guest suite shipped with this agent: read from the running zipapp, or from the
    package directory when the agent runs unzipped. Sorted (relative path, bytes, mode)."""
    loader = globals().get("__loader__")
    archive = getattr(loader, "archive", None)       # zipimport.zipimporter
    if archive:
        prefix = SUITE_ARCHIVE_DIR + "/"
        out = []
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                rel = info.filename[len(prefix):]
                if info.filename.startswith(prefix) and is_suite_member(rel):
                    out.append((rel, zf.read(info), (info.external_attr >> 16) & 0o777 or 0o644))
        return sorted(out)
    base = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "suite")
    if not os.path.isdir(base):
        return []
    return [f for f in directory_files(base) if is_suite_member(f[0])]


def suite_files(args):
    """(label, files) of the suite to install, or (None, None) for an image without one."""
    source = args.suite or (BUILTIN_SUITE if args.with_suite else None)
    if not source:
        return None, None
    if source == BUILTIN_SUITE:
        files = builtin_suite_files()
        if not files:
            raise Outcome.infrastructure("this agent carries no guest suite",
                                         "rebuild the agent zipapp from a full checkout, or "
                                         "pass --suite DIR")
        return BUILTIN_SUITE, files
    if not os.path.isdir(source):
        raise Outcome.infrastructure(f"no suite directory at {source} on this host",
                                     f"pass --suite {BUILTIN_SUITE} (the suite shipped in the "
                                     "agent) or a directory that exists on the host")
    return source, directory_files(source)


def world_revision(src):
    try:
        out = subprocess.run(["git", "-C", src, "rev-parse", "HEAD"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, check=True)
        return out.stdout.decode().strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def free_vn_unit(env=None):
    out = hostcmd.run(["vnconfig", "-l"], env=env)
    for line in out.splitlines():
        if "not in use" in line:
            return line.split(":")[0].strip()
    raise Outcome.infrastructure("no free vn unit on the host (vnconfig -l shows none "
                                 "`not in use`)",
                                 "release stale units: vkckpt-agent cleanup --stale, or "
                                 "vnconfig -u vnN")


def write_fstab(root):
    path = os.path.join(root, "etc", "fstab")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write("/dev/vkd0s1a\t/\tufs\trw\t1\t1\n")
        fh.write("proc\t/proc\tprocfs\trw\t0\t0\n")


def edit_ttys(text):
    """Console getty with autologin; every other getty off."""
    out = [TTYS_CONSOLE]
    for line in text.splitlines(keepends=True):
        words = line.split()
        if not words or words[0].startswith("#"):
            out.append(line)
        elif words[0] == "console":
            continue
        else:
            out.append(TTYS_STATUS_ON.sub(r"\1off", line))
    return "".join(out)


def write_ttys(root):
    path = os.path.join(root, "etc", "ttys")
    try:
        with open(path) as fh:
            text = fh.read()
    except OSError:
        text = ""
    with open(path, "w") as fh:
        fh.write(edit_ttys(text))


def root_shell_sh(root, emitter):
    """Root's shell becomes /bin/sh (``pw -V <mnt>/etc usermod root -s /bin/sh``, reference
    §23): the first prompt is then sh's ``# `` instead of csh's ``vkernel# ``. The boot does
    not depend on it (``login`` finds either, or any other), so a host without pw(8) or a
    failing pw only costs a warning."""
    argv = ["pw", "-V", os.path.join(root, "etc"), "usermod", "root", "-s", "/bin/sh"]
    try:
        hostcmd.run(argv, emitter=emitter)
    except hostcmd.CommandFailed as exc:
        emitter.event({"ev": "check", "name": "root shell", "ok": True, "warning": True,
                       "text": f"root's shell stays csh: pw failed: {exc.last_line()}",
                       "fix": "none needed: the boot finds csh's prompt too"})
    except Outcome as exc:
        emitter.event({"ev": "check", "name": "root shell", "ok": True, "warning": True,
                       "text": f"root's shell stays csh: {exc.summary}",
                       "fix": "none needed: the boot finds csh's prompt too"})


def write_rc_conf(root, net):
    path = os.path.join(root, "etc", "rc.conf")
    with open(path, "w") as fh:
        fh.write(RC_CONF)
        fh.write('network_interfaces="lo0 vke0"\nifconfig_vke0="DHCP"\n' if net
                 else 'network_interfaces="lo0"\n')
    loader = os.path.join(root, "boot", "loader.conf")
    os.makedirs(os.path.dirname(loader), exist_ok=True)
    with open(loader, "a") as fh:
        fh.write('vfs.root.mountfrom="ufs:vkd0s1a"\n')


def copy_suite(files, root):
    """Install the suite at GUEST_SUITE_DIR, replacing what an earlier build put there."""
    if files is None:
        return
    dest = os.path.join(root, GUEST_SUITE_DIR)
    shutil.rmtree(dest, ignore_errors=True)
    for rel, data, mode in files:
        path = os.path.join(dest, *rel.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)
        os.chmod(path, mode or 0o644)


def read_stamp(path):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def run(args, emitter):
    session = Session(args.session).ensure()
    ledger = Ledger(session.dir)
    emitter.phase("image")
    image = os.path.abspath(args.image)
    kernel = kernel_path(args.objdir, args.src, args.kernconf)
    if not os.path.isfile(kernel):
        raise Outcome.infrastructure(f"no built kernel at {kernel}",
                                     "run buildkernel KERNCONF=" + args.kernconf + " first")
    try:
        size = parse_size(args.size)
    except ValueError as exc:
        raise Outcome.infrastructure(str(exc), "pass --size such as 2g") from exc
    suite_source, suite = suite_files(args)
    stamp = {"world_revision": args.world_rev or world_revision(args.src),
             "kernel_sha256": file_sha256(kernel),
             "suite_sha256": files_sha256(suite) if suite is not None else None,
             "size": size, "kernconf": args.kernconf, "net": bool(args.net),
             "root_shell": "/bin/sh"}
    stamp_path = image + ".stamp"
    if (not args.force and os.path.isfile(image) and stamp["world_revision"]
            and read_stamp(stamp_path) == stamp):
        emitter.info(image=image, reused=True, **stamp)
        return result_event("ok", f"reused root image {os.path.basename(image)} "
                                  f"(world {str(stamp['world_revision'])[:10]})",
                            details=dict(stamp, image=image, reused=True, suite=suite_source))
    try:
        os.unlink(stamp_path)
    except FileNotFoundError:
        pass
    env = dict(os.environ, MAKEOBJDIRPREFIX=os.path.abspath(args.objdir))
    mnt = session.file("root")
    try:
        build(args, emitter, ledger, image, size, mnt, env, suite)
    finally:
        released, problems = cleanup.release_all(session.dir, emitter,
                                                 keep=("supervisor", "vkernel", "file", "tap"))
        if problems:
            raise Outcome.infrastructure(f"could not release after image: {problems[0]}",
                                         "run vkckpt-agent cleanup --stale")
    with open(stamp_path, "w") as fh:
        json.dump(stamp, fh, sort_keys=True)
    emitter.metric("image_size", os.path.getsize(image), "bytes")
    with_suite = f" with the guest suite at /{GUEST_SUITE_DIR}" if suite is not None else ""
    return result_event("ok", f"built root image {os.path.basename(image)} ({args.size})"
                              + with_suite,
                        details=dict(stamp, image=image, reused=False, suite=suite_source))


def install_failed(what, tail):
    """An install into the image failed. World and kernel were built (and judged) by their own
    steps; what the install needs is the host's: the finished build and room in the image.
    The kernel under test did not run, so this is never a ``kernel`` outcome."""
    last = next((ln for ln in reversed(tail) if ln.strip()), "(no output)")
    return Outcome.infrastructure(
        f"{what} failed: {last.strip()}",
        "check that buildworld and buildkernel finished for this --src and --objdir and that "
        "the image (--size) has room; the make output is in the step log", tail=tail)


def build(args, emitter, ledger, image, size, mnt, env, suite):
    def host(argv):
        try:
            return hostcmd.run(argv, emitter=emitter)
        except hostcmd.CommandFailed as exc:
            raise Outcome.infrastructure(f"{' '.join(exc.argv[:2])} failed: {exc.last_line()}",
                                         "check the host's vn/disk setup; see the step log",
                                         command=exc.argv, output=exc.output[-2000:]) from exc

    def make(argv, cwd, what):
        rc, tail = hostcmd.stream(["make"] + argv, emitter, env=env, cwd=cwd)
        if rc != 0:
            raise install_failed(what, tail)

    unit = free_vn_unit()
    emitter.phase("image:vn")
    entry = ledger.allocate("vn", unit=unit, file=image)
    host(["vnconfig", "-c", "-T", "-S", args.size, unit, image])  # vnconfig: m is the default unit
    ledger.update(entry, configured=True)
    host(["fdisk", "-IB", unit])
    host(["disklabel", "-r", "-w", f"{unit}s1", "auto"])
    label = host(["disklabel", "-r", f"{unit}s1"])
    label_file = os.path.join(os.path.dirname(mnt), "label.tmp")
    with open(label_file, "w") as fh:
        fh.write(label.rstrip("\n") + "\n  a: * 0 4.2BSD\n")
    host(["disklabel", "-R", f"{unit}s1", label_file])
    host(["disklabel", "-B", f"{unit}s1"])
    host(["newfs", f"/dev/{unit}s1a"])
    os.makedirs(mnt, exist_ok=True)
    ledger.allocate("mount", path=mnt, device=f"/dev/{unit}s1a")
    host(["mount", f"/dev/{unit}s1a", mnt])
    emitter.phase("image:install")
    src = os.path.abspath(args.src)
    make([f"DESTDIR={mnt}", "NO_BACKUP=TRUE", "installworld"], src, "installworld")
    make([f"DESTDIR={mnt}", "distribution"], os.path.join(src, "etc"), "make distribution")
    make([f"DESTDIR={mnt}", f"KERNCONF={args.kernconf}", "installkernel"], src, "installkernel")
    emitter.phase("image:configure")
    write_fstab(mnt)
    write_ttys(mnt)
    write_rc_conf(mnt, args.net)
    root_shell_sh(mnt, emitter)
    if suite is not None:
        emitter.phase("image:suite")
        copy_suite(suite, mnt)
