import pytest

from buildbot_vkckpt.transports.errors import HostKeyRejected
from buildbot_vkckpt.transports.hostkeys import (HostKeyFormatError, HostKeyPolicy,
                                                 known_hosts_name, parse_public_key)
from tests.transports.helpers import fingerprint
from tests.transports.sshd_fixture import keygen


@pytest.fixture
def keys(tmp_path):
    pair = []
    for name in ("a", "b"):
        _, public = keygen(tmp_path / name)
        pair.append((" ".join(public.split()[:2]), fingerprint(str(tmp_path / f"{name}.pub"))))
    return pair


def test_known_hosts_names():
    assert known_hosts_name("dfly", 22) == "dfly"
    assert known_hosts_name("10.0.0.5", 2222) == "[10.0.0.5]:2222"


@pytest.mark.parametrize("text", ["", "ssh-ed25519", "ssh-ed25519 !!!!", "ssh-foo AAAA",
                                  "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ"])
def test_bad_pins_are_format_errors(text):
    with pytest.raises(HostKeyFormatError):
        parse_public_key(text)


def test_pinned_key_accepts_only_itself(keys):
    (a, a_fp), (b, b_fp) = keys
    policy = HostKeyPolicy(pinned=[parse_public_key(a + " comment")])
    policy.check("h", 22, parse_public_key(a))
    with pytest.raises(HostKeyRejected) as e:
        policy.check("h", 22, parse_public_key(b))
    assert "CHANGED" in str(e.value) and b_fp in str(e.value) and a_fp in str(e.value)
    assert f"host_key='{b}'" in str(e.value)


def test_no_source_at_all_rejects_with_the_pin_to_use(keys):
    (a, a_fp), _ = keys
    with pytest.raises(HostKeyRejected) as e:
        HostKeyPolicy().check("dfly", 22, parse_public_key(a))
    assert a_fp in str(e.value) and f"dfly {a}" in str(e.value)
    assert "neither known_hosts nor host_key" in str(e.value)


def test_trust_on_first_use_records_once_then_enforces(tmp_path, keys):
    (a, _), (b, _) = keys
    known = tmp_path / "kh"
    policy = HostKeyPolicy(known_hosts=str(known), trust_on_first_use=True)
    policy.check("dfly", 2222, parse_public_key(a))
    policy.check("dfly", 2222, parse_public_key(a))
    assert known.read_text() == f"[dfly]:2222 {a}\n"
    assert policy.preferred_key_types("dfly", 2222) == ["ssh-ed25519"]
    with pytest.raises(HostKeyRejected, match="CHANGED"):
        policy.check("dfly", 2222, parse_public_key(b))
    policy.check("other", 22, parse_public_key(b))      # another host is a first use too
    assert known.read_text().count("\n") == 2
