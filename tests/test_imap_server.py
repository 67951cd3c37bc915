"""The throwaway Dovecot (tests/imap_server.py) does what the mailbox tests rely on."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP

import pytest
from imapclient import IMAPClient

from tests.imap_server import ImapServer, append, connect, reset

QUARANTINE = "Kontor/Quarantäne"


def german_mail(subject: str = "Rückfrage zur Bestellung 4711") -> tuple[bytes, str]:
    """A UTF-8 mail with a PDF attachment, as CRLF bytes, and its Message-ID."""
    message_id = f"<{uuid.uuid4().hex}@kunde.example>"
    mail = EmailMessage()
    mail["From"] = "Jürgen Müller <juergen.mueller@kunde.example>"
    mail["To"] = "service@kontor.example"
    mail["Subject"] = subject
    mail["Message-ID"] = message_id
    mail.set_content("Grüß Gott,\n\nwo bleibt meine Lieferung? Die Rechnung hängt an.\n\nMit freundlichen Grüßen\n")
    mail.add_attachment(b"%PDF-1.4\n% \xe4\xf6\xfc\n%%EOF\n", maintype="application", subtype="pdf",
                        filename="Rechnung_März.pdf")
    return mail.as_bytes(policy=SMTP), message_id


@pytest.fixture
def mailbox(imap_server: ImapServer) -> Iterator[IMAPClient]:
    """A logged-in client on an empty mailbox (the server lives for the whole session)."""
    reset(imap_server)
    client = connect(imap_server)
    yield client
    client.logout()


def test_append_and_fetch_back_a_german_mail_with_attachment(imap_server: ImapServer, mailbox: IMAPClient) -> None:
    assert {b"IDLE", b"MOVE", b"UIDPLUS"} <= set(mailbox.capabilities())
    raw, message_id = german_mail()

    uid = append(imap_server, raw, flags=[r"\Seen"])

    mailbox.select_folder("INBOX", readonly=True)
    assert mailbox.search(["HEADER", "Message-ID", message_id]) == [uid]
    fetched = mailbox.fetch([uid], ["RFC822", "FLAGS"])[uid]
    assert fetched[b"RFC822"] == raw
    assert b"\\Seen" in fetched[b"FLAGS"]
    assert imap_server.maildir.is_dir()  # the mail really lands in the temporary Maildir


def test_folders_with_umlauts_and_move(imap_server: ImapServer, mailbox: IMAPClient) -> None:
    for folder in (QUARANTINE, "Erledigt", "Sent"):
        mailbox.create_folder(folder)
    assert {QUARANTINE, "Erledigt", "Sent", "INBOX"} <= {name for _, _, name in mailbox.list_folders()}
    raw, message_id = german_mail("Verdächtiger Anhang")
    uid = append(imap_server, raw)

    mailbox.select_folder("INBOX")
    mailbox.move([uid], QUARANTINE)

    assert mailbox.search(["HEADER", "Message-ID", message_id]) == []
    mailbox.select_folder(QUARANTINE, readonly=True)
    [moved] = mailbox.search(["HEADER", "Message-ID", message_id])
    assert mailbox.fetch([moved], ["RFC822"])[moved][b"RFC822"] == raw


def test_idle_returns_when_another_connection_appends(imap_server: ImapServer, mailbox: IMAPClient) -> None:
    mailbox.select_folder("INBOX")
    mailbox.idle()
    try:
        append(imap_server, german_mail("Neue Nachricht während IDLE")[0])
        responses = mailbox.idle_check(timeout=5)
    finally:
        mailbox.idle_done()
    assert any(response[1:2] == (b"EXISTS",) for response in responses), responses
