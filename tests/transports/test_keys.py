import pytest

from buildbot_vkckpt.transports.errors import AuthenticationFailed
from buildbot_vkckpt.transports.keys import load_private_key
from tests.transports.sshd_fixture import keygen


@pytest.mark.parametrize("key_type,name", [("ed25519", "ssh-ed25519"),
                                           ("ecdsa", "ecdsa-sha2-nistp256"), ("rsa", "ssh-rsa")])
def test_loads_each_key_type_from_text(tmp_path, key_type, name):
    private, public = keygen(tmp_path / "k", key_type=key_type)
    key = load_private_key(private.rstrip("\n"))        # secrets providers strip newlines
    assert key.get_name() == name
    assert key.get_base64() == public.split()[1]


def test_encrypted_key_needs_its_passphrase(tmp_path):
    private, _ = keygen(tmp_path / "k", passphrase="s3cret pass")
    assert load_private_key(private, "s3cret pass").get_name() == "ssh-ed25519"
    with pytest.raises(AuthenticationFailed, match="no passphrase"):
        load_private_key(private)
    with pytest.raises(AuthenticationFailed, match="passphrase is wrong") as e:
        load_private_key(private, "nope")
    assert "nope" not in str(e.value)


@pytest.mark.parametrize("garbage", ["", "/root/.ssh/id_ed25519", b"\xff\x00",
                                     "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n", None, 42])
def test_garbage_is_a_clear_error_without_the_text(garbage):
    with pytest.raises(AuthenticationFailed) as e:
        load_private_key(garbage)
    assert "AAAA" not in str(e.value) and "/root" not in str(e.value)
