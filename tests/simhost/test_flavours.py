"""One simulated host is one real DragonFly flavour (reference/dragonfly.md §23)."""
import os
import signal

import pytest

from buildbot_vkckpt import cli
from buildbot_vkckpt.simhost.host import SimHost
from tests.simhost.test_vkernel import Sim, boot_shell, sims  # noqa: F401

GSOC_USAGE = ("Usage: {0} [-hsUv] [-c file] [-e name=value:name=value:...]\n"
              "\t[-i file] [-I interface[:address1[:address2][/netmask]]] [-l cpulock]\n"
              "\t[-m size] [-n numcpus[:lbits[:cbits]]]\n"
              "\t[-p file] [-r file]\n")


@pytest.mark.parametrize("flavour,host_kernel,expected", [
    (None, None, ("master-with-port", "gsoc")),
    ("master2020", None, ("master2020", "stock")),
    ("gsoc2013", None, ("gsoc2013", "gsoc")),
    ("gsoc2013", "stock", ("gsoc2013", "stock")),
])
def test_init_flavour_and_host_kernel(tmp_path, capsys, flavour, host_kernel, expected):
    argv = ["simhost", "init", str(tmp_path / "h")]
    argv += ["--flavour", flavour] if flavour else []
    argv += ["--host-kernel", host_kernel] if host_kernel else []
    assert cli.main(argv) == 0
    state = SimHost(tmp_path / "h").load_state()
    assert (state["flavour"], state["host_kernel"]) == expected
    assert f"flavour {expected[0]}" in capsys.readouterr().out


def test_init_rejects_an_unknown_flavour(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["simhost", "init", str(tmp_path / "h"), "--flavour", "dragonfly6"])


def test_gsoc_has_no_dflag(sims):
    sim = sims("gsoc2013")
    res = sim.run("-d", "-m", "64m")
    assert res.returncode == 0          # the child exits 64; the parent returns 0
    assert res.stderr == "kernel: illegal option -- d\n" + GSOC_USAGE.format(sim.kernel)


@pytest.mark.parametrize("option", ["-t", "-z", "-R"])
def test_gsoc_lacks_later_options(sims, option):
    sim = sims("gsoc2013")
    res = sim.run(option, *(["x"] if option == "-R" else []))
    assert f"illegal option -- {option[1]}" in res.stderr and res.returncode == 0


def test_gsoc_without_arguments_prints_usage(sims):
    sim = sims("gsoc2013")
    res = sim.run()
    assert res.stderr == GSOC_USAGE.format(sim.kernel)


def test_master_accepts_dflag(sims):
    vk = sims("master2020").start("-d")   # no -r: boots to the mountroot prompt
    vk.expect("VMM is not available")
    vk.expect("Copyright (c) 2003-2020 The DragonFly Project.")


@pytest.mark.parametrize("flavour,vmm,dflag,line", [
    ("gsoc2013", 1, False, "VKERNEL VMM BOOTSTRAP OK2!"),
    ("master2020", 1, True, "VMM is not available"),
    ("master2020", 1, False, "VMM is available"),
])
def test_vmm_decision(sims, flavour, vmm, dflag, line):
    sim = sims(flavour)
    with sim.host.update_state() as st:
        st["sysctl"]["hw.vmm.enable"] = vmm
    vk = sim.start(*(["-d"] if dflag else []))
    vk.expect(line)


def test_gsoc_boot_lines_are_of_2013(sims):
    sim = sims("gsoc2013")
    vk = sim.start("-r", str(sim.image()))
    text = vk.expect("vkernel# ")
    assert "Copyright (c) 2003-2013 The DragonFly Project." in text
    assert "VMM is" not in text and "2003-2020" not in text


