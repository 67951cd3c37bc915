"""Tickets coming in (JSON API, web form, .eml files). Every new ticket is stored with its drafting job in one
transaction, so a crash can never keep one without the other.

A text over ``max_ticket_chars`` — a mail, a text typed in or posted to the API — is kept whole up to
``MAX_MAIL_CHARS`` and drafting reads its beginning (assistant/tickets/drafting.py); above that hard cap it is
refused (a mail is cut before, and the text says so). A mail's attachments are kept beside it
(assistant/tickets/attachments.py)."""

from __future__ import annotations

import email
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import parseaddr, parsedate_to_datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import select

from assistant import audit, jobs
from assistant.domain import checked_text
from assistant.errors import InputError, TooLargeError
from assistant.jobs import JobKind
from assistant.mailbox.body import readable_text
from assistant.mailbox.kinds import kind_of
from assistant.store.db import Database
from assistant.store.tables import Ticket, TicketMessage
from assistant.tickets.attachments import AttachmentStore, Incoming, of_message
from assistant.tickets.bounces import record_bounce
from assistant.tickets.state import TicketStatus
from assistant.tickets.threads import find_ticket, join

MAX_EML_BYTES = 64 * 1024 * 1024  # a mail with attachments over their limits (25 MB) is read, and they are noted
MAX_MAIL_CHARS = 1_000_000  # of an imported mail's text: the rest is cut, with a note at the cut


class TicketIn(BaseModel):
    customer: str = Field(min_length=1, max_length=300, description="Name und/oder E-Mail-Adresse")
    subject: str = Field(min_length=1, max_length=500)
    body: str = Field(min_length=1, max_length=1_000_000)
    channel: Literal["api", "email", "web", "phone", "letter"] = Field(
        "api", description="api, email (imported mail), web (a form), phone or letter (typed in by an agent)")


@dataclass
class ImportReport:
    imported: list[int] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # auto-replies and bounces, with what they were


class Outcome(StrEnum):
    TICKET = "ticket"  # a new ticket
    JOINED = "joined"  # a follow-up on a known ticket
    DUPLICATE = "duplicate"  # a Message-ID already read
    AUTO_REPLY = "auto_reply"  # out-of-office and the like: no ticket
    BOUNCE = "bounce"  # a delivery failure report: marks the answer it returns
    QUARANTINED = "quarantined"  # not readable as a mail (the mailbox moves it aside)


@dataclass(frozen=True)
class Imported:
    outcome: Outcome
    ticket_id: int | None
    detail: str
    message_id: str | None


