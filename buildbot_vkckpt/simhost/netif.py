"""The simulated vkernel's network interfaces: ``-I`` → ``vke0``, ``vke1``, …

Follows reference/dragonfly.md §2 (``-I`` forms, ``TAP UNIT <n>``, ``Network socket buffer:
<n> bytes``, ``Invalid argument to '-I'``, ``<dev> is not a tap(4) device or socket``), §3
(``if_tap``/``if_bridge``, ``bridge0``, vknetd sockets) and §19 (``netif_close()`` before the
freeze, ``netif_restore()`` after a thaw: taps come back, a vknetd socket entry fails with
``tap-1: ioctl(SIOCAIFADDR) failed`` and ``Couldn't reinitialize network interface``).
What the reference leaves open follows init.c's ``init_netif``/``netif_open_tap``/
``netif_init_tap`` (derived from the source, not observed): a failing ``-I`` entry is warned
about on stderr and skipped, so the vkernel boots without that ``vke``.

Host side, everything lives in the simulated host's state (``SimHost.update_state``):
``taps`` and ``bridges`` as ``ifconfig`` keeps them, ``modules`` as ``kldload`` keeps them, and
``tap_open`` (tap name → ``{"pid", "clone"}``) for the taps a vkernel holds open. A tap that
``auto`` cloned through ``/dev/tap`` is destroyed when the vkernel closes it (exit, checkpoint);
a tap the admin created stays. An entry whose pid is dead counts as closed (the host kernel
closes a killed process's fds).
"""
import errno
import ipaddress
import os
import re
import socket
import stat

MTU = 1500
SNDBUF = 262144            # unix_connect() sets SO_SNDBUF to this before printing the line
FLAGS_DOWN = "8802<BROADCAST,SIMPLEX,MULTICAST>"
FLAGS_UP = "8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST>"


def strerror(code):
    """DragonFly's text where it differs from Linux's (lib/libc/gen/errlst.c)."""
    return {errno.ENXIO: "Device not configured", errno.EBUSY: "Device busy"}.get(
        code, os.strerror(code))


class NetifError(Exception):
    """One ``-I`` entry failed; ``message`` is what init.c's warn()/warnx() prints."""


class Netif:
    """One ``vke<unit>`` and what backs it on the host."""

    def __init__(self, unit, spec, iface, tap_unit=-1, clone=False, bridge=None, tap_addr=None,
                 addr=None, mask=None, mac=None, up=False, fd=None):
        self.unit = unit
        self.spec = spec
        self.iface = iface
        self.tap_unit = tap_unit
        self.clone = clone
        self.bridge = bridge
        self.tap_addr = tap_addr
        self.addr = addr
        self.mask = mask
        self.mac = mac
        self.up = up
        self.fd = fd            # the vknetd socket; a simulated tap has no fd
        self.open = True        # the host side (tap or socket) is held

    @property
    def name(self):
        return f"vke{self.unit}"

    @property
    def tap(self):
        return f"tap{self.tap_unit}" if self.tap_unit >= 0 else None

    def to_state(self):
        return {k: getattr(self, k) for k in ("unit", "spec", "iface", "tap_unit", "clone",
                                              "bridge", "tap_addr", "addr", "mask", "mac",
                                              "up")}

    @classmethod
    def from_state(cls, d):
        return cls(**{k: d.get(k) for k in ("unit", "spec", "iface", "tap_unit", "clone",
                                            "bridge", "tap_addr", "addr", "mask", "mac", "up")})

    def ifconfig(self):
        """What the guest's ``ifconfig vkeN`` prints (DragonFly's layout)."""
        lines = [f"{self.name}: flags={FLAGS_UP if self.up else FLAGS_DOWN} mtu {MTU}"]
        if self.up and self.addr:
            net = ipaddress.ip_network(f"{self.addr}/{self.mask or 8}", strict=False)
            lines.append(f"\tinet {self.addr} netmask {int(net.netmask):#010x} "
                         f"broadcast {net.broadcast_address}")
        lines.append(f"\tether {self.mac}")
        lines.append("\tmedia: Ethernet autoselect (1000baseT <full-duplex>)")
        lines.append("\tstatus: active")   # vke_media_status() always reports active
        return lines


# --- the -I argument ---------------------------------------------------------------------------
def split_spec(spec):
    """``iface[:addr1[:addr2]][/masklen][=MAC]`` → (iface, [tokens], mac-or-None), as
    init_netif's ``strsep(…, "=")`` and ``strtok(…, ":")`` then ``strtok(NULL, ":/")`` read it."""
    body, _, mac = spec.partition("=")
    words = [w for w in body.split(":") if w]
    if not words:
        raise NetifError("Invalid argument to '-I'")
    rest = ":".join(words[1:])
    tokens = [t for t in rest.replace("/", ":").split(":") if t]
    return words[0], tokens, (mac or None)


