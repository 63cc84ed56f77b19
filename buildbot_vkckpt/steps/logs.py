"""The logs of an agent step, in the order a reader wants them.

Buildbot 4.3 shows a step's logs in the order they were created, so a test step opens its
HTML report and its ``backtrace`` log before any command runs (:class:`ReportLogs`) and fills
them at the end. An agent command's log reads as a transcript: :class:`TranscriptLog` stands
between the transport and the log, passes the human lines on, moves the ``@@vkckpt`` protocol
lines into the step's ``agent-events`` log, and feeds every line to the event monitor. The
``console`` log (the guest's console lines) opens with its first line: no empty log.
"""
import ast
import shlex

from twisted.internet import defer

from buildbot_vkckpt.monitor.agentlog import AgentLogMonitor
from buildbot_vkckpt.protocol import PREFIX

EVENTS_LOG = "agent-events"
BACKTRACE_LOG = "backtrace"
NO_BACKTRACE = "no panic, trap or ddb backtrace in this step\n"
ARGV_HEADER = " argv: ["


def readable_header(text):
    """The worker's ``argv: [b'python3', ...]`` header line as a shell line people can paste."""
    out = []
    for line in text.splitlines(keepends=True):
        if line.startswith(ARGV_HEADER):
            try:
                words = ast.literal_eval(line[len(" argv: "):].strip())
                words = [w.decode("utf-8", "replace") if isinstance(w, bytes) else str(w)
                         for w in words]
                line = f" argv: {shlex.join(words)}\n"
            except (ValueError, SyntaxError, TypeError):
                pass            # not the worker's list: show it as it came
        out.append(line)
    return "".join(out)


class TranscriptLog:
    """What a transport writes an agent command's output into (it looks like a Buildbot log).

    ``observer.outReceived`` sees every byte; ``log`` gets the human lines, headers and
    stderr; the step's ``agent-events`` log gets the protocol lines, opened on the first one.
    Writes are serialised: a transport may start the next before the last one finished."""

    def __init__(self, step, log, observer, title):
        self.step = step
        self.log = log
        self.observer = observer
        self.title = title              # heads this command's events in agent-events
        self._partial = ""
        self._lock = defer.DeferredLock()
        self._titled = False

    def getName(self):
        return self.log.getName()

    def _split(self, text, final=False):
        text = self._partial + text
        if final:
            self._partial = ""
            if text and not text.endswith("\n"):
                text += "\n"
        else:
            cut = text.rfind("\n") + 1
            text, self._partial = text[:cut], text[cut:]
        human, events = [], []
        for line in text.splitlines(keepends=True):
            (events if line.startswith(PREFIX) else human).append(line)
        return "".join(human), "".join(events)

    async def _stdout(self, text, final=False):
        if text:
            self.observer.outReceived(text)
        human, events = self._split(text, final)
        if human:
            await self.log.add_stdout_lines(human)
        if events:
            if not self._titled:
                self._titled = True
                events = f"-- {self.title}\n" + events
            await self.step.events_log_lines(events)

    def add_stdout_lines(self, text):
        return self._lock.run(self._stdout, text)

    addStdout = add_stdout_lines

    def add_stderr_lines(self, text):
        return self._lock.run(self.log.addStderr, text)

    addStderr = add_stderr_lines

    def add_header_lines(self, text):
        return self._lock.run(self.log.addHeader, readable_header(text))

    addHeader = add_header_lines

    def flush(self):
        """The command ended: its last line may lack a newline."""
        return self._lock.run(self._stdout, "", True)


class ReportLogs:
    """A test step's HTML report and ``backtrace`` logs, created before anything else and
    written once at the end (:meth:`close`); a step that never wrote one still gets a page
    saying how it ended."""

    def __init__(self, step, report_name):
        self.step = step
        self.report_name = report_name
        self.report = None
        self.backtrace = None
        self.html = None                # set by the step; written at close
        self.backtrace_text = None

    async def open(self):
        self.report = await self.step.addLog(self.report_name, type="h")
        self.backtrace = await self.step.addLog(BACKTRACE_LOG)

    async def close(self, fallback_html):
        if self.report is not None and not self.report.finished:
            html = self.html or fallback_html
            # Buildbot's HTML logs take addContent; stream logs (and the test fakes) addStdout
            write = getattr(self.report, "addContent", None) or self.report.addStdout
            await write(html if html.endswith("\n") else html + "\n")
            await self.report.finish()
        if self.backtrace is not None and not self.backtrace.finished:
            await self.backtrace.addStdout(self.backtrace_text or NO_BACKTRACE)
            await self.backtrace.finish()


