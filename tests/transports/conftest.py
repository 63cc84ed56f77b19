import pytest

from tests.transports.sshd_fixture import SSHDMissing, SSHServer


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    try:
        server = SSHServer(tmp_path_factory.mktemp("sshd"))
    except SSHDMissing as e:
        pytest.fail(str(e), pytrace=False)
    server.start()
    yield server
    server.stop()