class Intake:
    def __init__(self, database: Database, wake_jobs: Any = lambda: None,
                 attachments: AttachmentStore | None = None) -> None:
        self.database = database
        self.wake_jobs = wake_jobs
        self.attachments = attachments  # None: attachments are not kept (a Kontor without a data directory)

    def create(self, ticket: TicketIn, actor: str, message_id: str | None = None,
               received_at: datetime | None = None, files: list[Incoming] | None = None) -> tuple[Ticket, bool]:
        """(ticket, created); a known e-mail Message-ID returns the stored ticket instead of a copy."""
        if len(ticket.body) > MAX_MAIL_CHARS:
            raise TooLargeError(f"Die Nachricht ist zu lang ({len(ticket.body)} Zeichen, höchstens {MAX_MAIL_CHARS}).")
        body = checked_text(ticket.body, MAX_MAIL_CHARS, "Die Nachricht")
        subject = " ".join(checked_text(ticket.subject, 500, "Der Betreff").split())
        customer = " ".join(checked_text(ticket.customer, 300, "Der Kunde").split())
        address = parseaddr(customer)[1]
        written: list[Path] = []
        try:
            with self.database.session() as session:
                if message_id:
                    known = session.scalar(select(Ticket).where(Ticket.message_id == message_id))
                    if known is not None:
                        return known, False
                row = Ticket(customer=customer, customer_email=address if valid_address(address) else None,
                             channel=ticket.channel, subject=subject, body=body, message_id=message_id,
                             received_at=received_at or datetime.now(UTC), status=TicketStatus.NEW.value)
                session.add(row)
                session.flush()
                if files and self.attachments is not None:
                    written = self.attachments.save(session, row.id, files)
                jobs.enqueue(session, JobKind.DRAFT, row.id)
                detail: dict[str, Any] = {"attachments": len(files)} if files else {}
                audit.record(session, actor, "received", ticket_id=row.id, channel=ticket.channel, **detail)
        except BaseException:
            for path in written:  # the ticket was not stored: neither are its files
                path.unlink(missing_ok=True)
            raise
        self.wake_jobs()
        return row, True

    def import_eml(self, path: Path, actor: str = "import") -> Imported:
        if path.stat().st_size > MAX_EML_BYTES:
            raise TooLargeError(f"{path.name}: Datei größer als {MAX_EML_BYTES // 1024 // 1024} MB")
        return self.import_message(parse_mail(path.read_bytes()), path.name, actor)

    def import_message(self, message: EmailMessage, name: str, actor: str = "import") -> Imported:
        """A mail from a folder or the mailbox: a new ticket, a follow-up joining its ticket, a duplicate, an
        auto-reply (ignored) or a bounce (marks the answer it returns). ``InputError``: not a mail we can read."""
        if not message.get("From"):
            raise InputError(f"{name}: keine E-Mail (Absender fehlt)")
        kind = kind_of(message)
        message_id = _message_id(message.get("Message-ID"))
        if kind.kind == "bounce":
            ticket_id = record_bounce(self.database, kind.bounced_message_id, kind.bounce_reason)
            return Imported(Outcome.BOUNCE, ticket_id, kind.reason, message_id)
        if kind.kind == "auto_reply":
            return Imported(Outcome.AUTO_REPLY, None, kind.reason, message_id)
        mail_name, address = parseaddr(str(message["From"]))
        customer = f"{mail_name} <{address}>" if mail_name else address
        files = of_message(message)
        body = _cut(_text_of(message, name, only_files=bool(files)))
        subject = str(message.get("Subject") or "(ohne Betreff)")
        received = _date(message.get("Date"))
        if message_id and (known := self._known(message_id)) is not None:
            return Imported(Outcome.DUPLICATE, known, "schon eingelesen", message_id)
        with self.database.session() as session:
            thread = find_ticket(session, _referenced(message), subject, address)
        if thread is not None:
            return self._follow_up(thread, customer or "unbekannt", body, message_id, files, actor)
        ticket, created = self.create(TicketIn(customer=customer or "unbekannt", subject=subject, body=body,
                                               channel="email"), actor, message_id=message_id,
                                      received_at=received, files=files)
        return Imported(Outcome.TICKET if created else Outcome.DUPLICATE, ticket.id, "", message_id)

    def _known(self, message_id: str) -> int | None:
        with self.database.session() as session:
            return session.scalar(select(Ticket.id).where(Ticket.message_id == message_id)) or session.scalar(
                select(TicketMessage.ticket_id).where(TicketMessage.message_id == message_id))

    def _follow_up(self, ticket_id: int, author: str, body: str, message_id: str | None, files: list[Incoming],
                   actor: str) -> Imported:
        """Stored with the time it arrived (a sender's Date header may be wrong; the conversation is in the order
        Kontor received it)."""
        written: list[Path] = []
        try:
            with self.database.session() as session:
                row = join(session, ticket_id, author, checked_text(body, MAX_MAIL_CHARS, "Die Nachricht"),
                           message_id, actor=actor)
                if files and self.attachments is not None:
                    written = self.attachments.save(session, ticket_id, files, message=row.id)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        self.wake_jobs()
        return Imported(Outcome.JOINED, ticket_id, "", message_id)

    def import_dir(self, folder: Path, progress: Any = None) -> ImportReport:
        if not folder.is_dir():
            raise InputError(f"Ordner nicht gefunden: {folder}")
        report = ImportReport()
        for path in sorted(folder.glob("*.eml")):
            try:
                done = self.import_eml(path)
                if done.outcome in (Outcome.TICKET, Outcome.JOINED) and done.ticket_id is not None:
                    report.imported.append(done.ticket_id)
                elif done.outcome == Outcome.DUPLICATE:
                    report.duplicates.append(path.name)
                else:
                    report.skipped[path.name] = done.detail
            except (InputError, ValueError, OSError) as exc:
                report.failed[path.name] = str(exc)
            if progress is not None:
                progress(path.name)
        return report


NO_TEXT = "(Die E-Mail enthält keinen Text, nur Anhänge.)"


def parse_mail(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)  # policy.default makes EmailMessage
    return message


def _text_of(message: EmailMessage, name: str, only_files: bool = False) -> str:
    """The mail's text; a mail of attachments alone (``only_files``) is a ticket that says so."""
    content = readable_text(message)
    if not content.strip():
        if only_files:
            return NO_TEXT
        raise InputError(f"{name}: kein Text in der E-Mail")
    return content


_ID = re.compile(r"<[^<>\s]{1,490}>")


def _message_id(value: object) -> str | None:
    found = _ID.search(str(value or ""))
    return found.group(0) if found else None


def _referenced(message: EmailMessage) -> list[str]:
    """The Message-IDs a mail answers: In-Reply-To first, then References from the newest."""
    replied = _ID.findall(str(message.get("In-Reply-To") or ""))
    return [*replied, *reversed(_ID.findall(str(message.get("References") or "")))]


def _cut(body: str) -> str:
    """A mail's text of at most ``MAX_MAIL_CHARS``; a longer one is cut, and the text says so at the cut."""
    if len(body) <= MAX_MAIL_CHARS:
        return body

    def note(kept: int) -> str:
        return f"\n\n[Die Nachricht hatte {_number(len(body))} Zeichen; gespeichert sind die ersten " \
               f"{_number(kept)}, der Rest wurde gekürzt.]"

    kept = MAX_MAIL_CHARS - len(note(MAX_MAIL_CHARS))  # the note for fewer kept characters is not longer
    return body[:kept] + note(kept)


def _number(n: int) -> str:
    return f"{n:,}".replace(",", ".")  # German thousands


def _date(value: object) -> datetime | None:
    try:
        moment = parsedate_to_datetime(str(value)) if value else None
    except (TypeError, ValueError):
        return None
    if moment is None:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)  # "-0000": UTC, unknown zone


_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
                      r"[A-Za-z]{2,63}$")


def valid_address(address: str | None) -> bool:
    """An address a mail server accepts: local part, a domain with a dot, nothing else (a sender that cannot be
    parsed would otherwise be retried for ever)."""
    return bool(address) and len(address or "") <= 254 and bool(_ADDRESS.match(address or ""))

