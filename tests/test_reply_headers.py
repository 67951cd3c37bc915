"""Proper replies (issue 14): an answer threads in the customer's mail program. Delivered through a real SMTP
server (aiosmtpd) on loopback and read back with the ``email`` package: In-Reply-To, References, ``Re: … [#id]``,
Reply-To, the quoted customer message, and the copy for the Sent folder."""

from __future__ import annotations

import email
import hashlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from assistant.outbox import OutgoingMail, SmtpMailer
from assistant.store.tables import DraftRow, OutboxMessage, Ticket, TicketMessage
from assistant.tickets.sending import _quote, _reply_subject
from tests.harness import Kontor
from tests.smtp_server import Recorder, recording_smtp

COMPANY = "kochwerk-lindner.de"
CUSTOMER = "Erika Müller <erika@example.org>"
FIRST, FOLLOW_UP, EARLIER_ANSWER = "<frage-1@example.org>", "<frage-2@example.org>", f"<kontor-alt-1@{COMPANY}>"
OUTLOOK_ID = "<AM0PR07MB4131C8E2A3F0A3E1B2C3D4E5F6A7B8C9D0@AM0PR07MB4131.eurprd07.prod.outlook.com>"
T0 = datetime(2024, 3, 5, 8, 0, tzinfo=UTC)  # 09:00 in Berlin
SUBJECT = "AW: Re: Größe der Pfanne – Rückfrage"
ANSWER = ("Sehr geehrte Frau Müller,\n\ndie Pfanne gibt es in Größe XL für 49,90 €. " + "Grüße aus Köln – Straße, "
          "Maß, Öl. " * 20 + "\n\nMit freundlichen Grüßen\nKochwerk Lindner")
ASKED = "Noch eine Frage:\n\nGilt das auch für Größe XL?"


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[tuple[Recorder, int]]:
    with recording_smtp() as running:
        yield running


@pytest.fixture
def recorder(smtp_server: tuple[Recorder, int]) -> Recorder:
    smtp_server[0].envelopes.clear()
    return smtp_server[0]


def make_kontor(tmp_path: Path, knowledge: Path, port: int, **settings: Any) -> Kontor:
    mailer = SmtpMailer("127.0.0.1", port, timeout_s=2.0)
    return Kontor(tmp_path, knowledge, parts={"mailer": mailer}, **settings)


@pytest.fixture
def kontor(tmp_path: Path, knowledge: Path, smtp_server: tuple[Recorder, int]) -> Kontor:
    return make_kontor(tmp_path, knowledge, smtp_server[1], mail_reply_to=f"antwort@{COMPANY}")


def conversation(kontor: Kontor, follow_ups: int = 1) -> int:
    """A ticket from a mail, answered once before, with the customer's follow-up(s), an internal note and a
    follow-up whose Message-ID is malformed; its new draft is ready. Returns the ticket id."""
    created = kontor.call("POST", "/api/tickets", json={
        "customer": CUSTOMER, "subject": SUBJECT,
        "body": "Guten Tag, was kostet der Versand nach Österreich und wie lange dauert er?"})
    assert created.status_code == 201, created.text
    ticket_id: int = created.json()["id"]
    with kontor.services.database.session() as session:
        session.execute(update(Ticket).where(Ticket.id == ticket_id)
                        .values(channel="email", message_id=FIRST, received_at=T0))
        earlier = DraftRow(ticket_id=ticket_id, text="Frühere Antwort", generated_text="Frühere Antwort",
                           method="manual", prompt_version="answer@v1", model="fake", model_sha256="0" * 64,
                           created_at=T0 + timedelta(minutes=30))
        session.add(earlier)
        session.flush()
        session.add(OutboxMessage(draft_id=earlier.id, ticket_id=ticket_id, message_id=EARLIER_ANSWER,
                                  to_address="erika@example.org", to_name="Erika Müller", subject="Re: x",
                                  body="Frühere Antwort\n", text_sha256="a" * 64, status="delivered", attempts=1,
                                  created_at=T0 + timedelta(minutes=30), delivered_at=T0 + timedelta(hours=1)))
        session.add(TicketMessage(ticket_id=ticket_id, kind="in", author=CUSTOMER, body="ohne gültige Kennung",
                                  message_id="kaputt ohne Klammern", created_at=T0 + timedelta(minutes=90)))
        for n in range(follow_ups):
            last = n == follow_ups - 1
            session.add(TicketMessage(
                ticket_id=ticket_id, kind="in", author=CUSTOMER, body=ASKED if last else f"Nachtrag {n}",
                message_id=FOLLOW_UP if last else f"<nachtrag-{n}@example.org>",
                created_at=T0 + timedelta(hours=2, minutes=n - follow_ups + 1)))
        session.add(TicketMessage(ticket_id=ticket_id, kind="note", author="anna", body="Intern: Lager fragen",
                                  created_at=T0 + timedelta(hours=3)))
    assert kontor.services.jobs.run_until_idle() == 1
    return ticket_id


