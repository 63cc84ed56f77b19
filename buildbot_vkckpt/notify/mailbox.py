"""A local mailbox: an SMTP server on 127.0.0.1 that keeps the mails it is sent, so the demo
and the tests can show what ``notify={"mail": ...}`` really sends. It needs ``aiosmtpd``
(installed with the ``test`` extra, which ``make demo`` and ``make test`` install)."""
import email
import email.policy
import socket
import threading
import time


class MailboxError(RuntimeError):
    pass


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Keep:
    def __init__(self, box):
        self.box = box

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.box.lock:
            self.box.mails.append({
                "to": list(envelope.rcpt_tos), "from": envelope.mail_from,
                "subject": str(message["Subject"] or ""),
                # SMTP carries CRLF; readers compare lines
                "body": message.get_content().replace("\r\n", "\n")})
        return "250 Message accepted for delivery"


class LocalMailbox:
    """``with LocalMailbox() as box:`` point ``notify["mail"]`` at ``relayhost="127.0.0.1"``,
    ``port=box.port``; ``box.mails`` holds dicts with to, from, subject and body."""

    def __init__(self, port=None):
        try:
            from aiosmtpd.controller import Controller
        except ImportError as e:
            raise MailboxError("the local mailbox needs aiosmtpd: pip install aiosmtpd "
                               "(the project's test extra)") from e
        self.port = port or _free_port()
        self.mails = []
        self.lock = threading.Lock()
        self._controller = Controller(_Keep(self), hostname="127.0.0.1", port=self.port)

    def __enter__(self):
        self._controller.start()
        return self

    def __exit__(self, *exc):
        self._controller.stop()

    def wait(self, count, timeout=60):
        """The first ``count`` mails, once they arrived; MailboxError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.mails) >= count:
                    return list(self.mails)
            time.sleep(0.1)
        raise MailboxError(f"{len(self.mails)} mail(s) arrived in {timeout} s, not {count}")
