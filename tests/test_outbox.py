"""Outbox delivery: the maildir folder on disk and a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from pydantic import ValidationError

from assistant import outbox
from assistant.config import Settings
from assistant.outbox import (
    DeliveryError,
    MaildirMailer,
    OutgoingMail,
    SmtpMailer,
    build_message,
    make_mailer,
    normalise_body,
)
from tests.servers import free_port
from tests.smtp_server import Recorder, recording_smtp

MAIL = OutgoingMail(
    message_id="<kontor-42-ab12cd34@kontor.local>",
    sender="service@kochwerk-lindner.de",
    sender_name="Kochwerk Lindner Kundenservice",
    to="kunde@example.org",
    to_name="Erika Müller",
    subject="Re: Lieferung für Ihre Bestellung – 5,90 €",
    body="Sehr geehrte Frau Müller,\n\nvielen Dank für Ihre Nachricht.\n\nMit freundlichen Grüßen\nKochwerk Lindner\n",
)

BODIES = {
    "umlauts": "Grüße aus Köln: Äpfel, Öl, Übermaß, Straße – 5,90 € pro Paket.\n",
    "long_line": "Lange Zeile: " + "Fußgängerübergänge kosten 12 € " * 60 + "Ende.\n",
    "long_ascii": "x" * 2500 + "\nkurz\n",
    "dots_and_from": "From the start\n.\n..\n. Punkt\nFrom: kein Header\n>From zitiert\nEnde\n",
    "blank_lines": "\n\nOben zwei Leerzeilen, unten drei.\n\n\n",
    "trailing_space": "Zeile mit Leerzeichen am Ende   \n\tTab am Anfang\n",
    "control_chars": "Formfeed\x0cund Tab\tbleiben\n",
}


def parse(data: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    return message


# --- building the message ------------------------------------------------------------------------------------


def test_headers_are_complete_and_encoded() -> None:
    raw = build_message(replace(MAIL, in_reply_to="<CAF=x+y@mail.example.org>")).as_bytes()
    message = parse(raw)
    head = raw.split(b"\n\n", 1)[0]
    assert head.isascii() and b"=?utf-8?" in head
    assert message["Subject"] == MAIL.subject
    assert message["From"].addresses[0].display_name == "Kochwerk Lindner Kundenservice"
    assert message["From"].addresses[0].addr_spec == "service@kochwerk-lindner.de"
    assert message["To"].addresses[0].display_name == "Erika Müller"
    assert message["Message-ID"] == MAIL.message_id
    assert message["In-Reply-To"] == message["References"] == "<CAF=x+y@mail.example.org>"
    assert message["MIME-Version"] == "1.0" and message["Date"] is not None
    assert message.get_content_type() == "text/plain" and message.get_content_charset() == "utf-8"
    assert not message.is_multipart()


def test_references_end_with_the_message_answered_and_leave_out_malformed_ids() -> None:
    mail = replace(MAIL, in_reply_to="<c@x>", references=("<a@x>", "a@x", "<b c@x>", "<b@x>", "<a@x>"),
                   reply_to="antwort@kochwerk-lindner.de")
    message = parse(build_message(mail).as_bytes())
    assert message["In-Reply-To"] == "<c@x>" and message["References"] == "<a@x> <b@x> <c@x>"
    assert message["Reply-To"].addresses[0].addr_spec == "antwort@kochwerk-lindner.de"
    with pytest.raises(DeliveryError, match="Ungültige E-Mail-Adresse"):
        build_message(replace(MAIL, reply_to="antwort@x\nBcc: opfer@example.com"))


def test_plain_headers_without_reply() -> None:
    message = parse(build_message(MAIL).as_bytes())
    assert "In-Reply-To" not in message and "References" not in message
    assert message["Content-Transfer-Encoding"] == "8bit"


@pytest.mark.parametrize("name", sorted(BODIES))
def test_body_round_trip_is_exact(name: str) -> None:
    body = BODIES[name]
    message = build_message(replace(MAIL, body=body))
    assert message["Content-Transfer-Encoding"] in {"7bit", "8bit", "quoted-printable"}
    raw = message.as_bytes()
    assert max(len(line) for line in raw.split(b"\n")) <= 998
    assert parse(raw).get_content() == body


def test_long_lines_use_quoted_printable() -> None:
    assert build_message(replace(MAIL, body=BODIES["long_line"]))["Content-Transfer-Encoding"] == "quoted-printable"
    umlaut_heavy = "ä€ß" * 400 + "\n"  # the stdlib alone would choose base64 here
    message = build_message(replace(MAIL, body=umlaut_heavy))
    assert message["Content-Transfer-Encoding"] == "quoted-printable"
    assert parse(message.as_bytes()).get_content() == umlaut_heavy


@pytest.mark.parametrize(
    ("given", "expected"),
    [("a\r\nb\r\n", "a\nb\n"), ("a\rb", "a\nb\n"), ("ohne Zeilenende", "ohne Zeilenende\n"), ("", "\n")],
)
def test_newlines_are_normalised_to_lf(given: str, expected: str) -> None:
    assert normalise_body(given) == expected
    assert normalise_body(expected) == expected
    assert parse(build_message(replace(MAIL, body=given)).as_bytes()).get_content() == expected


@pytest.mark.parametrize("field", ["subject", "sender_name", "to_name"])
def test_line_breaks_in_text_headers_are_sanitised(field: str) -> None:
    evil = "Hallo\r\nBcc: opfer@example.com\r\n\r\nGefälschter Text"
    raw = build_message(replace(MAIL, **{field: evil})).as_bytes()
    message = parse(raw)
    assert "Bcc" not in message and b"\nBcc:" not in raw
    assert message.get_content() == MAIL.body
    shown = message["Subject"] if field == "subject" else str(message["From" if field == "sender_name" else "To"])
    assert "Hallo Bcc: opfer@example.com Gefälschter Text" in shown


@pytest.mark.parametrize(
    "changes",
    [
        {"to": "kunde@example.org\r\nBcc: opfer@example.com"},
        {"to": "Erika <kunde@example.org>"},
        {"sender": "service@kochwerk-lindner.de\n"},
        {"to": "kein-at-zeichen"},
        {"message_id": "<a@b>\r\nBcc: opfer@example.com"},
        {"message_id": "ohne-klammern@kontor.local"},
        {"in_reply_to": "<a@b> <c@d>"},
    ],
)
def test_malformed_addresses_and_ids_are_refused(changes: dict[str, str]) -> None:
    with pytest.raises(DeliveryError, match="Ungültige"):
        build_message(replace(MAIL, **changes))


# --- maildir ---------------------------------------------------------------------------------------------------


def test_maildir_writes_one_file_with_exact_body(tmp_path: Path) -> None:
    mailer = MaildirMailer(tmp_path / "outbox")
    body = "".join(BODIES.values())
    data = mailer.deliver(replace(MAIL, body=body))
    (path,) = mailer.delivered()
    assert data == path.read_bytes()  # what a copy in the Sent folder keeps
    assert path.parent == tmp_path / "outbox" / "new" and not list((tmp_path / "outbox" / "tmp").iterdir())
    assert path.name.startswith("kontor-42-ab12cd34_kontor.local.") and path.suffix == ".eml"
    assert mailer.find(MAIL.message_id) == path
    message = parse(path.read_bytes())
    assert message.get_content() == body and message["Message-ID"] == MAIL.message_id


def test_maildir_second_delivery_does_nothing(tmp_path: Path) -> None:
    mailer = MaildirMailer(tmp_path)
    mailer.deliver(MAIL)
    first = mailer.find(MAIL.message_id)
    assert first is not None
    content = first.read_bytes()
    assert mailer.deliver(MAIL) is None  # nothing delivered now
    mailer.deliver(replace(MAIL, body="anderer Text\n"))
    assert mailer.delivered() == [first] and first.read_bytes() == content
    mailer.deliver(replace(MAIL, message_id="<kontor-43-ab12cd34@kontor.local>"))
    assert len(mailer.delivered()) == 2


def test_maildir_recognises_messages_a_mail_client_has_moved_to_cur(tmp_path: Path) -> None:
    mailer = MaildirMailer(tmp_path)
    mailer.deliver(MAIL)
    path = mailer.find(MAIL.message_id)
    assert path is not None
    seen = tmp_path / "cur" / (path.name + ":2,S")
    path.rename(seen)
    mailer.deliver(MAIL)
    assert mailer.find(MAIL.message_id) == seen and mailer.delivered() == [seen]


def test_similar_message_ids_get_distinct_files(tmp_path: Path) -> None:
    mailer = MaildirMailer(tmp_path)
    for message_id in ("<a/b@x>", "<a_b@x>", "<a:b@x>", "<../../etc@x>"):
        mailer.deliver(replace(MAIL, message_id=message_id))
    paths = mailer.delivered()
    assert len(paths) == 4 and all(p.parent == tmp_path / "new" for p in paths)


def test_maildir_failure_mid_write_leaves_nothing_in_new(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mailer = MaildirMailer(tmp_path)

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outbox.os, "fsync", disk_full)
    with pytest.raises(DeliveryError, match="Postausgang nicht beschreibbar"):
        mailer.deliver(MAIL)
    assert mailer.delivered() == [] and mailer.find(MAIL.message_id) is None
    assert list((tmp_path / "tmp").iterdir()) == []
    monkeypatch.undo()
    mailer.deliver(MAIL)  # a retry succeeds
    assert len(mailer.delivered()) == 1


def test_maildir_invalid_mail_writes_nothing(tmp_path: Path) -> None:
    mailer = MaildirMailer(tmp_path)
    with pytest.raises(DeliveryError):
        mailer.deliver(replace(MAIL, to="kunde@example.org\nBcc: x@y.de"))
    assert mailer.delivered() == []


# --- choosing the backend --------------------------------------------------------------------------------------


def test_make_mailer_defaults_to_maildir_under_home(tmp_path: Path) -> None:
    mailer = make_mailer(Settings(home=tmp_path / "home"))
    assert isinstance(mailer, MaildirMailer) and mailer.folder == (tmp_path / "home" / "outbox").resolve()


def test_make_mailer_smtp_reads_settings() -> None:
    settings = Settings(
        home=Path("/nowhere"), outbox_backend="smtp", smtp_host="relay.local", smtp_port=587, smtp_username="u",
        smtp_password="geheim-123", smtp_security="starttls", smtp_timeout_s=5.0, mail_from="bounce@example.org",
    )
    mailer = make_mailer(settings)
    assert mailer == SmtpMailer("relay.local", 587, "u", "geheim-123", "starttls", 5.0, "bounce@example.org")
    assert "geheim-123" not in repr(mailer)
    with pytest.raises(ValidationError, match="outbox_backend"):
        Settings(outbox_backend="fax")  # the settings refuse an unknown backend before any mailer is made


# --- SMTP against a real server on loopback ---------------------------------------------------------------------


def authenticate(server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"kontor", b"richtig")
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[tuple[Recorder, int]]:
    with recording_smtp(authenticator=authenticate, auth_require_tls=False) as running:
        yield running


@pytest.fixture
def server(smtp_server: tuple[Recorder, int]) -> tuple[Recorder, int]:
    recorder, _ = smtp_server
    recorder.envelopes.clear()
    recorder.reject_rcpt = recorder.reject_data = None
    recorder.offer_8bitmime = True
    return smtp_server


def smtp_mailer(port: int, **changes: Any) -> SmtpMailer:
    return replace(SmtpMailer("127.0.0.1", port, timeout_s=2.0, sender="bounce@kochwerk-lindner.de"), **changes)


def test_smtp_delivers_with_envelope_and_exact_body(server: tuple[Recorder, int]) -> None:
    recorder, port = server
    body = "".join(BODIES.values())
    data = smtp_mailer(port).deliver(replace(MAIL, body=body, in_reply_to="<frage-1@example.org>"))
    (envelope,) = recorder.envelopes
    assert envelope.mail_from == "bounce@kochwerk-lindner.de" and envelope.rcpt_tos == ["kunde@example.org"]
    assert isinstance(envelope.content, bytes) and data == envelope.content
    wire = parse(envelope.content)
    assert wire.get_content() == body.replace("\n", "\r\n")  # canonical form on the wire: CRLF line ends
    stored = parse(envelope.content.replace(b"\r\n", b"\n"))  # as a receiving system stores it locally
    assert stored.get_content() == body
    assert stored["Subject"] == MAIL.subject and stored["Message-ID"] == MAIL.message_id
    assert stored["In-Reply-To"] == "<frage-1@example.org>"
    assert stored["Content-Transfer-Encoding"] == "quoted-printable"  # the long lines


@pytest.mark.parametrize("offer_8bitmime", [True, False])
def test_smtp_8bit_only_when_the_server_offers_8bitmime(server: tuple[Recorder, int], offer_8bitmime: bool) -> None:
    recorder, port = server
    recorder.offer_8bitmime = offer_8bitmime
    data = smtp_mailer(port).deliver(MAIL)
    (envelope,) = recorder.envelopes
    assert data == envelope.content  # the bytes returned are the ones sent, also when re-encoded for the server
    assert ("BODY=8BITMIME" in envelope.mail_options) is offer_8bitmime
    assert isinstance(envelope.content, bytes) and envelope.content.isascii() is not offer_8bitmime
    stored = parse(envelope.content.replace(b"\r\n", b"\n"))
    assert stored["Content-Transfer-Encoding"] == ("8bit" if offer_8bitmime else "quoted-printable")
    assert stored.get_content() == MAIL.body and stored["Subject"] == MAIL.subject


def test_smtp_envelope_sender_defaults_to_from(server: tuple[Recorder, int]) -> None:
    recorder, port = server
    smtp_mailer(port, sender="").deliver(MAIL)
    assert recorder.envelopes[0].mail_from == MAIL.sender


def test_smtp_login(server: tuple[Recorder, int]) -> None:
    recorder, port = server
    smtp_mailer(port, username="kontor", password="richtig").deliver(MAIL)
    assert len(recorder.envelopes) == 1
    with pytest.raises(DeliveryError, match="SMTP-Anmeldung fehlgeschlagen") as caught:
        smtp_mailer(port, username="kontor", password="falsch-geheim").deliver(MAIL)
    assert "falsch-geheim" not in str(caught.value) and len(recorder.envelopes) == 1
    with pytest.raises(DeliveryError, match="Zugangsdaten") as caught:
        smtp_mailer(port, username="kontor", password="Passwört").deliver(MAIL)
    assert "ö" not in str(caught.value) and caught.value.__cause__ is None


def test_smtp_refuses_cleartext_login_to_remote_host() -> None:
    with pytest.raises(DeliveryError, match="ohne Verschlüsselung"):
        SmtpMailer("relay.example.org", 25, username="u", password="p").deliver(MAIL)


@pytest.mark.parametrize(
    ("where", "reply", "expected"),
    [
        ("data", "550 5.7.1 Nachricht als Spam abgelehnt", "hat die Nachricht abgelehnt: 127.0.0.1:\\d+ – 550"),
        ("rcpt", "550 5.1.1 Postfach unbekannt", "Empfänger vom SMTP-Server abgelehnt: .* 550 5.1.1"),
    ],
)
def test_smtp_rejection_raises(server: tuple[Recorder, int], where: str, reply: str, expected: str) -> None:
    recorder, port = server
    setattr(recorder, f"reject_{where}", reply)
    with pytest.raises(DeliveryError, match=expected) as caught:
        smtp_mailer(port).deliver(MAIL)
    assert "\n" not in str(caught.value) and recorder.envelopes == []


def test_smtp_nothing_listening_fails_fast() -> None:
    started = time.monotonic()
    with pytest.raises(DeliveryError, match="SMTP-Server nicht erreichbar") as caught:
        smtp_mailer(free_port(), timeout_s=0.5).deliver(MAIL)
    assert time.monotonic() - started < 2.0 and "127.0.0.1" in str(caught.value)


def test_smtp_silent_server_times_out() -> None:
    with socket.socket() as listener:  # accepts connections but never greets
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        mailer = smtp_mailer(listener.getsockname()[1], timeout_s=0.3)
        started = time.monotonic()
        with pytest.raises(DeliveryError, match="antwortet nicht"):
            mailer.deliver(MAIL)
    assert time.monotonic() - started < 2.0
