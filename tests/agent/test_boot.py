"""boot's decisions before the supervisor starts (agent/boot.py): the vkernel's command line
from what this binary accepts, VMM, and the inputs. Booting itself runs on the simulated host
(test_simhost_session.py, test_login.py)."""
import argparse
import os

import pytest

from buildbot_vkckpt.agent import boot, flavour
from buildbot_vkckpt.agent.events import Outcome
from buildbot_vkckpt.agent.ledger import Ledger
from buildbot_vkckpt.agent.session import Session

GSOC = flavour.classify({"getopt": flavour.GSOC_GETOPT, "usage": None, "handler": True})
MASTER = flavour.classify({"getopt": flavour.MASTER_GETOPT, "usage": None, "handler": False})


def args(tmp_path, *extra):
    p = argparse.ArgumentParser()
    boot.add_arguments(p)
    return p.parse_args(["--kernel", str(tmp_path / "kernel.debug"),
                         "--image", str(tmp_path / "root.img"), *extra])


def test_master_gets_d_and_the_sessions_own_memory_image(tmp_path):
    s = Session(tmp_path / "s")
    argv = boot.vkernel_argv(args(tmp_path, "--memory", "128m", "--cpus", "3",
                                  "--net", "auto:bridge0"), s, MASTER)
    assert argv == [str(tmp_path / "kernel.debug"), "-m", "128m", "-n", "3",
                    "-r", str(tmp_path / "root.img"), "-r", s.results_img, "-p", s.pidfile,
                    "-d", "-i", s.file("memimg"), "-I", "auto:bridge0"]


def test_gsoc_has_no_d_and_vmm_leaves_out_the_memory_image(tmp_path):
    s = Session(tmp_path / "s")
    argv = boot.vkernel_argv(args(tmp_path), s, GSOC, kernel="/s/kernel/kernel.debug")
    assert argv[0] == "/s/kernel/kernel.debug" and "-d" not in argv and "-i" in argv
    argv = boot.vkernel_argv(args(tmp_path, "--vmm"), s, MASTER)
    assert "-d" not in argv and "-i" not in argv


def test_an_option_the_binary_lacks_is_refused_before_the_start(tmp_path):
    odd = flavour.classify({"getopt": "c:hsvl:m:n:r:e:p:Ub:B:", "usage": None,
                            "handler": False})                  # no -i, no -I
    with pytest.raises(Outcome) as caught:
        boot.vkernel_argv(args(tmp_path, "--net", "tap0"), Session(tmp_path / "s"), odd)
    assert caught.value.kind.value == "infrastructure"
    assert caught.value.summary == ("this vkernel (unknown (options -BUbcehlmnprsv)) lacks "
                                    "option(s) -I, -i the session needs")


@pytest.mark.parametrize("extra, flav, sysctl, state", [
    (["--vmm"], MASTER, "1", ("on (--vmm)", False)),
    ([], MASTER, "1", ("off (-d)", True)),
    ([], GSOC, "0", ("off (hw.vmm.enable=0; this vkernel has no -d)", True)),
    ([], GSOC, None, ("off (hw.vmm.enable=missing; this vkernel has no -d)", True)),
    ([], GSOC, "1", ("on (hw.vmm.enable=1; this vkernel has no -d)", False)),
])
def test_vmm_is_off_with_d_or_when_the_host_turns_it_off(tmp_path, monkeypatch, extra, flav,
                                                         sysctl, state):
    monkeypatch.setattr(boot, "sysctl", lambda name: sysctl if name == "hw.vmm.enable" else None)
    assert boot.vmm_state(args(tmp_path, *extra), flav) == state


def test_inputs_are_checked_with_a_fix_each(tmp_path):
    def problem(*extra):
        with pytest.raises(Outcome) as caught:
            boot.check_inputs(args(tmp_path, *extra))
        assert caught.value.kind.value == "infrastructure" and caught.value.fix
        return caught.value.summary
    assert problem() == f"no vkernel binary at {tmp_path / 'kernel.debug'}"
    kernel = tmp_path / "kernel.debug"
    kernel.write_text("")
    assert problem().startswith("no vkernel binary at ")          # not executable
    kernel.chmod(0o755)
    assert problem() == f"no root image at {tmp_path / 'root.img'}"
    (tmp_path / "root.img").write_text("")
    assert problem("--memory", "lots") == "bad size 'lots' (use e.g. 256m or 2g)"
    boot.check_inputs(args(tmp_path))


def test_the_session_runs_its_own_copy_of_the_kernel_under_its_name(tmp_path,
                                                                    private_registry):
    built = tmp_path / "obj" / "kernel.debug"
    built.parent.mkdir()
    built.write_bytes(b"\x7fELF vkernel")
    link = tmp_path / "kernel"
    link.symlink_to(built)
    s = Session(tmp_path / "s").ensure()
    copy = boot.copy_kernel(s, Ledger(s.dir), str(link))
    assert copy == s.file("kernel/kernel.debug")       # p_comm, so %N, stays kernel.debug
    assert open(copy, "rb").read() == built.read_bytes() and os.access(copy, os.X_OK)
    (entry,) = Ledger(s.dir).outstanding()
    assert (entry["kind"], entry["path"], entry["role"]) == ("file", copy, "kernel copy")
