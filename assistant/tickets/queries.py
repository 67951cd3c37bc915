"""Reading tickets, drafts and outbox messages: the one get-or-404 per kind, the lists and the JSON views."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.orm import Session

from assistant.errors import ConflictError, NotFoundError
from assistant.jobs import JobKind, queue_position
from assistant.store.db import Database
from assistant.store.tables import DraftRow, OutboxMessage, Review, Ticket, User
from assistant.tickets.state import OPEN_OUTBOX, Decision, OutboxStatus, TicketStatus


def get_ticket(session: Session, ticket_id: int) -> Ticket:
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFoundError(f"Ticket {ticket_id} gibt es nicht")
    return ticket


def ticket_text(ticket: Ticket) -> str:
    """What categorisation reads of a ticket — when drafting and when a person corrects the category alike."""
    return f"{ticket.subject}\n\n{ticket.body}"


def get_draft(session: Session, draft_id: int) -> DraftRow:
    draft = session.get(DraftRow, draft_id)
    if draft is None:
        raise NotFoundError(f"Entwurf {draft_id} gibt es nicht")
    return draft


def latest_draft(session: Session, ticket_id: int) -> DraftRow | None:
    """The ticket's current draft: the newest one."""
    return session.scalar(select(DraftRow).where(DraftRow.ticket_id == ticket_id).order_by(DraftRow.id.desc()))


def current_draft(session: Session, draft_id: int) -> tuple[DraftRow, Ticket]:
    """The draft and its ticket, if it is the ticket's current draft (acting on an older one is a conflict)."""
    draft = get_draft(session, draft_id)
    latest = latest_draft(session, draft.ticket_id)
    if latest is None or latest.id != draft.id:
        raise ConflictError("Das ist nicht mehr der aktuelle Entwurf dieses Tickets")
    return draft, get_ticket(session, draft.ticket_id)


def refuse_while_sending(session: Session, ticket_id: int) -> None:
    """Once a text is in the outbox, nothing may change what that ticket's answer is."""
    pending = session.scalar(select(OutboxMessage.id).where(
        OutboxMessage.ticket_id == ticket_id, OutboxMessage.status.in_(OPEN_OUTBOX)))
    if pending is not None:
        raise ConflictError("Die Antwort ist schon im Postausgang und wird zugestellt – Änderungen sind gesperrt")


def list_tickets(database: Database, status: str | None = None, category: str | None = None,
                 limit: int = 100) -> list[Ticket]:
    return find_tickets(database, TicketFilter(status=status, category=category), limit=limit).tickets


OPEN = tuple(s for s in TicketStatus if s != TicketStatus.SENT)  # not answered yet
VIEWS = {  # the inbox's views: name → (label, statuses, oldest first)
    "zu-pruefen": ("Zu prüfen", (TicketStatus.DRAFTED, TicketStatus.NEEDS_HUMAN), True),
    "meine": ("Meine", OPEN, True),  # assigned to me, not answered yet
    "mein-team": ("Mein Team", OPEN, True),  # routed to my team (only for people with a team)
    "nicht-zugewiesen": ("Nicht zugewiesen", OPEN, True),  # nobody has taken it yet
    "uebergeben": ("Übergeben", (TicketStatus.NEEDS_HUMAN,), True),
    "gesendet-heute": ("Heute gesendet", (TicketStatus.SENT,), False),
    "alle": ("Alle", (), False),
}


def inbox_views(team: str | None) -> dict[str, tuple[str, tuple[TicketStatus, ...], bool]]:
    """The views a person is offered: "Mein Team" only to someone with a team."""
    return {name: view for name, view in VIEWS.items() if name != "mein-team" or team}


@dataclass(frozen=True)
class TicketFilter:
    """What the inbox asks for: a view, a status, a category, and a search text (a ticket number, "#42", or words
    in the customer, subject or message); ``user_id`` and ``team``: who asks (for "Meine" and "Mein Team")."""

    view: str = "alle"
    status: str | None = None
    category: str | None = None
    text: str = ""
    user_id: int | None = None
    team: str | None = None


