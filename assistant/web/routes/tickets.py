"""Tickets: intake by API, the inbox list, one ticket with its draft and outbox message, its conversation and
internal notes, drafting again, the category correction and the recipient. The work is done by
``assistant.tickets``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from assistant.store.db import Database
from assistant.tickets.intake import TicketIn
from assistant.tickets.queries import get_ticket, history, list_tickets, ticket_json, ticket_view
from assistant.tickets.state import TicketStatus
from assistant.tickets.threads import Entry, add_note, conversation
from assistant.web.deps import AgentUser, Id, ModelReady, Svc
from assistant.web.errors import AUTHENTICATED, errors
from assistant.web.schemas import (
    Assigned,
    AssignIn,
    CategoryIn,
    ConversationEntry,
    DraftQueued,
    EarlierTicket,
    Note,
    NoteIn,
    Presence,
    PresenceIn,
    Present,
    RecipientIn,
    SentReply,
    Ticket,
    TicketView,
)

router = APIRouter(prefix="/api", tags=["tickets"], responses=AUTHENTICATED)


@router.post("/tickets", status_code=201, responses=errors((413, "the request is over `max_request_bytes` or the "
                                                             "text over the hard cap (1,000,000 characters)")))
def create_ticket(body: TicketIn, user: AgentUser, services: Svc) -> Ticket:
    """A ticket typed in (a phone call, a letter) or sent by a program. A text over ``max_ticket_chars`` is kept
    whole, like a long mail, and drafted from its beginning (the draft says so)."""
    ticket, _ = services.intake.create(body, user.name)
    return Ticket.model_validate(ticket_json(ticket))


@router.get("/tickets")
def tickets(
    user: AgentUser, services: Svc, status: TicketStatus | None = None,
    category: str | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[Ticket]:
    return [Ticket.model_validate(ticket_json(t)) for t in list_tickets(services.database, status, category, limit)]


@router.get("/tickets/{ticket_id}", responses=errors(404))
def ticket(ticket_id: Id, user: AgentUser, services: Svc) -> TicketView:
    return TicketView.model_validate(ticket_view(services.database, ticket_id))


def conversation_of(database: Database, ticket_id: int) -> list[Entry]:
    """The ticket's messages, answers and notes, oldest first (the ticket page shows them too)."""
    with database.session() as session:
        return conversation(session, get_ticket(session, ticket_id))


@router.get("/tickets/{ticket_id}/conversation", responses=errors(404))
def ticket_conversation(ticket_id: Id, user: AgentUser, services: Svc) -> list[ConversationEntry]:
    """The customer's first message and follow-ups, the answers delivered and the internal notes, oldest first."""
    return [ConversationEntry(kind=e.kind, author=e.author, at=e.at.isoformat(), body=e.body)
            for e in conversation_of(services.database, ticket_id)]


@router.get("/tickets/{ticket_id}/history", responses=errors(404))
def customer_history(ticket_id: Id, user: AgentUser, services: Svc) -> list[EarlierTicket]:
    """The customer's other tickets (same e-mail address), newest first, each with the answers delivered on it."""
    with services.database.session() as session:
        address = get_ticket(session, ticket_id).customer_email
    return [EarlierTicket(id=t.id, subject=t.subject, received_at=t.received_at.isoformat(), status=t.status,
                          replies=[SentReply(at=r.at.isoformat(), to=r.to, body=r.body) for r in t.replies])
            for t in history(services.database, address, ticket_id)]


@router.post("/tickets/{ticket_id}/notes", status_code=201, responses=errors(404))
def note(ticket_id: Id, body: NoteIn, user: AgentUser, services: Svc) -> Note:
    """An internal note for colleagues: never sent, never read by the model as the customer's text."""
    row = add_note(services.database, ticket_id, user, body.text)
    return Note(id=row.id, ticket_id=row.ticket_id, kind="note", author=row.author, at=row.created_at.isoformat(),
                body=row.body)


@router.post("/tickets/{ticket_id}/assign", responses=errors(404, (422, "unknown user or team")))
def assign(ticket_id: Id, body: AssignIn, user: AgentUser, services: Svc) -> Assigned:
    """Give the ticket to a person ("Übernehmen": to oneself) and/or a team; null takes them off, a field left out
    stays as it is."""
    given = {name: getattr(body, name) for name in body.model_fields_set & {"user", "team"}}
    done = services.assignment.assign(ticket_id, user, **given)
    return Assigned(ticket_id=done.ticket_id, assignee_id=done.assignee_id, assignee=done.assignee, team=done.team)


@router.post("/tickets/{ticket_id}/presence", responses=errors(404))
def presence(ticket_id: Id, body: PresenceIn, user: AgentUser, services: Svc) -> Presence:
    """The ticket page's heartbeat: I have the ticket open (``editing``: with unsaved changes); answers who else
    has it open."""
    others = services.presence.beat(ticket_id, user, body.editing)
    return Presence(others=[Present(name=p.name, editing=p.editing) for p in others])


@router.delete("/tickets/{ticket_id}/presence", status_code=204)
def leave(ticket_id: Id, user: AgentUser, services: Svc) -> None:
    """The ticket page was left."""
    services.presence.leave(ticket_id, user)


@router.post("/tickets/{ticket_id}/draft", status_code=202, responses=errors(404, 409, 503))
def regenerate(ticket_id: Id, user: AgentUser, services: Svc, _: ModelReady) -> DraftQueued:
    services.review.regenerate(ticket_id, user)
    return DraftQueued(queued=True, ticket_id=ticket_id)


@router.put("/tickets/{ticket_id}/category", responses=errors(404))
def recategorise(ticket_id: Id, body: CategoryIn, user: AgentUser, services: Svc) -> Ticket:
    return Ticket.model_validate(ticket_json(services.review.recategorise(ticket_id, body.category, user)))


@router.post("/tickets/{ticket_id}/category/undo",
             responses=errors(404, (409, "no category correction to take back (none, or undone already)")))
def undo_recategorise(ticket_id: Id, user: AgentUser, services: Svc) -> Ticket:
    """Take back the last category correction: the earlier category returns, the example it taught is withdrawn."""
    return Ticket.model_validate(ticket_json(services.review.undo_recategorise(ticket_id, user)))


@router.put("/tickets/{ticket_id}/recipient", responses=errors(404, (409, "already sent")))
def set_recipient(ticket_id: Id, body: RecipientIn, user: AgentUser, services: Svc) -> TicketView:
    services.review.set_recipient(ticket_id, body.email, user)
    return TicketView.model_validate(ticket_view(services.database, ticket_id))