def send(kontor: Kontor, ticket_id: int, text: str = ANSWER) -> dict[str, Any]:
    draft = kontor.call("GET", f"/api/tickets/{ticket_id}").json()["draft"]
    assert kontor.call("PUT", f"/api/drafts/{draft['id']}", json={"text": text}).status_code == 200
    assert kontor.call("POST", f"/api/drafts/{draft['id']}/approve").status_code == 200
    sent = kontor.call("POST", f"/api/drafts/{draft['id']}/send")
    assert sent.status_code == 200 and sent.json()["status"] == "delivered", sent.text
    return sent.json()  # type: ignore[no-any-return]


def delivered(recorder: Recorder) -> tuple[bytes, EmailMessage]:
    (envelope,) = recorder.envelopes
    assert isinstance(envelope.content, bytes)
    return envelope.content, parse(envelope.content.replace(b"\r\n", b"\n"))  # as the recipient stores it


def test_a_reply_threads_under_the_customers_latest_mail(kontor: Kontor, recorder: Recorder) -> None:
    ticket_id = conversation(kontor)
    sent = send(kontor, ticket_id)
    raw, mail = delivered(recorder)
    assert mail["In-Reply-To"] == FOLLOW_UP  # the follow-up, not the first mail nor the internal note
    assert str(mail["References"]).split() == [FIRST, EARLIER_ANSWER, FOLLOW_UP]  # time order, malformed left out
    assert mail["Subject"] == f"Re: Größe der Pfanne – Rückfrage [#{ticket_id}]"  # one "Re:", not "Re: AW: Re:"
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii() and b"Subject: Re: =?utf-8?" in head  # RFC 2047 on the wire
    assert mail["Message-ID"] == sent["message_id"] and sent["message_id"].endswith(f"@{COMPANY}>")
    assert mail["From"].addresses[0].addr_spec == f"kundenservice@{COMPANY}"
    assert mail["From"].addresses[0].display_name == "Kochwerk Lindner"
    assert mail["Reply-To"].addresses[0].addr_spec == f"antwort@{COMPANY}"
    assert mail["To"].addresses[0].addr_spec == "erika@example.org"
    assert mail["Date"].datetime is not None and abs(mail["Date"].datetime - datetime.now(UTC)) < timedelta(minutes=5)
    assert mail.get_content_type() == "text/plain" and mail.get_content_charset() == "utf-8"
    assert mail["Content-Transfer-Encoding"] == "quoted-printable"  # the long line
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    assert mail.get_content() == ANSWER + "\n" and "schrieb" not in mail.get_content()  # no quote by default
    [row] = [r for r in kontor.outbox_rows() if r.message_id == sent["message_id"]]
    assert (row.in_reply_to, row.references) == (FOLLOW_UP, f"{FIRST} {EARLIER_ANSWER} {FOLLOW_UP}")


