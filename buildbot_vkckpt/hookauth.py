"""Basic authentication for the master's web change hooks, with the password in a secret.

Buildbot protects ``/change_hook/`` with ``c['www']['change_hook_auth']``, a list of Twisted
credential checkers, but a checker gets no master and so cannot read Buildbot's secrets
providers. :class:`SecretPasswordChecker` asks the master's secrets manager on every request
(so a rotated secret applies at once); :class:`HookAuthService`, in ``c['services']``, hands it
the master when the master starts. Until then, and whenever the secret is missing or empty,
every request is refused: a hook is never open by accident.
"""
import hmac
import weakref

from buildbot.util import service
from twisted.cred import credentials, error
from twisted.cred.checkers import ICredentialsChecker
from twisted.internet import defer
from zope.interface import implementer

SERVICE_NAME = "vkckpt-change-hook-auth"
_checkers = weakref.WeakSet()


@implementer(ICredentialsChecker)
class SecretPasswordChecker:
    credentialInterfaces = (credentials.IUsernamePassword,)

    def __init__(self, username, secret_name):
        self.username = username
        self.secret_name = secret_name
        self.master = None
        _checkers.add(self)

    @defer.inlineCallbacks
    def requestAvatarId(self, creds):
        expected = None
        if self.master is not None:
            details = yield self.master.secrets_manager.get(self.secret_name)
            expected = details.value if details is not None else None
        if not expected:
            raise error.UnauthorizedLogin(f"no secret {self.secret_name!r} for the hook")
        user_ok = hmac.compare_digest(_bytes(creds.username), _bytes(self.username))
        password_ok = hmac.compare_digest(_bytes(creds.password), _bytes(expected))
        if not (user_ok and password_ok):
            raise error.UnauthorizedLogin("bad credentials")
        return _bytes(self.username)


def _bytes(value):
    return value if isinstance(value, bytes) else str(value).encode("utf-8")


class HookAuthService(service.BuildbotService):
    """Gives every SecretPasswordChecker the running master (for its secrets manager)."""

    name = SERVICE_NAME

    def checkConfig(self, *args, **kwargs):
        pass

    @defer.inlineCallbacks
    def reconfigService(self, *args, **kwargs):
        # the web service keeps the checkers of the first config (Buildbot's FIXME), later
        # configs bring new ones: bind them all
        for checker in list(_checkers):
            checker.master = self.master
        yield super().reconfigService(*args, **kwargs)
