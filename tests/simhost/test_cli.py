"""``vkckpt simhost``: init, fault, env, state."""
import json
import os

from buildbot_vkckpt import cli
from buildbot_vkckpt.simhost import tree
from buildbot_vkckpt.simhost.host import SimHost


def vkckpt(*argv):
    return cli.main(["simhost", *map(str, argv)])


def test_init_creates_host_and_source_tree(tmp_path, capsys):
    root = tmp_path / "h"
    assert vkckpt("init", root, "--python", "/opt/py/bin/python3") == 0
    host = SimHost(root)
    make = host.bin / "make"
    assert os.access(make, os.X_OK)
    assert "exec /opt/py/bin/python3 -S -m buildbot_vkckpt.simhost.bmake make" in make.read_text()
    assert (host.src / "sys/config/VKERNEL64").is_file()
    rev = tree.revision(host.src)
    assert rev[:10] in capsys.readouterr().out
    assert os.readlink(host.bin / "python3") == "/opt/py/bin/python3"
    assert vkckpt("init", root) == 0  # again: keeps the tree
    assert tree.revision(host.src) == rev


def test_the_hosts_python3_is_the_interpreter_binary_itself(tmp_path):
    import subprocess
    import sys
    host = SimHost(tmp_path / "h").create()
    python3 = host.bin / "python3"
    assert os.readlink(python3) == os.path.realpath(sys.executable)
    # first on the host's PATH, and no venv: the project is not importable from it
    probe = subprocess.run(["python3", "-c", "import sys, importlib.util; print(sys.prefix == "
                            "sys.base_prefix, importlib.util.find_spec('buildbot_vkckpt'))"],
                           env=host.env(), cwd=tmp_path, capture_output=True, text=True,
                           check=True)
    assert probe.stdout.split() == ["True", "None"], probe.stdout


def test_init_speed_is_kept_in_state(tmp_path, capsys):
    assert vkckpt("init", tmp_path / "h", "--speed", "0") == 0
    assert SimHost(tmp_path / "h").load_state()["sim_speed"] == 0


def test_fault_add_list_clear(tmp_path, capsys):
    root = tmp_path / "h"
    vkckpt("init", root)
    assert vkckpt("fault", root, "world-fail=4d", "warning-storm") == 0
    assert vkckpt("fault", root, "kernel-fail") == 0  # adds to what is there
    assert SimHost(root).faults() == {"world-fail": "4d", "warning-storm": None,
                                      "kernel-fail": None}
    capsys.readouterr()
    assert vkckpt("fault", root, "--list") == 0
    assert capsys.readouterr().out.splitlines() == ["kernel-fail", "warning-storm",
                                                    "world-fail=4d"]
    assert vkckpt("fault", "--clear", root, "compile-error=bin/ls/ls.c") == 0
    assert SimHost(root).faults() == {"compile-error": "bin/ls/ls.c"}
    assert SimHost(root).fault("compile-error") == "bin/ls/ls.c"
    assert vkckpt("fault", root, "--clear") == 0
    assert SimHost(root).faults() == {}


def test_fault_rejects_what_the_build_would_misread(tmp_path, capsys):
    root = tmp_path / "h"
    vkckpt("init", root)
    assert vkckpt("fault", root, "world-fail=9") == 2
    assert vkckpt("fault", root, "warning-storm=lots") == 2
    assert vkckpt("fault", root, "=x") == 2
    assert vkckpt("fault", root) == 2
    assert SimHost(root).faults() == {}
    assert "unknown stage '9'" in capsys.readouterr().err


def test_env_prints_export_lines(tmp_path, capsys):
    root = tmp_path / "h h"
    vkckpt("init", root)
    capsys.readouterr()
    assert vkckpt("env", root) == 0
    lines = capsys.readouterr().out.splitlines()
    host = SimHost(root)
    assert lines == [f"export VKCKPT_SIMHOST='{host.root}'",
                     f"export PATH='{host.bin}':\"$PATH\""]


def test_state_prints_json(tmp_path, capsys):
    root = tmp_path / "h"
    vkckpt("init", root)
    capsys.readouterr()
    assert vkckpt("state", root) == 0
    state = json.loads(capsys.readouterr().out)
    assert state["sysctl"]["vm.vkernel_enable"] == 1


def test_commands_on_a_missing_host_fail_cleanly(tmp_path, capsys):
    assert vkckpt("state", tmp_path / "nothing") == 2
    assert "not a simulated host" in capsys.readouterr().err
