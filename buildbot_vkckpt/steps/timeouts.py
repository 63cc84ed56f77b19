"""One name for one timeout: ``timeouts={phase: seconds}``.

The factory and every step take the same dict, keyed by the same phase names; a step reads the
phases it runs and refuses the others at config time. A phase the agent bounds itself (boot,
command, suite_build, suite, checkpoint, restore) reaches it as ``--timeout``, with Buildbot's
silence timeout as a backstop above it (steps/agent.py). The phases the agent does not bound
(world, kernel, image) are Buildbot's own silence timeout of the step's command (ShellMixin's
``timeout``), so giving both ``timeout=`` and that phase is a config error.
"""
from buildbot_vkckpt import validate

# phase -> default seconds (None: computed by the step); the order is the pipeline's
DEFAULTS = {
    "world": 1200,          # BuildWorld: without output
    "kernel": 1200,         # BuildKernel: without output
    "image": 1200,          # MakeRootImage: without output
    "boot": 300,            # BootVkernel: without console progress
    "command": 600,         # RunInVkernel: one guest command
    "suite_build": 600,     # GuestCheckpointSuite: building the suite in the guest
    "suite": None,          # GuestCheckpointSuite: running it (from the tests' own timeouts)
    "checkpoint": 600,      # VkernelCheckpointCycle: one checkpoint
    "restore": 300,         # VkernelCheckpointCycle: one restore
}
PHASES = tuple(DEFAULTS)

# the keyword arguments these replaced, refused with what to write instead
RENAMED = {"boot_timeout": "boot", "guest_timeout": "command", "build_timeout": "suite_build",
           "run_timeout": "suite", "checkpoint_timeout": "checkpoint",
           "restore_timeout": "restore"}


def _is_seconds(value):
    return not isinstance(value, bool) and isinstance(value, int) and value > 0


def refuse_renamed(owner, kwargs):
    """Pops the old timeout keywords from ``kwargs``, each a config error saying what to
    write instead."""
    for old, phase in RENAMED.items():
        if old in kwargs:
            value = kwargs.pop(old)
            shown = "SECONDS" if value is None else repr(value)
            validate.error(owner, f"{old}=", f"is now timeouts={{{phase!r}: {shown}}}")


def checked(owner, timeouts, phases):
    """``timeouts`` at config time: the entries fit for ``owner``, which runs ``phases``;
    every other entry is a config error naming ``owner``, ``timeouts`` and the key. A
    renderable comes back as it is (checked by :func:`rendered` when the build renders it)."""
    if timeouts is None:
        return {}
    if validate.renderable(timeouts):
        return timeouts
    if not isinstance(timeouts, dict):
        validate.error(owner, "timeouts", f"must be a dict of phase -> seconds, not "
                                          f"{timeouts!r}")
        return {}
    good = {}
    for phase, seconds in timeouts.items():
        problem = _key_problem(phase, phases, seconds)
        if problem:
            validate.error(owner, *problem)
        elif validate.positive_int(owner, f"timeouts[{phase!r}]", seconds, allow_none=False):
            good[phase] = seconds
    return good


def _key_problem(phase, phases, seconds):
    """(name, text) of a key a step running ``phases`` cannot take, or None."""
    if phase == "cycle":
        shown = "SECONDS" if validate.renderable(seconds) else repr(seconds)
        return ("timeouts['cycle']", f"is now two phases: timeouts={{'checkpoint': {shown}, "
                                     f"'restore': {shown}}}")
    if phase not in DEFAULTS:
        return ("timeouts", f"has unknown phase {phase!r} (known: {', '.join(PHASES)})")
    if phase not in phases:
        runs = f"its phases: {', '.join(phases)}" if phases else "it has no timed phase"
        return ("timeouts", f"has {phase!r}, a phase this step does not run ({runs})")
    return None


def rendered(timeouts, phases):
    """``(timeouts, problem)`` once the build rendered them: a dict of int seconds, or None and
    what is wrong (the step then ends EXCEPTION ``configuration: ...``)."""
    if timeouts is None:
        return {}, None
    if not isinstance(timeouts, dict):
        return None, f"timeouts must be a dict of phase -> seconds, not {timeouts!r}"
    good = {}
    for phase, seconds in timeouts.items():
        problem = _key_problem(phase, phases, seconds)
        if problem:
            return None, " ".join(problem)
        if isinstance(seconds, str) and seconds.strip().isdigit():
            seconds = int(seconds)          # a property's value
        if not _is_seconds(seconds):
            return None, f"timeouts[{phase!r}] must be a positive integer, not {seconds!r}"
        good[phase] = seconds
    return good, None


class TimeoutsMixin:
    """``timeouts`` for a step: ``timeout_phases`` are the phases it runs; ``silence_phase``
    the one that is Buildbot's own silence timeout of its command (make steps, the image)."""

    timeout_phases = ()
    silence_phase = None

    def setup_timeouts(self, timeouts, kwargs):
        """Checks ``timeouts`` and the old keywords in ``kwargs``; returns ``kwargs`` with
        ShellMixin's ``timeout`` from the silence phase. Call before ``setupShellMixin``."""
        owner = type(self).__name__
        refuse_renamed(owner, kwargs)
        self.timeouts = checked(owner, timeouts, self.timeout_phases)
        phase = self.silence_phase
        self._timeout_given = "timeout" in kwargs
        if phase and isinstance(self.timeouts, dict) and phase in self.timeouts:
            if self._timeout_given:
                validate.error(owner, "timeout=", self._both(phase))
            else:
                kwargs["timeout"] = self.timeouts[phase]
        elif phase and not self._timeout_given:
            kwargs["timeout"] = DEFAULTS[phase]
        return kwargs

    def _both(self, phase):
        return (f"and timeouts[{phase!r}] are the same timeout (seconds without output): "
                f"give timeouts={{{phase!r}: SECONDS}} only")

    def timeouts_problem(self):
        """After rendering: None, with ``timeouts`` as int seconds (and ShellMixin's
        ``timeout`` from the silence phase), or what is wrong with them."""
        timeouts, problem = rendered(self.timeouts, self.timeout_phases)
        if problem:
            return problem
        phase = self.silence_phase
        if phase in timeouts:
            if self._timeout_given:
                return f"timeout= {self._both(phase)}"
            self.timeout = timeouts[phase]
        self.timeouts = timeouts
        return None

    def phase_timeout(self, phase):
        """Seconds for ``phase``: the step's ``timeouts``, else the default (None: the step
        computes it)."""
        value = self.timeouts.get(phase) if isinstance(self.timeouts, dict) else None
        return DEFAULTS[phase] if value is None else value


def for_step(timeouts, step_class):
    """The entries of the factory's ``timeouts`` that ``step_class`` runs."""
    return {phase: seconds for phase, seconds in timeouts.items()
            if phase in step_class.timeout_phases}