def test_a_web_form_ticket_has_no_thread_headers(tmp_path: Path, knowledge: Path, recorder: Recorder,
                                                 smtp_server: tuple[Recorder, int]) -> None:
    plain = make_kontor(tmp_path, knowledge, smtp_server[1])  # no Reply-To set
    ticket = plain.drafted_ticket()
    text = "Grüß Gott,\n\nder Versand kostet 5,90 €.\n"
    send(plain, ticket["id"], text)
    _, mail = delivered(recorder)
    assert "In-Reply-To" not in mail and "References" not in mail and "Reply-To" not in mail
    assert mail["Subject"] == f"Re: Versand nach Österreich [#{ticket['id']}]"
    assert mail["Content-Transfer-Encoding"] == "8bit" and mail.get_content() == text
    assert [r.in_reply_to for r in plain.outbox_rows()] == [None] and plain.outbox_rows()[0].references is None


def test_references_keep_the_first_mail_and_the_latest(kontor: Kontor, recorder: Recorder) -> None:
    send(kontor, conversation(kontor, follow_ups=25))
    _, mail = delivered(recorder)
    references = str(mail["References"]).split()
    assert len(references) == 20 and references[0] == FIRST and references[-1] == FOLLOW_UP
    assert references[1:-1] == [f"<nachtrag-{n}@example.org>" for n in range(6, 24)]
    assert mail["In-Reply-To"] == FOLLOW_UP


