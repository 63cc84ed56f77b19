"""Host-key checking: known_hosts file, pinned key, or explicit trust on first use.

Unknown and changed keys are rejected unless the configuration says otherwise, and the error tells
the operator exactly what was offered (type and SHA256 fingerprint) and how to pin it.
"""
import base64
import binascii
import os

import paramiko

from buildbot_vkckpt.transports.errors import HostKeyRejected


class HostKeyFormatError(ValueError):
    """A pinned ``host_key`` string is not ``<type> <base64>``."""


def parse_public_key(text):
    """``"ssh-ed25519 AAAA... [comment]"`` -> paramiko ``PKey``; raises HostKeyFormatError."""
    fields = str(text).split()
    if len(fields) < 2:
        raise HostKeyFormatError("expected '<key type> <base64 key>', e.g. 'ssh-ed25519 AAAAC3...'")
    key_type, data = fields[0], fields[1]
    try:
        blob = base64.b64decode(data, validate=True)
        return paramiko.PKey.from_type_string(key_type, blob)
    except binascii.Error:
        raise HostKeyFormatError(f"the key data after {key_type} is not base64") from None
    except Exception as e:      # paramiko raises several unrelated types for bad key blobs
        raise HostKeyFormatError(f"cannot read a {key_type} public key from it "
                                 f"({type(e).__name__})") from None


def known_hosts_name(host, port):
    """The name a host has in known_hosts: ``host`` on port 22, ``[host]:port`` elsewhere."""
    return host if port == 22 else f"[{host}]:{port}"


def public_key_text(key):
    return f"{key.get_name()} {key.get_base64()}"


def describe_key(key):
    return f"{key.get_name()} key {key.fingerprint}"


def pin_hint(host, port, key):
    return (f"if this is the right host, pin it with host_key={public_key_text(key)!r} "
            f"or add this line to known_hosts: {known_hosts_name(host, port)} "
            f"{public_key_text(key)}")


class HostKeyPolicy:
    """Decides whether a server key is acceptable for (host, port)."""

    def __init__(self, known_hosts=None, pinned=(), trust_on_first_use=False):
        self.known_hosts = known_hosts
        self.pinned = tuple(pinned)
        self.trust_on_first_use = trust_on_first_use

    def identity(self):
        """Comparable summary: a connection made under another policy must not be reused."""
        return (self.known_hosts, tuple(public_key_text(k) for k in self.pinned),
                self.trust_on_first_use)

    def _known(self, host, port):
        """Keys known for the host, by type, read fresh so edits take effect without a restart."""
        if self.pinned:
            return {k.get_name(): k for k in self.pinned}
        if not self.known_hosts or not os.path.exists(self.known_hosts):
            return {}
        keys = paramiko.HostKeys()
        keys.load(self.known_hosts)
        return dict(keys.lookup(known_hosts_name(host, port)) or {})

    def preferred_key_types(self, host, port):
        """Key types we already know for the host, so negotiation picks one we can verify."""
        return list(self._known(host, port))

    def check(self, host, port, key):
        """Return normally when ``key`` is acceptable, else raise HostKeyRejected."""
        where = known_hosts_name(host, port)
        known = self._known(host, port)
        if known.get(key.get_name()) == key:
            return
        source = "the pinned host_key" if self.pinned else f"known_hosts {self.known_hosts}"
        if known:
            expected = ", ".join(describe_key(k) for k in known.values())
            raise HostKeyRejected(
                f"host key for {where} CHANGED: server offered {describe_key(key)}, but "
                f"{source} has {expected}; this is either a reinstalled host or an "
                f"impostor. If the host was reinstalled, {pin_hint(host, port, key)}")
        if self.trust_on_first_use and not self.pinned and self.known_hosts:
            self._record(where, key)
            return
        if self.pinned or self.known_hosts:
            why = f"is not in {source}"
        else:
            why = "cannot be verified: neither known_hosts nor host_key is configured"
        raise HostKeyRejected(
            f"host key for {where} rejected: server offered {describe_key(key)}, which {why}; "
            f"{pin_hint(host, port, key)} (or set trust_on_first_use=True to record it)")

    def _record(self, where, key):
        directory = os.path.dirname(os.path.abspath(self.known_hosts))
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd = os.open(self.known_hosts, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as f:
            f.write(f"{where} {public_key_text(key)}\n")
