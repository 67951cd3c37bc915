"""The states of a ticket and an outbox message, and which ticket moves are allowed — in one table. The database
stores the values as text; these enums are the only place that names them (a job's are in ``assistant.jobs``)."""

from __future__ import annotations

from enum import StrEnum

from assistant.errors import ConflictError
from assistant.store.tables import Ticket, utcnow


class TicketStatus(StrEnum):
    NEW = "new"  # arrived, its drafting job is queued
    DRAFTED = "drafted"  # a draft waits for review
    NEEDS_HUMAN = "needs_human"  # handed over: a person writes (or completes) the answer
    APPROVED = "approved"  # the current text is approved; stays so until the mail is delivered
    REJECTED = "rejected"  # the draft was thrown away; a hand-written text may be approved
    SENT = "sent"  # delivered; reopened only by the customer's follow-up mail or a bounce


class OutboxStatus(StrEnum):
    PENDING = "pending"  # waiting for its (next) delivery attempt; a cancel deletes the row from here only
    SENDING = "sending"  # claimed by a delivery attempt (a lease: due again when it runs out)
    DELIVERED = "delivered"  # the mail server accepted it
    BOUNCED = "bounced"  # accepted, then returned as undeliverable (assistant/tickets/bounces.py)


class Decision(StrEnum):
    """What a person did with a draft (a ``Review`` row)."""

    APPROVED = "approved"  # with the SHA-256 of exactly the approved text
    EDITED = "edited"  # voids an approval of the old text
    REJECTED = "rejected"
    RATED = "rated"  # 1–5 with an optional comment
    RECATEGORISED = "recategorised"
    CANCELLED = "cancelled"  # the message was taken back from the outbox; voids the approval


T = TicketStatus
TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    T.NEW: frozenset({T.DRAFTED, T.NEEDS_HUMAN}),
    T.DRAFTED: frozenset({T.DRAFTED, T.NEEDS_HUMAN, T.APPROVED, T.REJECTED}),
    T.NEEDS_HUMAN: frozenset({T.DRAFTED, T.NEEDS_HUMAN, T.APPROVED, T.REJECTED}),
    T.REJECTED: frozenset({T.REJECTED, T.APPROVED, T.DRAFTED, T.NEEDS_HUMAN}),  # the hand-written text is approved
    T.APPROVED: frozenset({T.DRAFTED, T.NEEDS_HUMAN, T.REJECTED, T.SENT}),  # an edit voids the approval
    T.SENT: frozenset(),  # final for every act of a person (only mail from outside reopens it: ``reopen``)
}
CLOSED = (T.SENT, T.REJECTED)  # nothing more happens to these (retention counts their age)
OPEN_OUTBOX = (OutboxStatus.PENDING, OutboxStatus.SENDING)


def check_transition(current: str, target: TicketStatus) -> None:
    if target not in TRANSITIONS.get(TicketStatus(current), frozenset()):
        raise ConflictError(f"Nicht möglich im Status '{current}' (→ '{target}')")


REOPENING: dict[TicketStatus, frozenset[TicketStatus]] = {
    T.SENT: frozenset({T.NEW, T.DRAFTED}),  # a follow-up (threads.py) / a bounce of the answer (bounces.py)
    T.REJECTED: frozenset({T.NEW}),  # a follow-up
}


def reopen(ticket: Ticket, target: TicketStatus) -> None:
    """A closed ticket opened again by mail from outside — never by a person's act on the desk."""
    if target not in REOPENING.get(TicketStatus(ticket.status), frozenset()):
        raise ConflictError(f"Nicht möglich im Status '{ticket.status}' (→ '{target}')")
    ticket.status, ticket.updated_at = target.value, utcnow()


def move(ticket: Ticket, target: TicketStatus) -> None:
    check_transition(ticket.status, target)
    ticket.status, ticket.updated_at = target.value, utcnow()