def test_long_references_are_folded_between_ids_never_encoded(recorder: Recorder,
                                                               smtp_server: tuple[Recorder, int]) -> None:
    thread = [f"<kontor-{n}-0123456789ab@{COMPANY}>" for n in range(12)] + [OUTLOOK_ID]
    mail = OutgoingMail(
        message_id=f"<kontor-99-0123456789ab@{COMPANY}>", sender=f"kundenservice@{COMPANY}", sender_name="Kochwerk",
        to="erika@example.org", to_name="Erika Müller", subject="Re: Frage", body="Antwort\n",
        in_reply_to=OUTLOOK_ID, references=(*thread[:5], "ohne-klammern@x", "<mit leerzeichen@x>", *thread[5:]),
        reply_to="",
    )
    SmtpMailer("127.0.0.1", smtp_server[1], timeout_s=2.0).deliver(mail)
    raw, parsed = delivered(recorder)
    assert str(parsed["References"]).split() == thread and parsed["In-Reply-To"] == OUTLOOK_ID
    lines = raw.split(b"\r\n\r\n", 1)[0].decode("ascii").split("\r\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("References: "))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(" "))
    assert end - start > 3  # folded onto continuation lines, between ids
    assert all(len(line) <= 78 or OUTLOOK_ID in line for line in lines)
    assert f"In-Reply-To: {OUTLOOK_ID}" in lines  # a msg-id is never RFC 2047-encoded, however long
    assert not any("=?" in line for line in lines[start:end])


def test_the_customers_message_is_quoted_when_set(tmp_path: Path, knowledge: Path, recorder: Recorder,
                                                  smtp_server: tuple[Recorder, int]) -> None:
    quoting = make_kontor(tmp_path, knowledge, smtp_server[1], mail_quote_customer=True)
    ticket_id = conversation(quoting)
    sent = send(quoting, ticket_id)
    _, mail = delivered(recorder)
    quote = "Am 05.03.2024 um 11:00 schrieb Erika Müller <erika@example.org>:\n> Noch eine Frage:\n>\n> Gilt das " \
            "auch für Größe XL?\n"
    assert mail.get_content() == ANSWER + "\n\n" + quote
    [row] = [r for r in quoting.outbox_rows() if r.message_id == sent["message_id"]]
    assert row.body == ANSWER + "\n\n" + quote  # the row's body is what was sent
    digest = hashlib.sha256(ANSWER.encode()).hexdigest()
    assert row.text_sha256 == digest  # the approval is bound to the approved text, not the customer's quote
    assert [e["text_sha256"] for e in quoting.audit(ticket_id) if e["action"] in ("approved", "sent")] == [digest] * 2


def test_the_first_mail_is_quoted_without_follow_ups(tmp_path: Path, knowledge: Path, recorder: Recorder,
                                                     smtp_server: tuple[Recorder, int]) -> None:
    quoting = make_kontor(tmp_path, knowledge, smtp_server[1], mail_quote_customer=True)
    ticket = quoting.drafted_ticket({"customer": CUSTOMER, "subject": "Re: Frage [#1]",
                                     "body": "Guten Tag, was kostet der Versand nach Österreich?"})
    with quoting.services.database.session() as session:
        session.execute(update(Ticket).where(Ticket.id == ticket["id"]).values(received_at=T0))
    assert ticket["id"] == 1  # the number the subject already carries
    send(quoting, ticket["id"], "Er kostet 5,90 €.\n")
    _, mail = delivered(recorder)
    assert mail["Subject"] == "Re: Frage [#1]"
    assert mail.get_content() == ("Er kostet 5,90 €.\n\nAm 05.03.2024 um 09:00 schrieb Erika Müller "
                                  "<erika@example.org>:\n> Guten Tag, was kostet der Versand nach Österreich?\n")


def test_a_long_customer_message_is_quoted_in_part() -> None:
    quoted = _quote("Erika", T0, "\n".join(f"Zeile {n}" for n in range(150)) + "\n\n")
    lines = quoted.strip("\n").split("\n")
    assert lines[0] == "Am 05.03.2024 um 09:00 schrieb Erika:" and lines[1] == "> Zeile 0"
    assert lines[100] == "> Zeile 99" and lines[101:] == ["> […]"]


@pytest.mark.parametrize(("subject", "expected"), [
    ("Frage zur Lieferung", "Re: Frage zur Lieferung [#7]"),
    ("AW: Re: Frage", "Re: Frage [#7]"),
    ("WG: Aw: RE[2]: Fwd:  Rechnung", "Re: Rechnung [#7]"),
    ("Re: Frage [#7]", "Re: Frage [#7]"),
    ("Rückfrage [#7] zur Lieferung", "Re: Rückfrage [#7] zur Lieferung"),
    ("Frage [#17]", "Re: Frage [#17] [#7]"),
    ("Reklamation", "Re: Reklamation [#7]"),
    ("", "Re: [#7]"),
])
def test_the_subject_has_one_re_and_the_ticket_number(subject: str, expected: str) -> None:
    assert _reply_subject(subject, 7) == expected


def test_the_sent_folder_gets_exactly_the_delivered_bytes(kontor: Kontor, recorder: Recorder) -> None:
    archived: list[bytes] = []
    kontor.services.sending.archive = archived.append
    ticket_id = conversation(kontor)
    send(kontor, ticket_id)
    raw, _ = delivered(recorder)
    assert archived == [raw]
    assert "archive_failed" not in [e["action"] for e in kontor.audit(ticket_id)]


def test_a_failing_copy_does_not_fail_the_delivery(kontor: Kontor, recorder: Recorder,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    def broken(data: bytes) -> None:
        raise OSError("IMAP-Server nicht erreichbar")

    kontor.services.sending.archive = broken
    ticket_id = conversation(kontor)
    with caplog.at_level(logging.WARNING, logger="kontor.sending"):
        sent = send(kontor, ticket_id)
    assert len(recorder.envelopes) == 1 and "Sent folder failed" in caplog.text
    assert kontor.call("GET", f"/api/tickets/{ticket_id}").json()["status"] == "sent"
    [entry] = [e for e in kontor.audit(ticket_id) if e["action"] == "archive_failed"]
    assert entry["detail"] == {"message_id": sent["message_id"], "error": "OSError"}  # no customer text
    assert [e["action"] for e in kontor.audit(ticket_id)][-2:] == ["sent", "archive_failed"]
