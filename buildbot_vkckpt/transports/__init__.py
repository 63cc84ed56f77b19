"""How agent commands reach the DragonFly test host: the Buildbot worker, or SSH from the master.

One interface (:class:`~buildbot_vkckpt.transports.base.Transport`): ``WorkerTransport`` runs
them on the build's worker (the default), ``SSHTransport`` over SSH (paramiko) on a dedicated
test host that may crash; the exceptions say what went wrong in terms a step can turn into an
outcome.
"""
from buildbot_vkckpt.transports.base import Execution, StreamingTransport, Transport
from buildbot_vkckpt.transports.errors import (AuthenticationFailed, CommandInterrupted,
                                               HostKeyRejected, HostLost, HostUnreachable,
                                               TransportError, TransportTimeout)
from buildbot_vkckpt.transports.ssh import SSHTransport, redact
from buildbot_vkckpt.transports.worker import WorkerTransport

__all__ = ["Transport", "StreamingTransport", "Execution", "WorkerTransport", "SSHTransport",
           "redact", "TransportError", "HostLost", "HostUnreachable",
           "TransportTimeout", "CommandInterrupted", "HostKeyRejected", "AuthenticationFailed"]
