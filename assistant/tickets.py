"""Tickets coming in (JSON API, web form, .eml files) and the views of them. Every new ticket is stored with
its drafting job in one transaction, so a crash can never keep one without the other."""

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

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from assistant import audit, jobs
from assistant.domain import InputError, NotFoundError, checked_text
from assistant.store.db import Database
from assistant.store.tables import DraftRow, OutboxMessage, Review, Ticket

MAX_EML_BYTES = 5 * 1024 * 1024


class TooLargeError(InputError):
    """The message is longer than a ticket may be (HTTP 413)."""


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
                         received_at=received_at or datetime.now(UTC), status="new")
            session.add(row)
            session.flush()
            jobs.enqueue(session, "draft", row.id)
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
        from bs4 import BeautifulSoup

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


# --- views ---------------------------------------------------------------------------------------------------

def list_tickets(database: Database, status: str | None = None, category: str | None = None,
                 limit: int = 100) -> list[Ticket]:
    query = select(Ticket).order_by(Ticket.received_at.desc(), Ticket.id.desc()).limit(limit)
    if status:
        query = query.where(Ticket.status == status)
    if category:
        query = query.where(Ticket.category == category)
    with database.session() as session:
        return list(session.scalars(query))


def outbox_json(message: OutboxMessage) -> dict[str, Any]:
    return {
        "id": message.id, "draft_id": message.draft_id, "ticket_id": message.ticket_id,
        "message_id": message.message_id, "to": message.to_address, "status": message.status,
        "attempts": message.attempts, "last_error": message.last_error,
        "next_attempt_at": message.next_attempt_at.isoformat() if message.status != "delivered" else None,
        "delivered_at": message.delivered_at.isoformat() if message.delivered_at else None,
    }


def ticket_json(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id, "customer": ticket.customer, "customer_email": ticket.customer_email,
        "channel": ticket.channel, "subject": ticket.subject, "body": ticket.body,
        "received_at": ticket.received_at.isoformat(), "status": ticket.status, "category": ticket.category,
        "category_confidence": ticket.category_confidence, "category_method": ticket.category_method,
    }


def draft_json(draft: DraftRow, ticket: Ticket, ratings: list[int]) -> dict[str, Any]:
    return {
        "id": draft.id, "ticket_id": ticket.id, "text": draft.text, "citations": draft.citations,
        "sections": draft.sections or [], "notes": draft.notes or [],  # paragraphs with their sources; hints
        "flags": draft.flags or [],  # promises to confirm before sending
        "category": ticket.category, "status": ticket.status, "handover": draft.handover, "method": draft.method,
        "prompt_version": draft.prompt_version, "model": draft.model, "model_sha256": draft.model_sha256,
        "sources": draft.source_chunk_ids, "timings_ms": draft.timings_ms, "ratings": ratings,
        "created_at": draft.created_at.isoformat(), "updated_at": draft.updated_at.isoformat(),
    }


def latest_draft(session: Session, ticket_id: int) -> DraftRow | None:
    """The ticket's current draft: the newest one."""
    return session.scalar(select(DraftRow).where(DraftRow.ticket_id == ticket_id).order_by(DraftRow.id.desc()))


def ticket_view(database: Database, ticket_id: int) -> dict[str, Any]:
    """The ticket with its current draft (null until drafted)."""
    with database.session() as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            raise NotFoundError(f"Ticket {ticket_id} gibt es nicht")
        draft = latest_draft(session, ticket.id)
        message = session.scalar(select(OutboxMessage).where(OutboxMessage.ticket_id == ticket.id)
                                 .order_by(OutboxMessage.id.desc()))
        view = ticket_json(ticket) | {"outbox": outbox_json(message) if message else None}
        if draft is None:
            return view | {"draft": None}
        ratings = list(session.scalars(select(Review.rating).where(
            Review.draft_id == draft.id, Review.decision == "rated")))
        return view | {"draft": draft_json(draft, ticket, [r for r in ratings if r is not None])}


def counts_by_status(database: Database) -> dict[str, int]:
    with database.session() as session:
        rows = session.execute(select(Ticket.status, func.count(Ticket.id)).group_by(Ticket.status)).all()
    return {status: int(count) for status, count in rows}


_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
                      r"[A-Za-z]{2,63}$")


def valid_address(address: str | None) -> bool:
    """An address a mail server accepts: local part, a domain with a dot, nothing else (a sender that cannot be
    parsed would otherwise be retried for ever)."""
    return bool(address) and len(address or "") <= 254 and bool(_ADDRESS.match(address or ""))

