"""``vkckpt hostcheck`` against simulated DragonFly hosts of the real flavours: the readiness
table, the fix for each gap, nothing changed on the host — here and over a real OpenSSH."""
import os
import subprocess
import sys

import pytest

from buildbot_vkckpt.demo.sshd import SSHServer
from buildbot_vkckpt.simhost import tree
from buildbot_vkckpt.simhost.host import SimHost

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_host(root, flavour, host_kernel=None):
    host = SimHost(root).create(flavour=flavour, host_kernel=host_kernel)
    tree.create_source_tree(host)
    env = host.env()
    env.update(MAKEOBJDIRPREFIX=str(host.obj), VKCKPT_SIM_SPEED="0")
    for target in (["buildworld"], ["KERNCONF=VKERNEL64", "buildkernel"]):
        subprocess.run(["make", "-j", "2", *target], cwd=host.src, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kernel = next(host.obj.rglob("VKERNEL64/kernel.debug"))
    return host, kernel


def hostcheck(host, *args, env=None):
    full = host.env(env or os.environ)
    full["PYTHONPATH"] = REPO
    full["VKCKPT_STATE_DIR"] = str(host.root / "registry")
    return subprocess.run([sys.executable, "-m", "buildbot_vkckpt.cli", "hostcheck", *args],
                          env=full, capture_output=True, text=True, timeout=120)


def rows(stdout):
    """{check: (state, detail)} from the printed table."""
    out = {}
    for line in stdout.splitlines()[2:]:
        parts = line.split()
        if len(parts) >= 2 and parts[1] in ("ok", "warn", "GAP"):
            out[parts[0]] = (parts[1], line)
    return out


@pytest.fixture(scope="module")
def gsoc(tmp_path_factory):
    return make_host(tmp_path_factory.mktemp("gsoc") / "host", "gsoc2013")


def test_a_ready_gsoc_host_with_its_bridge(gsoc, tmp_path):
    host, kernel = gsoc
    before = host.load_state()
    proc = hostcheck(host, "--kernel", str(kernel), "--net", "auto:bridge0",
                     "--workdir", str(tmp_path))
    table = rows(proc.stdout)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert table["network"][0] == "GAP"
    assert "fix: kldload if_bridge; ifconfig bridge0 create up" in proc.stdout
    assert "gsoc2013" in table["vkernel"][1]
    assert table["host-checkpoint"][0] == "ok", proc.stdout
    # read-only: the host's state is as it was, nothing is left in the work dir
    assert host.load_state() == before
    assert os.listdir(tmp_path) == []

    subprocess.run(["ifconfig", "bridge0", "create", "up"], env=host.env(), check=True)
    proc = hostcheck(host, "--kernel", str(kernel), "--net", "auto:bridge0",
                     "--workdir", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith("this host: ready")


def test_gsoc_vkernel_without_d_needs_vmm_off_on_the_host(gsoc, tmp_path):
    host, kernel = gsoc
    with host.update_state() as state:
        state["sysctl"]["hw.vmm.enable"] = 1
    try:
        proc = hostcheck(host, "--kernel", str(kernel), "--workdir", str(tmp_path))
    finally:
        with host.update_state() as state:
            state["sysctl"]["hw.vmm.enable"] = 0
    assert proc.returncode == 1
    assert rows(proc.stdout)["hw.vmm.enable"][0] == "GAP"
    assert "sysctl hw.vmm.enable=0" in proc.stdout


def test_a_stock_host_kernel_cannot_dump_a_gsoc_vkernel(tmp_path):
    host, kernel = make_host(tmp_path / "host", "gsoc2013", host_kernel="stock")
    proc = hostcheck(host, "--kernel", str(kernel), "--workdir", str(tmp_path / "w"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert rows(proc.stdout)["host-checkpoint"][0] == "GAP"
    assert "host kernel has no vkernel checkpoint support" in proc.stdout


@pytest.mark.integration
def test_over_ssh_with_a_verified_host_key(gsoc, tmp_path):
    host, kernel = gsoc
    env = host.env({"PATH": "/usr/local/bin:/usr/bin:/bin"})
    env["VKCKPT_STATE_DIR"] = str(host.root / "registry")
    (tmp_path / "sshd").mkdir()
    server = SSHServer(tmp_path / "sshd", env=env).start()
    try:
        config = tmp_path / "ssh_config"
        config.write_text(f"Host testhost\n  HostName {server.host}\n  Port {server.port}\n"
                          f"  User {server.user}\n"
                          f"  IdentityFile {tmp_path / 'sshd' / 'client_ed25519'}\n"
                          f"  UserKnownHostsFile {server.known_hosts}\n")
        args = ["--ssh", "testhost", "--ssh-config", str(config), "--kernel", str(kernel),
                "--python", sys.executable, "--workdir", str(tmp_path / "w")]
        proc = hostcheck(host, *args)
        assert "readiness of testhost" in proc.stdout, proc.stdout + proc.stderr
        assert rows(proc.stdout)["host-checkpoint"][0] == "ok"
        # an unknown host key is refused, never accepted
        (tmp_path / "empty_known_hosts").write_text("")
        config.write_text(config.read_text().replace(
            server.known_hosts, str(tmp_path / "empty_known_hosts")))
        proc = hostcheck(host, *args)
        assert proc.returncode == 4
        assert "Host key verification failed" in proc.stderr
    finally:
        server.stop()
