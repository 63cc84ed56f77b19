"""What can go wrong when a command runs on the test host, as exceptions steps can map to outcomes.

``HostLost`` (and its ``HostUnreachable`` case) is an infrastructure fact about the host, never a
verdict on the kernel under test; the key and host-key errors are configuration mistakes.
"""


class TransportError(Exception):
    """Base of every transport failure; the message is safe to log (no secrets)."""


class HostLost(TransportError):
    """The host stopped answering while we used it: connection reset, keepalive unanswered."""


class HostUnreachable(HostLost):
    """No connection could be made at all (refused, timed out, name does not resolve)."""


class TransportTimeout(TransportError):
    """The command was silent longer than ``timeout`` or ran longer than ``max_time``; the
    remote command has been stopped."""


class CommandInterrupted(TransportError):
    """``interrupt()`` stopped the command (the build was stopped)."""


class HostKeyRejected(TransportError):
    """The host presented a key that is unknown or differs from the pinned/known one."""


class AuthenticationFailed(TransportError):
    """The host refused our key, or the private key could not be loaded."""
