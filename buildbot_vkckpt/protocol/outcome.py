"""Outcomes: what kind of non-success a run ended in, and the one result event of every run.

A run's result has a *status* (which decides the agent's exit code) and, unless it succeeded,
a :class:`Kind` that says whose problem it is:

``kernel``          the kernel under test misbehaved: panic, trap, a checkpoint or restore that
                    broke the guest                                        → FAILURE
``test``            a guest test or guest command failed (exited non-zero): a verdict on the
                    test, not on the kernel                                → FAILURE
``timeout``         a phase did not finish in its time                     → FAILURE
``unsupported``     the host or vkernel cannot do what was asked           → SKIPPED (NOT TESTED)
``infrastructure``  host prerequisite missing, disk full, host unreachable → EXCEPTION
``host lost``       the test host stopped answering while the vkernel or a checkpoint ran; the
                    kernel under test may be what crashed it (only the master sees this)
                                                                           → FAILURE

The *cause* is the text that explains it, without the kind; *fix* the one-line remedy; *details*
machine data (panic block, tails, files). ``summary`` on the wire is the agent's human line
(it may repeat the kind: ``kernel: panic: ...``); consumers read ``cause`` and ``kind``.
"""
import enum


class Kind(str, enum.Enum):
    KERNEL = "kernel"
    TEST = "test"
    TIMEOUT = "timeout"
    UNSUPPORTED = "unsupported"
    INFRASTRUCTURE = "infrastructure"
    HOST_LOST = "host lost"

    @classmethod
    def of(cls, value):
        """The Kind named by ``value`` (a Kind or its wire string), else None."""
        if isinstance(value, cls):
            return value
        try:
            return cls(value)
        except ValueError:
            return None

    def __str__(self):
        return self.value


# status -> exit code (DESIGN.md "The agent")
EXIT_CODES = {"ok": 0, "failure": 1, "warnings": 2, "unsupported": 3, "infrastructure": 4}
STATUSES = tuple(EXIT_CODES)
# the kind a non-ok status implies when the producer named none
_DEFAULT_KIND = {"unsupported": Kind.UNSUPPORTED, "infrastructure": Kind.INFRASTRUCTURE}


def exit_code(result):
    """The exit code of a result event (a dict) or :class:`Result`."""
    status = result.status if isinstance(result, Result) else result.get("status")
    return EXIT_CODES.get(status, 4)


def split_cause(summary, kind):
    """The cause in a human ``summary`` that may start with its kind (``kernel: panic: x`` ->
    ``panic: x``). Only the producer calls this, once, when it builds the result."""
    summary = "" if summary is None else str(summary)
    kind = Kind.of(kind)
    if kind is not None and summary.startswith(f"{kind.value}: "):
        return summary[len(kind.value) + 2:]
    return summary


class Result:
    """One run's outcome. ``summary`` is the human line; ``cause`` the same without the kind.

    A plain class, not a dataclass: every agent command imports this module, and dataclasses
    (with inspect, ast, typing) was a fifth of an agent command's start-up."""
    FIELDS = ("status", "cause", "kind", "fix", "details", "summary")

    def __init__(self, status, cause="", kind=None, fix=None, details=None, summary=None):
        self.status = status
        self.cause = cause
        self.kind = Kind.of(kind) if kind is not None else None
        if self.kind is None and status != "ok":
            self.kind = _DEFAULT_KIND.get(status)
        self.fix = fix
        self.details = dict(details or {})
        self.summary = cause if summary is None else summary

    def _values(self):
        return tuple(getattr(self, name) for name in self.FIELDS)

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    __hash__ = None     # mutable, as the dataclass was

    def __repr__(self):
        return "Result(" + ", ".join(f"{n}={v!r}" for n, v in zip(self.FIELDS,
                                                                   self._values())) + ")"

    @classmethod
    def make(cls, status, summary, kind=None, fix=None, details=None):
        """From a producer's human ``summary`` (which may repeat the kind)."""
        kind = Kind.of(kind)
        return cls(status, split_cause(summary, kind), kind, fix, details, summary)

    @classmethod
    def from_event(cls, event):
        """From a ``result`` event (a dict off the wire); None for anything else."""
        if not isinstance(event, dict) or event.get("ev") != "result":
            return None
        status = event.get("status") if event.get("status") in STATUSES else "infrastructure"
        kind = Kind.of(event.get("kind"))
        summary = event.get("summary") if isinstance(event.get("summary"), str) else ""
        cause = event.get("cause")
        if not isinstance(cause, str):
            cause = split_cause(summary, kind)
        fix = event.get("fix") if isinstance(event.get("fix"), str) and event.get("fix") \
            else None
        details = event.get("details") if isinstance(event.get("details"), dict) else {}
        return cls(status, cause, kind, fix, details, summary)

    @property
    def ok(self):
        return self.status == "ok"

    @property
    def exit_code(self):
        return exit_code(self)

    def to_event(self):
        return {"ev": "result", "status": self.status,
                "kind": self.kind.value if self.kind is not None else None,
                "summary": self.summary, "cause": self.cause, "fix": self.fix,
                "details": dict(self.details)}
