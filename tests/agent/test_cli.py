"""The agent's command line (agent/cli.py): every run ends in exactly one result event, and a
command imports only its own module."""
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from buildbot_vkckpt.agent import cli, status

REPO = Path(__file__).resolve().parents[2]


def run(argv):
    out = io.StringIO()
    code = cli.main(argv, stream=out)
    results = [json.loads(ln.split(" ", 1)[1]) for ln in out.getvalue().splitlines()
               if ln.startswith("@@vkckpt ") and '"ev":"result"' in ln]
    assert len(results) == 1, out.getvalue()
    return code, results[0]


def test_a_session_command_without_a_session_is_told_how():
    code, res = run(["exec", "--", "true"])
    assert (code, res["summary"], res["fix"]) == (4, "exec needs --session DIR", "pass --session")


def test_an_agent_bug_still_ends_in_one_result(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(status, "run", lambda args, emitter: 1 / 0)
    code, res = run(["status", "--session", str(tmp_path)])
    assert code == 4 and res["kind"] == "infrastructure"
    assert res["summary"] == "agent error in status: ZeroDivisionError('division by zero')"
    assert "Traceback" in capsys.readouterr().err             # the bug's trace for the report
    monkeypatch.setattr(status, "run", lambda args, emitter: None)
    assert run(["status", "--session", str(tmp_path)])[1]["summary"] == "status gave no result"
    journal = (tmp_path / "events.jsonl").read_text().splitlines()
    assert len(journal) == 2                                   # each run journals its result


def test_bad_arguments_are_argparses_usage_error(capsys):
    for argv in (["no-such-command"], ["boot", "--session", "/s"], []):
        with pytest.raises(SystemExit) as caught:
            cli.main(argv, stream=io.StringIO())
        assert caught.value.code == 2, argv
    assert "usage: vkckpt-agent" in capsys.readouterr().err


def test_a_command_imports_only_its_own_module():
    code = ("import sys; from buildbot_vkckpt.agent import cli; cli.build_parser('status'); "
            "print(' '.join(sorted(m.rsplit('.', 1)[1] for m in sys.modules "
            "if m.startswith('buildbot_vkckpt.agent.'))))")
    out = subprocess.run([sys.executable, "-S", "-c", code], cwd=REPO, check=True,
                         stdout=subprocess.PIPE, text=True, timeout=30).stdout.split()
    assert "status" in out and "client" in out
    assert not {"image", "boot", "supervisor", "probe", "checkpoint"} & set(out), out


def test_help_lists_every_subcommand_and_a_command_builds_only_its_own_parser(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    listed = capsys.readouterr().out
    assert all(name in listed for name in cli.SUBCOMMANDS), listed
    only = cli.build_parser("exec")._subparsers._group_actions[0].choices
    assert list(only) == ["exec"]
    with pytest.raises(SystemExit):     # an unknown subcommand still names every choice
        cli.main(["bogus"])
    assert "'checkpoint'" in capsys.readouterr().err