class AgentObserver:
    """Feeds an agent command's monitor (from its TranscriptLog); copies guest console lines
    into the step's ``console`` log."""

    def __init__(self, step):
        self.monitor = AgentLogMonitor()
        self._step = step

    def outReceived(self, data):
        done = self.monitor.tap_live["done"]
        self.monitor.feed(data.encode("utf-8", "surrogateescape"))
        self.take_console()
        if self.monitor.tap_live["done"] != done:
            self._step.suite_progress(self.monitor.tap_live)

    def take_console(self):
        console = self.monitor.take_console()
        if console:
            self._step.console_lines("\n".join(console) + "\n")


class AgentLogsMixin:
    """An AgentStep's commands write through a TranscriptLog (``open_transcript``): the
    transports ask ``getLog`` for the log, and get the transcript. The ``console`` log is
    opened by the first guest console line, so a step that saw none has none."""

    _transcripts = None
    _events_log = None
    _console_log = None
    _console_opening = None

    def console_lines(self, text):
        if self._console_log is not None:
            self._console_log.addStdout(text)
            return
        self._pending_console.append(text)
        if self.console_log and self._console_opening is None:
            self._console_opening = defer.ensureDeferred(self.open_console_log())

    async def open_console_log(self):
        log = await self.addLog("console")
        for text in self._pending_console:      # with the lines that came while it opened
            log.addStdout(text)
        self._pending_console = []
        self._console_log = log

    async def console_closed(self, observer):
        """A command ended: its monitor's last line, and the console log's opening, done."""
        observer.monitor.close()
        observer.take_console()
        if self._console_opening is not None:
            await self._console_opening

    def getLog(self, name):
        transcript = (self._transcripts or {}).get(name)
        return transcript if transcript is not None else super().getLog(name)

    async def open_transcript(self, logname, observer, title):
        try:
            log = super().getLog(logname)
        except KeyError:
            log = await self.addLog(logname)
        if self._transcripts is None:
            self._transcripts = {}
        self._transcripts[logname] = TranscriptLog(self, log, observer, title)
        return self._transcripts[logname]

    async def events_log_lines(self, text):
        """The ``@@vkckpt`` protocol lines of every command, in a log of their own."""
        if self._events_log is None:
            self._events_log = await self.addLog(EVENTS_LOG)
        await self._events_log.add_stdout_lines(text)


MAX_FRAMES = 8


def crash_of(details):
    """``(panic line, first frames)`` from an agent result's details, or None: the line as
    the kernel printed it (``panic: ...``, ``Fatal trap ...``), at most MAX_FRAMES frames."""
    if not isinstance(details, dict):
        return None
    crash = details.get("crash") if isinstance(details.get("crash"), dict) else {}
    panic = crash.get("what") if isinstance(crash.get("what"), str) else None
    if panic is None and isinstance(details.get("panic"), str) and details["panic"]:
        panic = details["panic"]
        panic = panic if panic.startswith("panic") else f"panic: {panic}"
    block = details.get("panic_block") or details.get("block")
    if panic is None and isinstance(block, list) and block:
        panic = str(block[0])
    frames = details.get("backtrace")
    frames = [str(f) for f in frames[:MAX_FRAMES]] if isinstance(frames, list) else []
    if panic is None and not frames:
        return None
    return panic, frames


class ReadableHeaders:
    """A step's ``stdio`` log as its remote command sees it: the worker's argv header reads as
    a shell line; everything else goes to the log unchanged (its observers see it as before)."""

    def __init__(self, log):
        self._log = log

    def __getattr__(self, name):
        return getattr(self._log, name)

    def add_header_lines(self, text):
        return self._log.add_header_lines(readable_header(text))

    def addHeader(self, text):
        return self._log.addHeader(readable_header(text))
