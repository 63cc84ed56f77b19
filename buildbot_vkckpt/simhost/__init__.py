"""Simulator of a DragonFly BSD host, for the tests and the demo.

It follows ``reference/dragonfly.md`` (see docs/simhost.rst for where it deviates). Nothing
outside the tests, the demo and this package knows it is a simulation: the plugin's steps and
agent run the same commands (``make``, ``sysctl``, ``vnconfig``, the vkernel binary, ``checkpt``)
they would run on DragonFly, found on a sandbox ``PATH`` (``ROOT/bin``).
"""
