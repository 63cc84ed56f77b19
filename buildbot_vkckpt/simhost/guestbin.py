"""Guest commands that only the (simulated) DragonFly kernel can answer.

``python -S -m buildbot_vkckpt.simhost.guestbin NAME ARGS...`` — run by the wrappers in the
guest's ``bin/`` (see ``guestshell``). It sends ``{"cmd", "args", "pid"}`` to the kernel's
socket (``VKCKPT_GUEST_SOCK``, ``@`` = abstract namespace), prints the reply's ``out``/``err``
and exits with its ``rc``. ``halt``, ``reboot`` and a panicking command get no reply: the kernel
stops the guest, this process included.
"""
import json
import os
import socket
import sys


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    name = os.environ.get("VKCKPT_GUEST_SOCK", "")
    if not argv or not name:
        print("guestbin: not running inside a simulated vkernel", file=sys.stderr)
        return 127
    address = "\0" + name[1:] if name.startswith("@") else name
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(address)
        sock.sendall(json.dumps({"cmd": argv[0], "args": argv[1:],
                                 "pid": os.getpid()}).encode() + b"\n")
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        print(f"{argv[0]}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if not data:  # the kernel went down (halt, reboot, panic) before answering
        return 0
    try:
        reply = json.loads(data.decode())
    except ValueError:
        return 1
    sys.stdout.write(reply.get("out", ""))
    sys.stderr.write(reply.get("err", ""))
    return int(reply.get("rc", 0))


if __name__ == "__main__":
    sys.exit(main())