def test_gsoc_parent_does_not_forward_term(sims):
    sim = sims("gsoc2013")
    vk = boot_shell(sim)
    child = vk.child_pid()
    os.kill(vk.proc.pid, signal.SIGTERM)
    assert vk.wait() == -signal.SIGTERM          # the parent died of it
    # a forwarded SIGTERM would be pending before this command: the child handles signals
    # before the console input that follows them
    assert vk.run("true")[1] == 0
    os.kill(child, 0)                            # the child runs on
    assert "Caught SIGTERM" not in vk.text()
    os.kill(child, signal.SIGTERM)               # signal the child (the pidfile's pid)
    vk.expect("Caught SIGTERM from host system. Shutting down...")
    vk.expect("cpu halt, exiting vkernel")


def test_master_parent_forwards_term(sims):
    vk = boot_shell(sims("master-with-port"))
    os.kill(vk.proc.pid, signal.SIGTERM)
    vk.expect("Caught SIGTERM from host system. Shutting down...")
    assert vk.wait() == 0


def test_root_shell_is_csh_and_rejects_sh_syntax(sims):
    sim = sims("master-with-port")
    vk = sim.start("-r", str(sim.image()))
    text = vk.expect("vkernel# ")
    assert "login:" not in text                  # getty al.Pc: no login prompt
    vk.send("x=1\r")
    vk.expect("x=1: Command not found.")
    vk.expect("vkernel# ")
    out, status = vk.run("hostname")
    assert (out.strip(), status) == ("vkernel", 0)


def test_pw_makes_root_shell_sh(sims):
    sim = sims("master-with-port")
    image = sim.image(extra={})
    host_env = sim.host.env()
    mnt = sim.dir / "mnt"
    import subprocess
    for argv in (["vnconfig", "-c", "vn1", str(image)], ["mount", "/dev/vn1s1a", str(mnt)],
                 ["pw", "-V", f"{mnt}/etc", "usermod", "root", "-s", "/bin/sh"],
                 ["umount", str(mnt)], ["vnconfig", "-u", "vn1"]):
        res = subprocess.run(argv, env=host_env, capture_output=True, text=True)
        assert res.returncode == 0, (argv, res.stderr)
    vk = sim.start("-r", str(image))
    text = vk.expect("# ")
    assert "vkernel# " not in text
    out, status = vk.run("x=1; echo $x")
    assert (out.strip(), status) == ("1", 0)
    # the guest's commands stay first on PATH (no host /etc/profile resetting it)
    out, status = vk.run("command -v halt && command -v checkpt")
    found = [p for p in out.split() if p.endswith(("/halt", "/checkpt"))]
    # (only the two answers count: a loaded machine can interleave a stray echo)
    assert status == 0 and len(found) == 2, out
    assert all(p.endswith((".sim/bin/halt", ".sim/bin/checkpt")) for p in found), out


def test_pw_unknown_user(tmp_path):
    from buildbot_vkckpt.simhost import hostpw
    (tmp_path / "master.passwd").write_text("root::0:0::0:0:Charlie &:/root:/bin/csh\n")
    assert hostpw.main(["-V", str(tmp_path), "usermod", "nobody", "-s", "/bin/sh"]) == 67
    assert hostpw.main(["-V", str(tmp_path), "usermod", "root", "-s", "/bin/sh"]) == 0
    assert (tmp_path / "master.passwd").read_text().endswith(":/root:/bin/sh\n")
    assert (tmp_path / "passwd").read_text() == "root:*:0:0:Charlie &:/root:/bin/sh\n" or \
        (tmp_path / "passwd").read_text() == "root::0:0:Charlie &:/root:/bin/sh\n"


@pytest.mark.parametrize("flavour,rules", [("gsoc2013", "vkernel_chkpt"),
                                           ("master-with-port", "vkernel_chkpt"),
                                           ("master2020", "dragonfly")])
def test_guest_process_checkpoints_follow_the_kernels_rules(sims, flavour, rules):
    """The guest's process checkpoints (the suite's fork emulation) restore what the kernel
    under test restores: kqueues and threads with the GSoC work, not on stock."""
    out, status = boot_shell(sims(flavour)).run("echo $CKPT_EMULATE")
    assert (out.strip(), status) == (rules, 0)
