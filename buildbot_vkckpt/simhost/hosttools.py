"""Simulated DragonFly host tools: sysctl, vnconfig, fdisk, disklabel, newfs, fsck, mount,
umount, kldload, ifconfig and checkpt (which thaws simulated vkernel checkpoints).

Run as ``python -S -m buildbot_vkckpt.simhost.hosttools TOOL ARGS...`` (launch.py) by the
wrappers in ``ROOT/bin``. Every change goes through ``SimHost.update_state()`` so a test can
assert that nothing leaked. Messages use the real tools' words (reference/dragonfly.md §3, §10,
§11, §16).
Disk images are stored as described in ``simfs``.
"""
import os
import re
import sys

from . import bsdgetopt as getopt
from . import simfs
from .hostdisk import (ToolError, disklabel, fdisk, fsck, newfs, parse_device,  # noqa: F401
                       parse_size, vn_file)
from .host import SimHost
from .host import proc_dir as host_proc_dir

READ_ONLY = {"hw.ncpu", "kern.osrelease", "hw.vmm.enable"}
KNOWN_MODULES = {"if_tap", "if_bridge", "if_vke", "vkernel", "dm", "tmpfs", "nullfs"}
HOST_IFACES = ["re0", "lo0"]


def effective_sysctls(host):
    """The host's sysctls as tools and the vkernel see them, faults applied."""
    from .hostckpt import sysctls
    return sysctls(host)


# --- sysctl ---------------------------------------------------------------------------------
def sysctl(host, args):
    try:
        opts, names = getopt.getopt(args, "anNq")
    except getopt.GetoptError:
        print("usage: sysctl [-bdehNnox] variable[=value] ...", file=sys.stderr)
        return 1
    flags = {o for o, _ in opts}
    values = effective_sysctls(host)
    if "-a" in flags or not names:
        names = sorted(values)
    status = 0
    for item in names:
        name, eq, value = item.partition("=")
        if name not in values:
            if "-q" not in flags:
                print(f"sysctl: unknown oid '{name}'", file=sys.stderr)
            status = 1
            continue
        if not eq:
            print(values[name] if "-n" in flags else f"{name}: {values[name]}")
            continue
        vmm_control = name == "hw.vmm.enable" and "hw.vmm.type" in values
        if name in READ_ONLY and not vmm_control:
            # hw.vmm.enable is read-only ("enable not supported") without VMM hardware
            print(f"sysctl: oid '{name}' is read only", file=sys.stderr)
            status = 1
            continue
        if vmm_control and (value not in ("0", "1") or int(value) == values[name]):
            # vmm.c sysctl_vmm_enable(): only 0 or 1, and only a change
            print(f"sysctl: {name}: Invalid argument", file=sys.stderr)
            status = 1
            continue
        old = values[name]
        if isinstance(old, int):
            try:
                new = int(value, 0)
            except ValueError:
                print(f"sysctl: invalid integer '{value}'", file=sys.stderr)
                status = 1
                continue
        else:
            new = value
        with host.update_state() as st:
            st.setdefault("sysctl", {})[name] = new
        if "-n" not in flags:
            print(f"{name}: {old} -> {effective_sysctls(host).get(name, new)}")
    return status


# --- vnconfig -------------------------------------------------------------------------------
def vnconfig(host, args):
    usage = ("usage: vnconfig [-cdeguvTZ] [-s options] [-r options]\n"
             "                [-S value] special_file [regular_file] [feature]\n"
             "       vnconfig -l [special_file ...]")
    try:
        opts, rest = getopt.getopt(args, "cdeguvTZlS:s:r:")
    except getopt.GetoptError as exc:
        raise ToolError(f"{exc.msg}\n{usage}")
    flags = {o: v for o, v in opts}
    taken = host.fault("no-vn-device") is not None
    if "-l" in flags:
        state = host.load_state()
        units = [parse_device(r)[0] if parse_device(r) else r for r in rest] or sorted(
            state["vn"], key=lambda u: int(u[2:]))
        for unit in units:
            if unit not in state["vn"]:
                print(f"vnconfig: /dev/{unit}: No such file or directory", file=sys.stderr)
                continue
            path = state["vn"][unit]
            if taken and not path:
                path = f"/var/vkernel/busy.{unit}.img"
            if path:
                try:
                    ino = os.stat(path).st_ino
                except OSError:
                    ino = 0
                print(f"{unit}: covering {path} on da0s1d, inode {ino}")
            else:
                print(f"{unit}: not in use")
        return 0
    if ("-c" in flags) == ("-u" in flags) or not rest:
        raise ToolError(usage)
    dev = parse_device(rest[0])
    if not dev or dev[1]:
        raise ToolError(f"{rest[0]}: No such file or directory")
    unit = dev[0]
    if "-u" in flags:
        with host.update_state() as st:
            if unit not in st["vn"]:
                raise ToolError(f"/dev/{unit}: No such file or directory")
            if any(parse_device(d) and parse_device(d)[0] == unit for d in st["mounts"].values()):
                raise ToolError("VNIOCDETACH: Device busy")
            if not st["vn"][unit]:
                raise ToolError("VNIOCDETACH: Invalid argument")
            st["vn"][unit] = None
        return 0
    if len(rest) < 2:
        raise ToolError(usage)
    path = os.path.abspath(rest[1])
    if "-T" in flags and "-S" not in flags:
        raise ToolError("-T may only be used with -S")
    size = None
    if "-S" in flags:
        size = parse_size(flags["-S"])
        if size is None:
            raise ToolError(f"invalid size specification: {flags['-S']}")
    with host.update_state() as st:
        if unit not in st["vn"]:
            raise ToolError(f"/dev/{unit}: No such file or directory")
        if st["vn"][unit] or taken:
            raise ToolError("VNIOCATTACH: Device busy")
        if "-T" in flags:
            try:
                with open(path, "ab") as f:
                    f.truncate(size)
            except OSError as exc:
                raise ToolError(f"{path}: {exc.strerror}")
        elif not os.path.isfile(path):
            raise ToolError("VNIOCATTACH: No such file or directory")
        st["vn"][unit] = path
    if "-v" in flags:
        print(f"{unit}: {os.path.getsize(path)} bytes on {path}")
    return 0


