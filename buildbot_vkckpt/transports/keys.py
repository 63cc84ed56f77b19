"""Load a client private key from text in memory (a Buildbot secret), never from a logged path.

Error messages name the problem, never the key material.
"""
import io

import paramiko

from buildbot_vkckpt.transports.errors import AuthenticationFailed

# Tried in order; DSA is gone from current OpenSSH and paramiko.
_KEY_CLASSES = (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)


def load_private_key(text, passphrase=None):
    """Return a paramiko ``PKey`` from OpenSSH/PEM private-key text."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str) or "PRIVATE KEY" not in text:
        raise AuthenticationFailed("the ssh key secret does not hold a private key "
                                   "(expected an OpenSSH or PEM 'PRIVATE KEY' block)")
    # Secret files may have lost their final newline (SecretInAFile strips it).
    text = text.strip() + "\n"
    for cls in _KEY_CLASSES:
        try:
            return cls.from_private_key(io.StringIO(text), password=passphrase or None)
        except paramiko.PasswordRequiredException:
            raise AuthenticationFailed("the ssh key is encrypted and no passphrase is "
                                       "configured") from None
        except (paramiko.SSHException, ValueError, TypeError, IndexError):
            continue
    raise AuthenticationFailed("the ssh key could not be loaded: not an ed25519, ecdsa or rsa "
                               "private key, or the passphrase is wrong")
