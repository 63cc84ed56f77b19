"""How simulated programs start (launch.py) and name themselves (procname.py)."""
import subprocess
import sys

from buildbot_vkckpt.simhost import launch
from buildbot_vkckpt.simhost.host import SimHost


def run_sh(line, *args, env=None):
    return subprocess.run(["/bin/sh", "-c", line, "sh", *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=env, timeout=30)


def test_the_line_runs_the_module_without_site_packages_with_the_package_on_the_path(tmp_path):
    python = tmp_path / "python"      # stands in for the interpreter: shows what it was given
    python.write_text('#!/bin/sh\nprintf "%s\\n" "PYTHONPATH=$PYTHONPATH" "$@"\n')
    python.chmod(0o755)
    line = launch.exec_line("hosttools", '"$@"', python)
    out = run_sh(f"cd / && {line}", "a b", "c", env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"PYTHONPATH={launch.PACKAGE_PARENT}", "-S", "-m",
                                       "buildbot_vkckpt.simhost.hosttools", "a b", "c"]


def test_every_host_tool_starts_through_the_launch_line(tmp_path):
    host = SimHost(tmp_path / "h").create()
    for tool in ("make", "sysctl", "ps", "sleep", "pw"):
        text = (host.bin / tool).read_text()
        assert " -S -m buildbot_vkckpt.simhost." in text and f' {tool} "$@"' in text, text
    out = subprocess.run([host.bin / "sysctl", "-n", "hw.ncpu"], stdout=subprocess.PIPE,
                         text=True, env=host.env({"PATH": "/usr/bin:/bin"}), timeout=30)
    assert out.returncode == 0 and out.stdout.strip().isdigit()


NAMED = ("import sys\n"
         "from buildbot_vkckpt.simhost.procname import set_comm\n"
         "set_comm('vnconfig-with-a-long-name')\n"
         "print(open('/proc/self/comm').read().strip(), 'ctypes' in sys.modules)\n")


def test_comm_is_written_through_proc_without_ctypes():
    out = subprocess.run([sys.executable, "-S", "-c", NAMED], stdout=subprocess.PIPE,
                         text=True, env={"PYTHONPATH": launch.PACKAGE_PARENT}, timeout=30)
    assert out.stdout.split() == ["vnconfig-with-a", "False"]


def test_comm_falls_back_to_prctl_when_proc_cannot_be_written():
    hide = ("import builtins\n"
            "real = builtins.open\n"
            "def no_proc(path, *a, **kw):\n"
            "    if str(path).startswith('/proc/self/comm') and 'w' in (a[0] if a else 'r'):\n"
            "        raise FileNotFoundError(path)\n"
            "    return real(path, *a, **kw)\n"
            "builtins.open = no_proc\n")
    out = subprocess.run([sys.executable, "-S", "-c", hide + NAMED], stdout=subprocess.PIPE,
                         text=True, env={"PYTHONPATH": launch.PACKAGE_PARENT}, timeout=30)
    assert out.stdout.split() == ["vnconfig-with-a", "True"]
