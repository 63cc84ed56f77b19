"""Fixtures for every test."""
import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def agent_state_dir(tmp_path_factory):
    """The agent's host-wide session registry (agent/ledger.py) for this test run only.

    Its default, ``~/.vkckpt``, is shared by every run of this user on the machine, and
    ``cleanup --stale`` stops every live session it finds there: without this, one run's
    cleanup would stop another run's vkernels. Masters, workers and agents started by the
    tests inherit it. Tests that run several simulated hosts at once give each its own."""
    path = tmp_path_factory.mktemp("vkckpt-state")
    old = os.environ.get("VKCKPT_STATE_DIR")
    os.environ["VKCKPT_STATE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("VKCKPT_STATE_DIR", None)
    else:
        os.environ["VKCKPT_STATE_DIR"] = old