@dataclass(frozen=True)
class TicketPage:
    tickets: list[Ticket]
    total: int  # matching tickets on all pages
    assignees: dict[int, str] = field(default_factory=dict)  # user id → name, of the listed tickets' assignees


def find_tickets(database: Database, wanted: TicketFilter, limit: int = 50, offset: int = 0) -> TicketPage:
    _, statuses, oldest_first = VIEWS.get(wanted.view, VIEWS["alle"])
    conditions: list[ColumnElement[bool]] = []
    if statuses:
        conditions.append(Ticket.status.in_(statuses))
    if wanted.view == "gesendet-heute":
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        conditions.append(Ticket.updated_at >= midnight)
    elif wanted.view == "meine":
        conditions.append(Ticket.assignee_id == wanted.user_id if wanted.user_id is not None else false())
    elif wanted.view == "mein-team":
        conditions.append(Ticket.team == wanted.team if wanted.team else false())
    elif wanted.view == "nicht-zugewiesen":
        conditions.append(Ticket.assignee_id.is_(None))
    if wanted.status:
        conditions.append(Ticket.status == wanted.status)
    if wanted.category:
        conditions.append(Ticket.category == wanted.category)
    if text := " ".join(wanted.text.split()):
        conditions.append(_matching(text))
    order = (Ticket.received_at.asc(), Ticket.id.asc()) if oldest_first else (Ticket.received_at.desc(),
                                                                               Ticket.id.desc())
    with database.session() as session:
        total = session.scalar(select(func.count(Ticket.id)).where(*conditions)) or 0
        rows = list(session.scalars(select(Ticket).where(*conditions).order_by(*order).limit(limit).offset(offset)))
        ids = {t.assignee_id for t in rows if t.assignee_id is not None}
        names = dict(session.execute(select(User.id, User.name).where(User.id.in_(ids))).tuples().all()) if ids else {}
        return TicketPage(rows, int(total), names)


def next_to_review(database: Database, after: int) -> int | None:
    """The ticket an agent takes next: the oldest waiting for review, other than the one just handled."""
    found = find_tickets(database, TicketFilter(view="zu-pruefen"), limit=2)
    return next((t.id for t in found.tickets if t.id != after), None)


@dataclass(frozen=True)
class Reply:
    """An answer that reached the customer: when, to which address, the text sent."""

    at: datetime
    to: str
    body: str


@dataclass(frozen=True)
class EarlierTicket:
    """One of the customer's other tickets, with the answers delivered on it (oldest first)."""

    id: int
    subject: str
    received_at: datetime
    status: str
    replies: list[Reply]


def history(database: Database, address: str | None, ticket_id: int, limit: int = 20) -> list[EarlierTicket]:
    """The customer's other tickets (same e-mail address), newest first, each with the answers delivered on it:
    what an agent looks at beside a ticket."""
    if not address:
        return []
    with database.session() as session:
        tickets = list(session.scalars(
            select(Ticket).where(func.lower(Ticket.customer_email) == address.lower(), Ticket.id != ticket_id)
            .order_by(Ticket.received_at.desc(), Ticket.id.desc()).limit(limit)))
        replies: dict[int, list[Reply]] = {}
        for sent in [] if not tickets else session.scalars(select(OutboxMessage).where(
                OutboxMessage.ticket_id.in_([t.id for t in tickets]),
                OutboxMessage.status == OutboxStatus.DELIVERED).order_by(OutboxMessage.id)):
            replies.setdefault(sent.ticket_id, []).append(
                Reply(sent.delivered_at or sent.created_at, sent.to_address, sent.body))
        return [EarlierTicket(t.id, t.subject, t.received_at, t.status, replies.get(t.id, [])) for t in tickets]


