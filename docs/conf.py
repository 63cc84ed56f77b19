"""Sphinx configuration for buildbot-vkckpt."""
import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "buildbot-vkckpt"
author = "The buildbot-vkckpt developers"
copyright = "2026, " + author
from buildbot_vkckpt import __version__ as release  # noqa: E402

version = release
extensions = []
templates_path = []
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path = []
