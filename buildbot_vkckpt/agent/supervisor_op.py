"""One client request in progress: the base of the supervisor's operations.

Each request the supervisor serves (``boot``, ``exec``, ``ddb``, ``checkpoint``, ``restore``,
``shutdown``) is an :class:`Operation` subclass that owns its time limits and its reaction to
what the console monitor reports. The supervisor's loop knows none of them by name: it hands
every operation the same hooks and asks it one question about time.

The one deadline model: :meth:`Operation.deadlines` returns ``(when, action)`` pairs, the
rule that wins first listed first. The loop sleeps until the earliest ``when`` and then runs
the first pair that is due, ``action(sup, now)``; nothing else decides when an operation times
out.

Hooks, all called with the supervisor (``sup``) so an operation can be driven alone:
``start`` (a classmethod: refuse, or set ``sup.op`` and act), ``deadlines``, ``timeout`` (a
deadline passed or the console stalled), ``on_event`` (a console monitor event the supervisor
does not handle for every operation; True when taken), ``on_shell_ready`` (the guest shell is
ready again), ``on_ddb_prompt`` (``db>`` outside a crash), ``on_exit`` (the vkernel exited).
"""
import signal

from .diagnosis import host_problem
from .events import Outcome

HANG_DDB_WAIT = 3.0      # a hung boot gets this long to enter ddb and print its trace
TAIL = 20


def describe_exit(rc):
    if rc is not None and rc < 0:
        try:
            return f"was killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"was killed by signal {-rc}"
    return f"exited (status {rc})"


class Operation:
    kind = None
    ends_on_failure = True      # a failure or crash without a client of its own ends it
    stop_after_timeout = False  # a timed-out operation of this kind stops the vkernel
    stall_times_out = False     # the monitor's ``stall`` (a repeating line) times it out

    def __init__(self, client, params, now):
        self.client = client
        self.params = params
        self.started = now
        self.stage = None
        self.stage_deadline = None

    @classmethod
    def start(cls, sup, sock, req, now):
        raise NotImplementedError

    # --- time -----------------------------------------------------------------------------
    def deadlines(self, sup):
        """``(when, action)`` pairs, most urgent rule first; ``when`` may be None."""
        return ()

    def explain(self, sup, why):
        return f"{why}; last line: {sup.last_line()}"

    def timeout(self, sup, why):
        sup.finish_timeout(self.explain(sup, why))

    def timeout_rule(self, when, why):
        """A deadline whose action is :meth:`timeout` with ``why``."""
        return when, lambda sup, now: self.timeout(sup, why)

    # --- events ---------------------------------------------------------------------------
    def on_event(self, sup, event):
        if event.kind != "stall" or not self.stall_times_out:
            return False
        self.timeout(sup, f"console stalled ({event.text.strip()})")
        return True

    def on_shell_ready(self, sup):
        pass

    def on_ddb_prompt(self, sup):
        pass

    def on_exit(self, sup, rc):
        """The vkernel exited while this operation ran: a host problem it printed, or the
        kernel's fault."""
        for line in reversed(sup.tail_lines()):
            problem = host_problem(line)
            if problem:
                sup.finish(Outcome.infrastructure(problem[0], problem[1], message=line,
                                                  tail=sup.tail_lines()).to_event())
                return
        sup.finish(Outcome.kernel(
            f"vkernel exited (status {rc}) during {self.kind}; last line: {sup.last_line()}",
            exit_status=rc, tail=sup.tail_lines()).to_event())


class LooksInDdb(Operation):
    """``boot`` and ``restore``: a hang is first looked at in ddb (SIGQUIT, then ``trace``,
    bounded by HANG_DDB_WAIT) before the timeout is reported and the vkernel stopped."""
    stop_after_timeout = True

    def timeout(self, sup, why):
        why = self.explain(sup, why)
        if sup.exit_status is not None:
            sup.finish_timeout(why)
            return
        self.params["why"] = why
        self.params["tail"] = sup.tail_lines()
        self.stage, self.stage_deadline = "hang-ddb", sup.clock() + HANG_DDB_WAIT
        sup.enter_ddb()

    def hang_rules(self):
        return [(self.stage_deadline, lambda sup, now: self.hang_done(sup))]

    def hang_done(self, sup):
        sup.finish_timeout(self.params["why"], backtrace=sup.backtrace()[:60])

    def on_ddb_prompt(self, sup):
        if self.stage != "hang-ddb":
            return
        if not sup.trace_lines:
            sup.ddb_command("trace")
        else:
            self.hang_done(sup)
