"""Tickets coming in (JSON API, web form, .eml files). Every new ticket is stored with its drafting job in one
transaction, so a crash can never keep one without the other.

The API and the form refuse a text over ``max_ticket_chars``; a mail is never refused for its length: it is kept
whole up to ``MAX_MAIL_CHARS`` (the rest is cut, and the text says so), and drafting reads its beginning
(assistant/tickets/drafting.py). Its attachments are kept beside it (assistant/tickets/attachments.py)."""

from __future__ import annotations

import email
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal

from bs4 import BeautifulSoup
from pydantic import BaseModel, Field
from sqlalchemy import select

from assistant import audit, jobs
from assistant.domain import checked_text
from assistant.errors import InputError, TooLargeError
from assistant.jobs import JobKind
from assistant.store.db import Database
from assistant.store.tables import Ticket
from assistant.tickets.attachments import AttachmentStore, Incoming, of_message
from assistant.tickets.state import TicketStatus

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


class Intake:
    def __init__(self, database: Database, max_chars: int, wake_jobs: Any = lambda: None,
                 attachments: AttachmentStore | None = None) -> None:
        self.database = database
        self.max_chars = max_chars
        self.wake_jobs = wake_jobs
        self.attachments = attachments  # None: attachments are not kept (a Kontor without a data directory)

    def create(self, ticket: TicketIn, actor: str, message_id: str | None = None,
               received_at: datetime | None = None, files: list[Incoming] | None = None,
               long_text: bool = False) -> tuple[Ticket, bool]:
        """(ticket, created); a known e-mail Message-ID returns the stored ticket instead of a copy.
        ``long_text``: a mail, kept up to ``MAX_MAIL_CHARS`` instead of refused over ``max_chars``."""
        limit = MAX_MAIL_CHARS if long_text else self.max_chars
        if len(ticket.body) > limit:
            raise TooLargeError(f"Die Nachricht ist zu lang ({len(ticket.body)} Zeichen, höchstens {limit}).")
        body = checked_text(ticket.body, limit, "Die Nachricht")
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

    def import_eml(self, path: Path, actor: str = "import") -> tuple[Ticket, bool]:
        if path.stat().st_size > MAX_EML_BYTES:
            raise TooLargeError(f"{path.name}: Datei größer als {MAX_EML_BYTES // 1024 // 1024} MB")
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        if not isinstance(message, EmailMessage) or not message.get("From"):
            raise InputError(f"{path.name}: keine E-Mail (Absender fehlt)")
        name, address = parseaddr(str(message["From"]))
        customer = f"{name} <{address}>" if name else address
        received = _date(message.get("Date"))
        files = of_message(message)
        body = _plain_body(message, path.name, only_files=bool(files))
        ticket = TicketIn(customer=customer or "unbekannt", subject=str(message.get("Subject") or "(ohne Betreff)"),
                          body=_cut(body), channel="email")
        return self.create(ticket, actor, message_id=str(message.get("Message-ID") or "") or None,
                           received_at=received, files=files, long_text=True)

    def import_dir(self, folder: Path, progress: Any = None) -> ImportReport:
        if not folder.is_dir():
            raise InputError(f"Ordner nicht gefunden: {folder}")
        report = ImportReport()
        for path in sorted(folder.glob("*.eml")):
            try:
                ticket, created = self.import_eml(path)
                (report.imported.append(ticket.id) if created else report.duplicates.append(path.name))
            except (InputError, ValueError, OSError) as exc:
                report.failed[path.name] = str(exc)
            if progress is not None:
                progress(path.name)
        return report


NO_TEXT = "(Die E-Mail enthält keinen Text, nur Anhänge.)"


def _plain_body(message: EmailMessage, name: str, only_files: bool = False) -> str:
    """The mail's text; a mail of attachments alone (``only_files``) is a ticket that says so."""
    part = message.get_body(preferencelist=("plain", "html"))
    content = part.get_content() if part is not None else ""
    if part is not None and part.get_content_type() == "text/html":
        content = BeautifulSoup(content, "html.parser").get_text("\n")
    if not str(content).strip():
        if only_files:
            return NO_TEXT
        raise InputError(f"{name}: kein Text in der E-Mail")
    return str(content)


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

