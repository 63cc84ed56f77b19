"""SecretPasswordChecker: the change hooks' password comes from the master's secrets."""
import pytest
from buildbot.secrets.secret import SecretDetails
from twisted.cred import credentials, error
from twisted.internet import defer

from buildbot_vkckpt.hookauth import HookAuthService, SecretPasswordChecker


class FakeSecrets:
    def __init__(self, values):
        self.values = values

    def get(self, name):
        value = self.values.get(name)
        return defer.succeed(None if value is None else SecretDetails("test", name, value))


class FakeMaster:
    def __init__(self, **values):
        self.secrets_manager = FakeSecrets(values)


def outcome(checker, user, password):
    d = checker.requestAvatarId(credentials.UsernamePassword(user, password))
    got = []
    d.addBoth(got.append)
    result, = got
    if hasattr(result, "trap"):
        result.trap(error.UnauthorizedLogin)
        return "refused"
    return result


@pytest.fixture
def checker():
    checker = SecretPasswordChecker("vkckpt", "vkckpt_change_hook")
    checker.master = FakeMaster(vkckpt_change_hook="s3cret")
    return checker


def test_the_right_user_and_password_pass(checker):
    assert outcome(checker, b"vkckpt", b"s3cret") == b"vkckpt"


@pytest.mark.parametrize("user, password", [(b"vkckpt", b"wrong"), (b"admin", b"s3cret"),
                                            (b"vkckpt", b"")])
def test_anything_else_is_refused(checker, user, password):
    assert outcome(checker, user, password) == "refused"


def test_without_a_master_or_a_secret_everything_is_refused():
    checker = SecretPasswordChecker("vkckpt", "vkckpt_change_hook")
    assert outcome(checker, b"vkckpt", b"") == "refused"
    checker.master = FakeMaster()
    assert outcome(checker, b"vkckpt", b"") == "refused"


def test_the_service_hands_the_master_to_the_checkers():
    checker = SecretPasswordChecker("vkckpt", "x")
    master = FakeMaster(x="y")

    class Bound(HookAuthService):
        @property
        def master(self):
            return master
    Bound().reconfigService()
    assert checker.master is master
