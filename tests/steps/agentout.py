"""What a fake agent prints in step tests: ``@@vkckpt`` event lines, and where the step
uploads the agent on the fake worker."""
import json

from buildbot_vkckpt.steps.agent import agent_zipapp

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
