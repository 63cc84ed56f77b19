"""The agent's protocol, shared by the agent (on the DragonFly host) and the steps (on the
master): the ``@@vkckpt`` wire format, the outcome :class:`Kind`, the :class:`Result` with
separate cause, fix and details, and the exit codes.

Standard library only; shipped inside the agent zipapp. Outcomes travel as fields: a step
never parses a kind back out of a summary.
"""
from .outcome import (EXIT_CODES, STATUSES, Kind, Result, exit_code, split_cause)
from .wire import (HUMAN_PREFIX, MAX_FIELD, MAX_LINE, PREFIX, PREFIX_BYTES, decode_line,
                   encode_event)

__all__ = ["EXIT_CODES", "STATUSES", "Kind", "Result", "exit_code", "split_cause",
           "HUMAN_PREFIX", "MAX_FIELD", "MAX_LINE", "PREFIX", "PREFIX_BYTES", "decode_line",
           "encode_event"]
