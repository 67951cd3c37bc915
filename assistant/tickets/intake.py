"""Tickets coming in (JSON API, web form, .eml files). Every new ticket is stored with its drafting job in one
transaction, so a crash can never keep one without the other."""

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
from assistant.tickets.state import TicketStatus

MAX_EML_BYTES = 5 * 1024 * 1024


class TicketIn(BaseModel):
    customer: str = Field(min_length=1, max_length=300, description="Name und/oder E-Mail-Adresse")
    subject: str = Field(min_length=1, max_length=500)
    body: str = Field(min_length=1, max_length=1_000_000)
    channel: Literal["api", "email", "web"] = "api"


@dataclass
class ImportReport:
    imported: list[int] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


class Intake:
    def __init__(self, database: Database, max_chars: int, wake_jobs: Any = lambda: None) -> None:
        self.database = database
        self.max_chars = max_chars
        self.wake_jobs = wake_jobs

    def create(self, ticket: TicketIn, actor: str, message_id: str | None = None,
               received_at: datetime | None = None) -> tuple[Ticket, bool]:
        """(ticket, created); a known e-mail Message-ID returns the stored ticket instead of a copy."""
        if len(ticket.body) > self.max_chars:
            raise TooLargeError(f"Die Nachricht ist zu lang ({len(ticket.body)} Zeichen, höchstens {self.max_chars}).")
        body = checked_text(ticket.body, self.max_chars, "Die Nachricht")
        subject = " ".join(checked_text(ticket.subject, 500, "Der Betreff").split())
        customer = " ".join(checked_text(ticket.customer, 300, "Der Kunde").split())
        address = parseaddr(customer)[1]
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
            jobs.enqueue(session, JobKind.DRAFT, row.id)
            audit.record(session, actor, "received", ticket_id=row.id, channel=ticket.channel)
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
        ticket = TicketIn(customer=customer or "unbekannt", subject=str(message.get("Subject") or "(ohne Betreff)"),
                          body=_plain_body(message, path.name), channel="email")
        return self.create(ticket, actor, message_id=str(message.get("Message-ID") or "") or None,
                           received_at=received)

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


def _plain_body(message: EmailMessage, name: str) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        raise InputError(f"{name}: kein Text in der E-Mail")
    content = part.get_content()
    if part.get_content_type() == "text/html":
        content = BeautifulSoup(content, "html.parser").get_text("\n")
    return str(content)


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

