"""The host checks ``preflight`` runs only when asked (``vkckpt hostcheck`` asks for both):
the ``-I`` network route, and whether the host kernel can dump a vkernel at all."""
import os
import shutil
import stat
import tempfile

from . import hostckpt, hostcmd
from .hostcmd import CommandFailed, sysctl
from .session import Session

VKNETD_FIX = ("start vknetd on that socket (vknetd -U), or use a tap (--net auto:bridge0); "
              "note that vknetd links do not survive a restore")


def parse_net(net):
    """``iface[:addr1[:addr2]][/mask]`` -> (iface, addr1)."""
    iface, _, rest = net.partition(":")
    addr1 = rest.split(":", 1)[0].split("/", 1)[0]
    return iface, addr1


def _exists(ifname):
    try:
        hostcmd.run(["ifconfig", ifname])
        return True
    except CommandFailed:
        return False


def _is_socket(path):
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def check_net(rep, net):
    """What ``-I net`` needs on the host before the vkernel opens it (reference §3)."""
    iface, addr1 = parse_net(net)
    # the vkernel opens a path and, when that is a socket, connects to it (vknetd): a socket
    # anywhere, or a path outside /dev that is not there yet, is a vknetd link (reference §2)
    if iface.startswith("/") and (_is_socket(iface) or not iface.startswith("/dev/")):
        if os.path.exists(iface):
            rep.warning("network", f"vknetd socket {iface}: a restored vkernel loses this link",
                        VKNETD_FIX)
        else:
            rep.problem("network", f"no vknetd socket at {iface}", VKNETD_FIX)
        return
    if shutil.which("ifconfig") is None:
        rep.problem("network", "no ifconfig on PATH", "put /sbin on the worker's PATH")
        return
    if iface != "auto":
        dev = iface if iface.startswith("/dev/") else f"/dev/{iface}"
        name = os.path.basename(dev)
        if not _exists(name):
            rep.problem("network", f"no tap interface {name}",
                        f"kldload if_tap; ifconfig {name} create")
            return
    if addr1.startswith("bridge"):
        if not _exists(addr1):
            rep.problem("network", f"no {addr1} to add the vkernel's tap to",
                        f"kldload if_bridge; ifconfig {addr1} create up")
            return
    rep.ok("network", f"-I {net}: " + ("a tap is cloned at boot" if iface == "auto"
                                        else f"tap {iface}") + (f" on {addr1}" if addr1 else ""))


def check_host_checkpoint(rep, workdir):
    """Checkpoint a throwaway helper (agent/hostckpt.py) and read the layout the host kernel
    wrote; everything it made is removed."""
    template = sysctl("kern.ckptfile") or "%N.ckpt"
    scratch = tempfile.mkdtemp(prefix="vkckpt-hostcheck-", dir=workdir)
    try:
        answer = hostckpt.check(Session(scratch), template)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if answer.get("supported"):
        rep.ok("host-checkpoint", answer["reason"])
    elif answer.get("supported") is False:
        rep.problem("host-checkpoint", f"{hostckpt.NO_SUPPORT}: {answer['reason']}",
                    hostckpt.NO_SUPPORT_FIX)
    else:
        rep.problem("host-checkpoint", f"cannot tell: {answer.get('reason')}",
                    "add this user to kern.ckptgroup and raise RLIMIT_CORE, then check again")
