"""steps/logs.py: an agent command's log reads as a transcript (protocol lines in agent-events),
the worker's argv header as a shell line, and a crash as (panic line, first frames)."""
from buildbot.process.results import WARNINGS
from buildbot.test.fake.logfile import FakeLogFile
from twisted.trial import unittest

from buildbot_vkckpt.steps.logs import (ReadableHeaders, TranscriptLog, crash_of,
                                        readable_header)

from .agentout import event, result
from .test_cycle import CycleCase


class FakeStep:
    def __init__(self):
        self.events = FakeLogFile("agent-events")

    async def events_log_lines(self, text):
        await self.events.add_stdout_lines(text)


class Seen:
    def __init__(self):
        self.text = ""

    def outReceived(self, text):
        self.text += text


class TestTranscript(unittest.TestCase):
    async def test_protocol_lines_leave_the_transcript_whatever_the_chunks(self):
        step, log, seen = FakeStep(), FakeLogFile("stdio"), Seen()
        transcript = TranscriptLog(step, log, seen, "cycle 1: checkpoint")
        out = ("vkckpt: sending SIGCKPTEXIT\n" + event(ev="phase", name="checkpoint")
               + "Checkpointing...\n" + result("ok", "written") + "last words")
        for i in range(0, len(out), 7):           # cut anywhere, even inside the prefix
            await transcript.add_stdout_lines(out[i:i + 7])
        await transcript.flush()
        self.assertEqual(log.stdout, "vkckpt: sending SIGCKPTEXIT\nCheckpointing...\n"
                                     "last words\n")
        self.assertEqual(step.events.stdout, "-- cycle 1: checkpoint\n"
                         + event(ev="phase", name="checkpoint") + result("ok", "written"))
        # the monitor saw every byte (it ends a last line without newline itself)
        self.assertEqual(seen.text, out)

    async def test_headers_and_stderr_pass_with_argv_readable(self):
        step, log = FakeStep(), FakeLogFile("stdio")
        transcript = TranscriptLog(step, log, Seen(), "stdio: probe")
        await transcript.add_header_lines(
            "python3 -S agent.pyz probe\n argv: [b'python3', b'-S', b'/w/a b.pyz', b'probe']\n")
        await transcript.add_stderr_lines("warning\n")
        self.assertEqual(log.header, "python3 -S agent.pyz probe\n"
                                     " argv: python3 -S '/w/a b.pyz' probe\n")
        self.assertEqual(log.stderr, "warning\n")
        self.assertEqual(step.events.stdout, "")

    def test_an_argv_line_that_is_not_a_list_is_shown_as_it_came(self):
        self.assertEqual(readable_header(" argv: [oops\n"), " argv: [oops\n")

    async def test_a_build_steps_stdio_gets_the_readable_header_and_the_rest_unchanged(self):
        log = FakeLogFile("stdio")
        wrapped = ReadableHeaders(log)
        await wrapped.add_header_lines(" argv: [b'make', b'-j', b'4', b'buildworld']\n")
        await wrapped.add_stdout_lines("--- stage 1\n")
        self.assertEqual((log.header, log.stdout),
                         (" argv: make -j 4 buildworld\n", "--- stage 1\n"))
        self.assertEqual(wrapped.getName(), "stdio")


class TestCrash(unittest.TestCase):
    def test_panic_line_and_first_frames(self):
        frames = [f"f{i}() at f{i}+0x1" for i in range(12)]
        self.assertEqual(crash_of({"crash": {"what": "panic: vm_fault: boom"},
                                   "backtrace": frames}),
                         ("panic: vm_fault: boom", frames[:8]))
        self.assertEqual(crash_of({"panic": "lost vmspace"}), ("panic: lost vmspace", []))
        self.assertIsNone(crash_of({"tail": ["x"]}))
        self.assertIsNone(crash_of("garbage"))


class TestStepLogs(CycleCase):
    async def test_stdio_is_a_transcript_and_events_have_their_log(self):
        self.setup()
        self.agent("stdio", ["probe"], "vkckpt: no    handler: kernel lacks it\n" + result(
            "unsupported", "the vkernel has no checkpoint handler", "unsupported"), rc=3)
        self.expect_commands(*self.cmds)
        self.expect_outcome(result=WARNINGS)
        await self.run_step()
        logs = self.get_nth_step(0).logs
        self.assertEqual(list(logs)[:2], ["cycle-report.html", "backtrace"])
        self.assertEqual(logs["stdio"].stdout, "vkckpt: no    handler: kernel lacks it\n")
        self.assertIn('"ev": "result"', logs["agent-events"].stdout)
        self.assertTrue(logs["agent-events"].stdout.startswith("-- stdio: probe\n"))
