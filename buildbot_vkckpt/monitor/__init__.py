"""Pure, incremental parsers: bytes in, events out.

Rules: standard library only, no I/O, bounded memory, never raise on garbage input. The agent
(on the DragonFly host) and the steps (on the master) share these modules, so both sides read
output the same way.
"""
