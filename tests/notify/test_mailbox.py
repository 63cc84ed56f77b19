"""notify/mailbox.py: the local SMTP mailbox keeps what a real SMTP client sends it."""
import smtplib
from email.message import EmailMessage

import pytest

from buildbot_vkckpt.notify.mailbox import LocalMailbox, MailboxError


def test_keeps_mails_sent_over_smtp():
    with LocalMailbox() as box:
        msg = EmailMessage()
        msg["Subject"], msg["From"], msg["To"] = "red — culprit", "bb@example.org", "k@x.org"
        msg.set_content("line one\nline two\n")
        with smtplib.SMTP("127.0.0.1", box.port, timeout=30) as client:
            client.send_message(msg)
        mail, = box.wait(1, timeout=30)
        with pytest.raises(MailboxError, match=r"1 mail\(s\) arrived in 0.2 s, not 2"):
            box.wait(2, timeout=0.2)
    assert mail == {"to": ["k@x.org"], "from": "bb@example.org", "subject": "red — culprit",
                    "body": "line one\nline two\n"}
