"""Conversations: a customer's follow-up mail joins its ticket, internal notes, and the conversation in order.

A mail belongs to a known ticket when its In-Reply-To or References name a message of that ticket (the first mail,
a follow-up, or an answer Kontor sent), or when its subject carries the ticket number ("[#42]", as Kontor's
answers do) *and* it comes from the address the ticket was answered to — a number alone, from anybody, would let a
stranger put text into somebody else's ticket.

A follow-up reopens a closed ticket and queues a new draft that answers the latest message. A ticket whose
answer is approved (waiting to go out) is not redrafted under the agent's hands: the new message shows on the
ticket, and "Neu entwerfen" takes it into account. Notes are for colleagues: never sent, never read by the model
as the customer's text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from typing import Literal

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from assistant import audit, jobs
from assistant.auth import Principal
from assistant.domain import checked_text
from assistant.jobs import JobKind
from assistant.store.db import Database
from assistant.store.tables import OutboxMessage, Ticket, TicketMessage, utcnow
from assistant.tickets.queries import get_ticket
from assistant.tickets.state import OutboxStatus, TicketStatus, reopen

TICKET_NUMBER = re.compile(r"\[#(\d{1,9})\]")
MAX_NOTE_CHARS = 10_000
REDRAFT = (TicketStatus.NEW, TicketStatus.DRAFTED, TicketStatus.NEEDS_HUMAN)  # nobody approved a text yet
REOPEN = (TicketStatus.SENT, TicketStatus.REJECTED)


class MessageKind:
    CUSTOMER = "in"
    NOTE = "note"


def find_ticket(session: Session, references: list[str], subject: str, sender: str | None) -> int | None:
    """The ticket a mail continues, or None for a new ticket."""
    ids = [r for r in references if r]
    if ids:
        for query in (select(Ticket.id).where(Ticket.message_id.in_(ids)),
                      select(TicketMessage.ticket_id).where(TicketMessage.message_id.in_(ids)),
                      select(OutboxMessage.ticket_id).where(OutboxMessage.message_id.in_(ids))):
            found = session.scalar(query.limit(1))
            if found is not None:
                return int(found)
    number = TICKET_NUMBER.search(subject or "")
    if number and sender:
        ticket_id = int(number.group(1))
        if _known_address(session, ticket_id, sender):
            return ticket_id
    return None


def _known_address(session: Session, ticket_id: int, sender: str) -> bool:
    address = (parseaddr(sender)[1] or sender).strip().lower()
    if not address:
        return False
    return session.scalar(select(Ticket.id).where(Ticket.id == ticket_id, or_(
        func.lower(Ticket.customer_email) == address,
        Ticket.id.in_(select(OutboxMessage.ticket_id).where(func.lower(OutboxMessage.to_address) == address)),
    ))) is not None


def join(session: Session, ticket_id: int, author: str, body: str, message_id: str | None,
         received_at: datetime | None = None, actor: str = "import") -> TicketMessage:
    """Add a customer's follow-up to the ticket; reopen it and queue a new draft where nobody approved a text."""
    ticket = get_ticket(session, ticket_id)
    row = TicketMessage(ticket_id=ticket.id, kind=MessageKind.CUSTOMER, author=author[:300], body=body,
                        message_id=message_id, created_at=received_at or utcnow())
    session.add(row)
    status = TicketStatus(ticket.status)
    redraft = status in REDRAFT or status in REOPEN
    if status in REOPEN:
        reopen(ticket, TicketStatus.NEW)
    ticket.updated_at = utcnow()
    if redraft and not jobs.waiting_or_running(session, JobKind.DRAFT, ticket.id):
        jobs.enqueue(session, JobKind.DRAFT, ticket.id)
    session.flush()
    audit.record(session, actor, "follow_up_received", ticket_id=ticket.id, message=row.id,
                 reopened=status in REOPEN, redraft=redraft)
    return row


def add_note(database: Database, ticket_id: int, user: Principal, text: str) -> TicketMessage:
    body = checked_text(text, MAX_NOTE_CHARS, "Die Notiz").strip()
    with database.session() as session:
        ticket = get_ticket(session, ticket_id)
        row = TicketMessage(ticket_id=ticket.id, kind=MessageKind.NOTE, author=user.name, body=body)
        session.add(row)
        session.flush()
        audit.record(session, user.name, "note_added", ticket_id=ticket.id, note=row.id)  # no text in the log
        session.expunge(row)
        return row


def latest_from_customer(session: Session, ticket: Ticket) -> tuple[str, datetime, str, bool]:
    """(author, time, text, whether it is a follow-up) of the customer's newest message: what a new draft answers
    and what an answer quotes."""
    newest = _newest_follow_up(session, ticket)
    if newest is not None:
        return newest.author, newest.created_at, newest.body, True
    return ticket.customer, ticket.received_at, ticket.body, False


def _newest_follow_up(session: Session, ticket: Ticket) -> TicketMessage | None:
    return session.scalar(select(TicketMessage).where(
        TicketMessage.ticket_id == ticket.id, TicketMessage.kind == MessageKind.CUSTOMER)
        .order_by(TicketMessage.created_at.desc(), TicketMessage.id.desc()).limit(1))


def latest_customer_text(session: Session, ticket: Ticket) -> tuple[str, bool]:
    """(the customer's newest message, whether it is a follow-up)."""
    _, _, text, follow_up = latest_from_customer(session, ticket)
    return text, follow_up


@dataclass(frozen=True)
class Entry:
    kind: Literal["customer", "answer", "note"]
    author: str
    at: datetime
    body: str
    first: bool = False  # the ticket's first message


def conversation(session: Session, ticket: Ticket) -> list[Entry]:
    """The customer's messages, the answers delivered and the notes, oldest first."""
    entries = [Entry("customer", ticket.customer, ticket.received_at, ticket.body, first=True)]
    for message in session.scalars(select(TicketMessage).where(TicketMessage.ticket_id == ticket.id)):
        kind: Literal["customer", "note"] = "customer" if message.kind == MessageKind.CUSTOMER else "note"
        entries.append(Entry(kind, message.author, message.created_at, message.body))
    for sent in session.scalars(select(OutboxMessage).where(
            OutboxMessage.ticket_id == ticket.id,
            OutboxMessage.status.in_((OutboxStatus.DELIVERED, OutboxStatus.BOUNCED)))):
        entries.append(Entry("answer", sent.to_address, sent.delivered_at or sent.created_at, sent.body))
    return sorted(entries, key=lambda e: (not e.first, e.at))


def before_latest(session: Session, ticket: Ticket) -> list[Entry]:
    """What a new draft reads as context, oldest first: the customer's messages before their newest one and the
    answers that reached them (a bounced one did not). Never the notes, and never the newest message: that one is
    what the draft answers. Empty for a ticket without follow-ups."""
    newest = _newest_follow_up(session, ticket)
    if newest is None:
        return []
    entries = [Entry("customer", ticket.customer, ticket.received_at, ticket.body, first=True)]
    for message in session.scalars(select(TicketMessage).where(
            TicketMessage.ticket_id == ticket.id, TicketMessage.kind == MessageKind.CUSTOMER,
            TicketMessage.id != newest.id)):
        entries.append(Entry("customer", message.author, message.created_at, message.body))
    for sent in session.scalars(select(OutboxMessage).where(
            OutboxMessage.ticket_id == ticket.id, OutboxMessage.status == OutboxStatus.DELIVERED)):
        entries.append(Entry("answer", sent.to_address, sent.delivered_at or sent.created_at, sent.body))
    return sorted(entries, key=lambda e: (not e.first, e.at))