def _ipv4(text):
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        return None


def parse_tokens(tokens):
    """netif_init_tap's reading of what follows the interface: (tap_addr, bridge, addr, mask)."""
    if not tokens:
        return None, None, None, None
    first, rest = tokens[0], list(tokens[1:])
    tap_addr = _ipv4(first)
    bridge = None if tap_addr else first
    addr = masklen = None
    if rest:
        tok = rest.pop(0)
        addr = _ipv4(tok)
        if addr is None:
            if bridge:
                raise NetifError(f"Invalid pseudo netif address: {tok}")
            masklen = tok
        elif rest:
            masklen = rest.pop(0)
    if masklen is not None:
        n = int(masklen) if masklen.isdigit() else 0
        if not 0 < n < 32:
            raise NetifError(f"Invalid netmask len: {n}")
        masklen = n
    if rest:
        raise NetifError("Invalid argument to '-I'")
    return tap_addr, bridge, addr, masklen


# --- host state ------------------------------------------------------------------------------
def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _open_taps(st):
    """tap_open without the entries of processes that are gone."""
    table = st.setdefault("tap_open", {})
    for name in [n for n, e in table.items() if not _alive(e.get("pid", 0))]:
        del table[name]
    return table


def open_tap(host, iface, pid):
    """netif_open_tap(): (tap_unit, clone, fd, stdout lines). Raises NetifError."""
    if iface == "auto":
        with host.update_state() as st:
            if "if_tap" not in st.get("modules", []):
                # no if_tap: no /dev/tap clone device
                raise NetifError("Unable to find a free tap(4): No such file or directory")
            n = 0
            while f"tap{n}" in st["taps"]:
                n += 1
            st["taps"][f"tap{n}"] = f"cloned by vkernel pid {pid} (/dev/tap)"
            _open_taps(st)[f"tap{n}"] = {"pid": pid, "clone": True}
        return n, True, None, [f"TAP UNIT {n}"]
    dev = iface if iface.startswith("/") else f"/dev/{iface}"
    name = dev[len("/dev/"):] if dev.startswith("/dev/") else None
    if name and name.startswith("tap") and name[3:].isdigit():
        with host.update_state() as st:
            if "if_tap" not in st.get("modules", []) or name not in st["taps"]:
                err = errno.ENOENT
            elif name in _open_taps(st):
                err = errno.EBUSY     # a tap(4) device is opened by one process at a time
            else:
                st["tap_open"][name] = {"pid": pid, "clone": False}
                err = 0
        if err:
            raise NetifError(f"Unable to open {dev}: {strerror(err)}")
        return int(name[3:]), False, None, [f"TAP UNIT {int(name[3:])}"]
    try:
        mode = os.stat(dev).st_mode
    except OSError as exc:
        raise NetifError(f"Unable to open {dev}: {strerror(exc.errno)}")
    if stat.S_ISSOCK(mode):
        # open() fails on a socket; the code falls back to a SOCK_SEQPACKET connect (§2)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            sock.connect(dev)
        except OSError as exc:
            sock.close()
            raise NetifError(f"Unable to open {dev}: {strerror(exc.errno)}")
        sock.setblocking(False)
        return -1, False, sock, [f"Network socket buffer: {SNDBUF} bytes"]
    raise NetifError(f"{dev} is not a tap(4) device or socket")


def close_tap(host, tap_unit, clone):
    """Closing the tap's fd: a cloned tap is destroyed and leaves its bridge."""
    name = f"tap{tap_unit}"
    with host.update_state() as st:
        st.setdefault("tap_open", {}).pop(name, None)
        if clone:
            st["taps"].pop(name, None)
            for bridge in st.get("bridges", {}).values():
                if name in bridge.get("members", []):
                    bridge["members"].remove(name)


def add_to_bridge(host, tap_unit, bridge):
    """netif_add_tap2brg(): BRDGADD through SIOCSDRVSPEC; EEXIST counts as success."""
    with host.update_state() as st:
        bridges = st.get("bridges", {})
        if "if_bridge" not in st.get("modules", []) or bridge not in bridges:
            # ifioctl() on an interface name that does not exist: ENXIO
            raise NetifError(f"ioctl({bridge}, SIOCSDRVSPEC) failed: "
                             f"{strerror(errno.ENXIO)}")
        members = bridges[bridge].setdefault("members", [])
        if f"tap{tap_unit}" not in members:
            members.append(f"tap{tap_unit}")


