"""Simulator of a DragonFly BSD host, for the tests and the demo.

One host is one real DragonFly flavour (``gsoc2013``, ``master2020``, ``master-with-port``) with a
``gsoc`` or ``stock`` host kernel (flavours.py). It follows the DragonFly sources and
``reference/dragonfly.md``; docs/simhost-fidelity.rst traces every behaviour to its source and
lists the deviations. It imports nothing from the code it tests (agent, monitor, protocol). Nothing
outside the tests, the demo and this package knows it is a simulation: the plugin's steps and
agent run the same commands (``make``, ``sysctl``, ``vnconfig``, the vkernel binary, ``checkpt``)
they would run on DragonFly, found on a sandbox ``PATH`` (``ROOT/bin``).
"""