# --- mount / umount -------------------------------------------------------------------------
def mount(host, args):
    try:
        opts, rest = getopt.getopt(args, "adfrut:o:")
    except getopt.GetoptError:
        raise ToolError("usage: mount [-adfpruvw] [-o options] [-t ufs | external_type] "
                        "special node")
    if not rest:
        for point, dev in sorted(host.load_state()["mounts"].items()):
            print(f"{dev} on {point} (ufs, local)")
        return 0
    if len(rest) != 2:
        raise ToolError("usage: mount [-adfpruvw] [-o options] [-t ufs | external_type] "
                        "special node")
    special, point = rest[0], os.path.abspath(rest[1])
    if not os.path.isdir(point):
        raise ToolError(f"{rest[1]}: No such file or directory")
    with host.update_state() as st:
        dev = parse_device(special)
        if not dev or not dev[2]:
            raise ToolError(f"{special}: No such file or directory")
        if special in st["mounts"].values() or point in st["mounts"]:
            raise ToolError(f"{special}: Device busy")
        path = vn_file(st, dev[0], special)
        part = f"s{dev[1]}{dev[2]}"
        meta = simfs.read_meta(path)
        if not simfs.has_partition(meta, dev[1], dev[2]):
            raise ToolError(f"{special}: No such file or directory")
        if not simfs.filesystem(meta, part):
            raise ToolError(f"{special} on {point}: incorrect super block")
        try:
            simfs.unpack(path, part, point)
        except simfs.SimfsError as exc:
            raise ToolError(f"{special}: {exc}")
        st["mounts"][point] = special if special.startswith("/dev/") else f"/dev/{special}"
    return 0


def _busy(point):
    """True when some other process has its cwd at or below ``point``."""
    me = str(os.getpid())
    proc = host_proc_dir()
    for pid in os.listdir(proc):
        if not pid.isdigit() or pid == me:
            continue
        try:
            cwd = os.readlink(f"{proc}/{pid}/cwd")
        except OSError:
            continue
        if cwd == point or cwd.startswith(point + "/"):
            return True
    return False


def umount(host, args):
    try:
        opts, rest = getopt.getopt(args, "fav")
    except getopt.GetoptError:
        raise ToolError("usage: umount [-fv] special | node")
    flags = {o for o, _ in opts}
    if not rest:
        raise ToolError("usage: umount [-fv] special | node")
    status = 0
    for name in rest:
        with host.update_state() as st:
            point = os.path.abspath(name)
            if point not in st["mounts"]:
                by_dev = [p for p, d in st["mounts"].items()
                          if d == name or d == f"/dev/{name}"]
                if not by_dev:
                    print(f"umount: {name}: not currently mounted", file=sys.stderr)
                    status = 1
                    continue
                point = by_dev[0]
            if "-f" not in flags and _busy(point):
                print(f"umount: unmount of {point} failed: Device busy", file=sys.stderr)
                status = 1
                continue
            dev = parse_device(st["mounts"][point])
            path = st["vn"].get(dev[0]) if dev else None
            if path:
                try:
                    simfs.pack(point, path, f"s{dev[1]}{dev[2]}")
                except (simfs.SimfsError, OSError) as exc:
                    print(f"umount: unmount of {point} failed: {exc}", file=sys.stderr)
                    status = 1
                    continue
            if os.path.isdir(point):
                simfs.empty_directory(point)
            del st["mounts"][point]
    return status


