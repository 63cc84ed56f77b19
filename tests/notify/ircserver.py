"""A real IRC server on 127.0.0.1 (Twisted Words) for the notification tests, run as
``python -m tests.notify.ircserver NICK...``: each NICK logs in with the password ``pw``;
channels are made when joined. Prints its port, then serves until killed."""
import sys

from twisted.cred import credentials, error, portal
from twisted.cred.checkers import ICredentialsChecker
from twisted.internet import defer, reactor
from twisted.words import service
from zope.interface import implementer

PASSWORD = "pw"


@implementer(ICredentialsChecker)
class Nicks:
    """The nicks the test expects, each with PASSWORD (Twisted's in-memory checker keys its
    users by bytes, while the IRC server logs in with the nick as text)."""
    credentialInterfaces = (credentials.IUsernamePassword,)

    def __init__(self, nicks):
        self.nicks = set(nicks)

    def requestAvatarId(self, creds):
        name = creds.username.decode() if isinstance(creds.username, bytes) else creds.username
        password = creds.password.decode() if isinstance(creds.password, bytes) \
            else creds.password
        if name in self.nicks and password == PASSWORD:
            return defer.succeed(name)
        return defer.fail(error.UnauthorizedLogin(name))


def main(nicks):
    realm = service.InMemoryWordsRealm("127.0.0.1")
    realm.createGroupOnRequest = realm.createUserOnRequest = True
    port = reactor.listenTCP(0, service.IRCFactory(realm, portal.Portal(realm, [Nicks(nicks)])),
                             interface="127.0.0.1")
    print(port.getHost().port, flush=True)
    reactor.run()


if __name__ == "__main__":
    main(sys.argv[1:])
