"""buildbot-vkckpt: tell DragonFly BSD developers on every push whether vkernel checkpointing works.

Public API: the build steps (also registered as ``buildbot.steps`` entry points) and, as they
land, the ready-made factory and config helper.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