def set_tapaddr(tap_unit):
    """netif_set_tapaddr(): SIOCAIFADDR on ``tap<unit>``; there is no ``tap-1`` (§19)."""
    if tap_unit < 0:
        raise NetifError(f"tap{tap_unit}: ioctl(SIOCAIFADDR) failed: "
                         f"{strerror(errno.ENXIO)}")


def _mac(tap_unit, mac):
    if mac:
        return mac.lower()
    raw = bytearray(6)
    if tap_unit >= 0:
        # the tap's own address (TAPGIFINFO/SIOCGIFADDR), the simulator's 00:bd:…:unit
        raw[:] = b"\x00\xbd" + os.urandom(3) + bytes([tap_unit & 0xff])
    else:
        raw[2:4] = os.urandom(2)
        raw[4], raw[5] = (os.getpid() >> 8) & 0xff, os.getpid() & 0xff
    raw[1] = (raw[1] + 1) & 0xff   # vke_attach: enaddr[1] += 1
    return ":".join(f"{b:02x}" for b in raw)


# --- the kernel's side ---------------------------------------------------------------------------
def attach_all(kernel):
    """init_netif(): each ``-I`` entry that works becomes the next ``vke<N>``."""
    netifs = []
    for spec in kernel.opts.netifs:
        try:
            iface, tokens, mac = split_spec(spec)
        except NetifError as exc:
            kernel.write_err(f"{kernel.opts.prog}: {exc}\n")
            continue
        try:
            tap_unit, clone, fd, lines = open_tap(kernel.host, iface, os.getpid())
        except NetifError as exc:
            kernel.write_err(f"{kernel.opts.prog}: {exc}\n")
            continue
        for line in lines:
            kernel.write(line + "\n")
        try:
            tap_addr, bridge, addr, mask = parse_tokens(tokens)
            if tap_unit >= 0:
                if bridge:
                    add_to_bridge(kernel.host, tap_unit, bridge)
                else:
                    set_tapaddr(tap_unit)
        except NetifError as exc:
            kernel.write_err(f"{kernel.opts.prog}: {exc}\n")
            _close(kernel.host, tap_unit, clone, fd)
            continue
        netifs.append(Netif(len(netifs), spec, iface, tap_unit, clone, bridge, tap_addr, addr,
                            mask, _mac(tap_unit, mac), fd=fd))
    return netifs


def _close(host, tap_unit, clone, fd):
    if fd is not None:
        fd.close()
    if tap_unit >= 0:
        close_tap(host, tap_unit, clone)


def close_all(kernel, netifs):
    """netif_close(): every ``-I`` fd closed (checkpoint freeze, and the process's exit)."""
    for n in netifs:
        if n.open:
            _close(kernel.host, n.tap_unit, n.clone, n.fd)
            n.fd, n.open = None, False


def restore_all(kernel, saved):
    """netif_restore() after a thaw (§19 step 4): reopen each entry, then re-add it to its
    bridge or reset its address; a failure leaves that vke without a link (no longer UP)."""
    netifs = []
    prog = kernel.opts.prog
    for d in saved or []:
        n = Netif.from_state(d)
        netifs.append(n)
        try:
            n.tap_unit, n.clone, n.fd, lines = open_tap(kernel.host, n.iface, os.getpid())
        except NetifError as exc:
            reason = str(exc).rpartition(": ")[2]
            kernel.write_err(f"{prog}: Couldn't reopen device file: {reason}\n")
            n.tap_unit, n.fd, n.up, n.open = -1, None, False, False
            continue
        for line in lines:
            kernel.write(line + "\n")
        try:
            if n.bridge:
                add_to_bridge(kernel.host, n.tap_unit, n.bridge)
            else:
                set_tapaddr(n.tap_unit)
        except NetifError as exc:
            kernel.write_err(f"{prog}: {exc}\n")
            kernel.write_err(f"{prog}: Couldn't reinitialize network interface\n")
            _close(kernel.host, n.tap_unit, n.clone, n.fd)
            n.fd, n.up, n.open = None, False, False
    return netifs


def rc_configured(rc_conf, name):
    """Whether the guest's rc.conf configures ``name`` (``ifconfig_vke0="DHCP"`` etc.)."""
    m = re.search(rf'^\s*ifconfig_{name}\s*=\s*"?([^"\n#]*)', rc_conf or "", re.M)
    return bool(m and m.group(1).strip())
