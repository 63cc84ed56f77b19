"""How agent commands reach the DragonFly test host: the Buildbot worker, or SSH from the master.

``SSHTransport`` runs them over SSH (paramiko) on a dedicated test host that may crash; the
exceptions say what went wrong in terms a step can turn into an outcome.
"""
from buildbot_vkckpt.transports.errors import (AuthenticationFailed, CommandInterrupted,
                                               HostKeyRejected, HostLost, HostUnreachable,
                                               TransportError, TransportTimeout)
from buildbot_vkckpt.transports.ssh import SSHTransport, redact

__all__ = ["SSHTransport", "redact", "TransportError", "HostLost", "HostUnreachable",
           "TransportTimeout", "CommandInterrupted", "HostKeyRejected", "AuthenticationFailed"]
