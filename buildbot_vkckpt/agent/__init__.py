"""The worker-side agent: checks the host, builds the root image, runs the vkernel session.

Standard library only: it runs on the DragonFly host's python3, shipped as a zipapp
(``zipapp.build_zipapp``). See docs/agent.rst for the protocol, subcommands and exit codes.
"""