def _matching(text: str) -> ColumnElement[bool]:
    """A ticket number ("42", "#42") or every word somewhere in customer, subject or message (case-insensitive;
    ``%`` and ``_`` are literal)."""
    number = text.lstrip("#")
    if number.isdigit() and len(number) < 10:
        return Ticket.id == int(number)
    words = []
    for word in text.split()[:8]:
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        words.append(or_(*(column.ilike(pattern, escape="\\") for column in
                           (Ticket.customer, Ticket.subject, Ticket.body))))
    return and_(*words)


def outbox_json(message: OutboxMessage) -> dict[str, Any]:
    return {
        "id": message.id, "draft_id": message.draft_id, "ticket_id": message.ticket_id,
        "message_id": message.message_id, "to": message.to_address, "status": message.status,
        "attempts": message.attempts, "last_error": message.last_error,
        "next_attempt_at": message.next_attempt_at.isoformat() if message.status != OutboxStatus.DELIVERED else None,
        "delivered_at": message.delivered_at.isoformat() if message.delivered_at else None,
    }


def ticket_json(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id, "customer": ticket.customer, "customer_email": ticket.customer_email,
        "channel": ticket.channel, "subject": ticket.subject, "body": ticket.body,
        "received_at": ticket.received_at.isoformat(), "status": ticket.status, "category": ticket.category,
        "category_confidence": ticket.category_confidence, "category_method": ticket.category_method,
        "assignee_id": ticket.assignee_id, "team": ticket.team,
    }


def written_by(session: Session, draft: DraftRow) -> dict[str, str | None]:
    """Who wrote the text now in the draft: ``machine`` (the model's text, unedited), ``edited`` (the model's
    text changed by a person) or ``hand`` (written by a person after a reject or a failed drafting); ``name``:
    the person who changed it last."""
    acts = session.execute(select(Review.decision, User.name).join(User, User.id == Review.reviewer_id).where(
        Review.draft_id == draft.id, Review.decision.in_((Decision.EDITED, Decision.REJECTED)))
        .order_by(Review.id)).all()
    editors = [name for decision, name in acts if decision == Decision.EDITED]
    if not editors or draft.text == draft.generated_text:
        return {"kind": "machine", "name": None}
    by_hand = draft.method == "failed" or any(decision == Decision.REJECTED for decision, _ in acts)
    return {"kind": "hand" if by_hand else "edited", "name": editors[-1]}


def approved_by(session: Session, draft: DraftRow) -> str | None:
    """The name of the person whose approval is the draft's last."""
    return session.scalar(select(User.name).join(Review, Review.reviewer_id == User.id).where(
        Review.draft_id == draft.id, Review.decision == Decision.APPROVED).order_by(Review.id.desc()).limit(1))


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


def ticket_view(database: Database, ticket_id: int) -> dict[str, Any]:
    """The ticket with its current draft (null until drafted)."""
    with database.session() as session:
        ticket = get_ticket(session, ticket_id)
        draft = latest_draft(session, ticket.id)
        message = session.scalar(select(OutboxMessage).where(OutboxMessage.ticket_id == ticket.id)
                                 .order_by(OutboxMessage.id.desc()))
        view = ticket_json(ticket) | {"outbox": outbox_json(message) if message else None}
        waiting = {"queue_position": queue_position(session, JobKind.DRAFT, ticket.id)}
        if draft is None:
            return view | {"draft": None} | waiting
        ratings = list(session.scalars(select(Review.rating).where(
            Review.draft_id == draft.id, Review.decision == Decision.RATED)))
        authors = {"written_by": written_by(session, draft), "approved_by": approved_by(session, draft)}
        return view | {"draft": draft_json(draft, ticket, [r for r in ratings if r is not None]) | authors} | waiting


def counts_by_status(database: Database) -> dict[str, int]:
    with database.session() as session:
        rows = session.execute(select(Ticket.status, func.count(Ticket.id)).group_by(Ticket.status)).all()
    return {status: int(count) for status, count in rows}
