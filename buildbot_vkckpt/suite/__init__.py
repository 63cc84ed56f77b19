"""The guest checkpoint suite: C programs, their metadata and the sh runner.

Everything under this directory is installed into the guest image at
``/usr/vkckpt`` (MakeRootImage) and built there with the world's ``cc``
(``sh build.sh``, run by GuestCheckpointSuite); see docs/guest-suite.rst.  This module is the master-side
view of it: which tests exist and what their TAP says.
"""
from __future__ import annotations

from pathlib import Path

from buildbot_vkckpt.agent.image import GUEST_SUITE_DIR

from .meta import MetaError, TestMeta, load_tests, parse_meta
from .tap import TapReport, TapResult, parse_tap, parse_tap_report

GUEST_DIR = "/" + GUEST_SUITE_DIR  # where the agent's image step puts the suite

__all__ = ["GUEST_DIR", "MetaError", "TapReport", "TapResult", "TestMeta", "list_tests",
           "parse_meta", "parse_tap", "parse_tap_report", "suite_dir"]


def suite_dir() -> Path:
    """The suite's source tree (run.sh, build.sh, lib/, tests/)."""
    return Path(__file__).resolve().parent


def list_tests() -> list[TestMeta]:
    """Every test of the suite, in the order run.sh runs them."""
    return load_tests(suite_dir() / "tests")