# --- kldload / ifconfig ---------------------------------------------------------------------
def kldload(host, args):
    opts, rest = getopt.getopt(args, "nv") if args else ([], [])
    if not rest:
        raise ToolError("usage: kldload [-nv] file ...")
    status = 0
    for name in rest:
        mod = os.path.basename(name)
        mod = mod[:-3] if mod.endswith(".ko") else mod
        with host.update_state() as st:
            if mod in st["modules"]:
                if ("-n", "") in opts:
                    continue
                print(f"kldload: can't load {name}: File exists", file=sys.stderr)
                status = 1
            elif mod not in KNOWN_MODULES:
                print(f"kldload: can't load {name}: No such file or directory", file=sys.stderr)
                status = 1
            else:
                st["modules"].append(mod)
    return status


def ifconfig(host, args):
    state = host.load_state()
    bridges = state.get("bridges", {})
    if not args or args == ["-a"]:
        for name in HOST_IFACES + sorted(state["taps"]) + sorted(bridges):
            up = name in HOST_IFACES or (bridges.get(name) or {}).get("up")
            print(f"{name}: flags={'8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST>' if up else '8802<BROADCAST,SIMPLEX,MULTICAST>'} mtu 1500")
            for member in (bridges.get(name) or {}).get("members", []):
                print(f"\tmember: {member} flags=3<LEARNING,DISCOVER>")
        return 0
    name, verbs = args[0], args[1:]
    kind = re.match(r"(tap|bridge)(\d*)$", name)
    if verbs[:1] == ["create"]:
        if not kind:
            raise ToolError("SIOCIFCREATE2: Invalid argument")
        with host.update_state() as st:
            table = st["taps"] if kind.group(1) == "tap" else st.setdefault("bridges", {})
            if not kind.group(2):
                n = 0
                while f"{kind.group(1)}{n}" in table:
                    n += 1
                name = f"{kind.group(1)}{n}"
            if name in table:
                raise ToolError("SIOCIFCREATE2: File exists")
            table[name] = (f"created by pid {os.getppid()}" if kind.group(1) == "tap"
                           else {"members": [], "up": False})
        if not kind.group(2):
            print(name)
        return 0
    with host.update_state() as st:
        bridges = st.setdefault("bridges", {})
        exists = name in st["taps"] or name in bridges or name in HOST_IFACES
        if not exists:
            raise ToolError(f"interface {name} does not exist")
        i = 0
        while i < len(verbs):
            verb = verbs[i]
            if verb == "destroy":
                if name in st["taps"]:
                    del st["taps"][name]
                elif name in bridges:
                    del bridges[name]
                else:
                    raise ToolError("SIOCIFDESTROY: Invalid argument")
                for b in bridges.values():
                    if name in b["members"]:
                        b["members"].remove(name)
                return 0
            if verb in ("addm", "deletem") and name in bridges:
                if i + 1 >= len(verbs):
                    raise ToolError(f"{verb}: requires an argument", 1)
                member = verbs[i + 1]
                members = bridges[name]["members"]
                if verb == "addm":
                    if member not in st["taps"] and member not in HOST_IFACES:
                        raise ToolError(f"BRDGADD {member}: No such file or directory")
                    if member in members:
                        raise ToolError(f"BRDGADD {member}: File exists")
                    members.append(member)
                else:
                    if member not in members:
                        raise ToolError(f"BRDGDEL {member}: Invalid argument")
                    members.remove(member)
                i += 2
                continue
            if verb in ("up", "down"):
                if name in bridges:
                    bridges[name]["up"] = verb == "up"
                i += 1
                continue
            i += 1  # addresses and other settings are accepted and not modelled
    return 0


# --- checkpt --------------------------------------------------------------------------------
def checkpt(host, args):
    """checkpt(1) (§16): ``-r FILE`` thaws a checkpoint (thaw.py)."""
    from . import thaw
    return thaw.checkpt(host, args)


TOOLS = {
    "sysctl": sysctl, "vnconfig": vnconfig, "fdisk": fdisk, "disklabel": disklabel,
    "newfs": newfs, "fsck": fsck, "mount": mount, "umount": umount, "kldload": kldload,
    "ifconfig": ifconfig, "checkpt": checkpt,
}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in TOOLS:
        print(f"hosttools: unknown tool {argv[:1]}", file=sys.stderr)
        return 2
    tool, args = argv[0], argv[1:]
    from .procname import set_comm
    set_comm(tool)   # p_comm: the executed file's name
    try:
        return TOOLS[tool](SimHost.from_env(), args) or 0
    except ToolError as exc:
        print(f"{tool}: {exc}", file=sys.stderr)
        return exc.status


if __name__ == "__main__":
    sys.exit(main())
