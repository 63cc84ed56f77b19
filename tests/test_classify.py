"""``vkckpt classify``: in-process through cli.main and as the installed command."""
import json
import subprocess
import sys
import types
from pathlib import Path

from buildbot_vkckpt.cli import main

SAMPLES = Path(__file__).parent / "monitor" / "samples"
VKCKPT = Path(sys.executable).parent / "vkckpt"
CONSOLE_KEYS = {"file", "kind", "state", "reached_login", "panic", "in_ddb", "backtrace",
                "boot_failure", "warnings"}


def sample(name):
    return str(SAMPLES / f"console-{name}.txt")


def test_json_one_object_per_file(capsys):
    files = [sample("panic-ddb"), sample("boot-login"), sample("mountroot")]
    assert main(["classify", "--json"] + files) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    results = [json.loads(line) for line in lines]
    assert [r["file"] for r in results] == files
    assert [r["state"] for r in results] == ["ddb", "booted", "boot_failed"]
    assert all(CONSOLE_KEYS <= set(r) and r["kind"] == "console" for r in results)
    assert results[0]["panic"]["message"].startswith("vm_fault: fault on nofault entry")
    assert results[0]["backtrace"][:3] == ["panic", "panic", "vm_fault"]
    assert results[2]["boot_failure"] == "mountroot prompt"


def test_human_line_per_file(capsys):
    assert main(["classify", sample("fatal-trap"), sample("vkernel-pidfile")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert "ddb" in out[0] and "page fault while in kernel mode (trap 12)" in out[0]
    assert out[1].endswith("vkernel_error: Failed to lock pidfile, vkernel already running")


def test_shell_prompt_option(tmp_path, capsys):
    path = tmp_path / "t.txt"
    path.write_bytes(b"vk$ ")
    assert main(["classify", "--json", "--shell-prompt", "vk$ ", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "booted"


def test_unreadable_input_exits_2_without_traceback(tmp_path, capsys):
    missing = tmp_path / "nope.txt"
    assert main(["classify", "--json", sample("boot-login"), str(missing), str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 1            # the readable file still reported
    assert "nope.txt" in captured.err and "Traceback" not in captured.err


def test_build_kind_calls_the_build_monitor_and_adds_file(monkeypatch, tmp_path, capsys):
    fake = types.ModuleType("buildbot_vkckpt.monitor.buildlog")
    seen = []

    def classify_build(data):
        seen.append(data)
        return {"kind": "build", "state": "failed", "stage": "2b", "errors": [],
                "first_error": "x.c:1: error: boom", "warnings": 1}

    fake.classify_build = classify_build
    monkeypatch.setitem(sys.modules, "buildbot_vkckpt.monitor.buildlog", fake)
    log = tmp_path / "build.log"
    log.write_bytes(b"make output")
    assert main(["classify", "--kind", "build", "--json", str(log)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert seen == [b"make output"]
    assert result == {"file": str(log), "kind": "build", "state": "failed", "stage": "2b",
                      "errors": [], "first_error": "x.c:1: error: boom", "warnings": 1}
    assert main(["classify", "--kind", "build", str(log)]) == 0
    assert capsys.readouterr().out.strip() == \
        f"{log}: build failed in 2b: x.c:1: error: boom (1 warning)"


def test_build_kind_with_the_real_build_monitor(capsys):
    logs = sorted(SAMPLES.glob("build-*.log"))
    assert logs
    assert main(["classify", "--kind", "build", "--json", str(logs[0])]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["file"] == str(logs[0]) and result["kind"] == "build"
    assert result["state"] in ("succeeded", "failed", "incomplete")


def test_installed_command(tmp_path):
    proc = subprocess.run([str(VKCKPT), "classify", "--json", sample("double-fault"),
                           sample("halt-sigterm")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    states = [json.loads(line)["state"] for line in proc.stdout.splitlines()]
    assert states == ["ddb", "halted"]
    proc = subprocess.run([str(VKCKPT), "classify", str(tmp_path / "missing")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stdout == ""


def test_installed_command_reads_stdin():
    data = Path(sample("login-double-fault")).read_bytes()
    proc = subprocess.run([str(VKCKPT), "classify", "--json", "-"], input=data,
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["file"] == "-" and result["state"] == "panic" and result["reached_login"]
