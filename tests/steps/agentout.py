"""Fakes for step tests: what the agent prints (``@@vkckpt`` event lines), where the step
uploads the agent on the fake worker, and a scripted SSH transport."""
import json

from buildbot_vkckpt.steps.agentfile import agent_zipapp
from buildbot_vkckpt.transports.base import StreamingTransport
from buildbot_vkckpt.transports.ssh import SSHTransport

BUILDDIR = "/w/vk"


def agent_path():
    return f"{BUILDDIR}/vkckpt-agent-{agent_zipapp()[1][:12]}.pyz"


def event(**fields):
    return "@@vkckpt " + json.dumps(fields) + "\n"


def result(outcome, summary, kind=None, fix=None, **details):
    # ``outcome``, not ``status``: a detail may be called status
    return event(ev="result", status=outcome, kind=kind, summary=summary, fix=fix,
                 details=details)


def metric(name, value, unit):
    return event(ev="metric", name=name, value=value, unit=unit)


class FakeSSH(StreamingTransport):
    """What every test double of SSHTransport shares: its paths, and ``run`` to script."""
    builddir = SSHTransport.builddir
    join = SSHTransport.join


class ScriptedTransport(FakeSSH):
    """Stands in for SSHTransport, recording each argv. ``answers``: (stdout, rc) or an
    exception per agent command — in order, or one dict keyed by subcommand."""

    python = "/usr/local/bin/python3.11"
    workdir = "/var/tmp/vkckpt"
    agent = "/var/tmp/vkckpt/vkckpt-agent-0123456789ab.pyz"

    def __init__(self, *answers):
        self.by_subcommand = answers[0] if len(answers) == 1 and isinstance(answers[0], dict) \
            else None
        self.answers = [] if self.by_subcommand is not None else list(answers)
        self.argvs = []

    def describe(self):
        return "ssh root@dfly-test:22"

    async def ensure_file(self, step, local_path, sha256hex, data=None):
        return self.agent

    async def run(self, step, argv, on_stdout, on_stderr, timeout=None, max_time=None):
        self.argvs.append(argv)
        answer = (self.by_subcommand[argv[argv.index(self.agent) + 1]]
                  if self.by_subcommand is not None
                  else self.answers.pop(0))
        if isinstance(answer, Exception):
            raise answer
        on_stdout(answer[0])
        return answer[1]

    def interrupt(self, step):
        pass
