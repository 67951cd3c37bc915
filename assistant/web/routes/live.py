"""The draft as the model writes it, for the ticket page: a server-sent event stream that ends with ``done`` when
the draft is stored – or at once when nothing is being written for the ticket (its draft is long finished, or
no drafting job waits or runs for it), so a page opened late does not wait in vain."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.sse import EventSourceResponse, ServerSentEvent

from assistant.jobs import JobKind, waiting_or_running
from assistant.services import Services
from assistant.tickets.queries import ticket_view
from assistant.web.deps import AgentUser, Id, Svc
from assistant.web.errors import AUTHENTICATED, errors

router = APIRouter(prefix="/api", tags=["tickets"], responses=AUTHENTICATED)
POLL_S = 0.2
LONGEST_S = 600.0


def _known_ticket(ticket_id: Id, services: Svc) -> int:
    ticket_view(services.database, ticket_id)  # 404 for an unknown ticket before the stream starts
    return ticket_id


@router.get("/tickets/{ticket_id}/live", response_class=EventSourceResponse, responses=errors(404))
async def live(
    user: AgentUser, ticket_id: Annotated[int, Depends(_known_ticket)], services: Svc,  # the login is checked first
) -> AsyncIterator[ServerSentEvent]:
    """The draft as the model writes it (server-sent events, ``data`` a JSON string each); ``event: done`` when
    it is stored, or when no draft is being written for the ticket."""
    sent, waited = 0, 0.0
    while waited < LONGEST_S:
        pieces, done = services.live.read(ticket_id, sent)
        for piece in pieces:
            yield ServerSentEvent(data=piece)
        sent += len(pieces)
        if not done and not pieces and not _being_drafted(services, ticket_id):
            # no job left: it finished its live entry before it ended (and the entry may be forgotten by now)
            rest, _ = services.live.read(ticket_id, sent)
            for piece in rest:
                yield ServerSentEvent(data=piece)
            done = True
        if done:
            yield ServerSentEvent(event="done", data={})
            return
        await asyncio.sleep(POLL_S)
        waited += POLL_S


def _being_drafted(services: Services, ticket_id: int) -> bool:
    with services.database.session() as session:
        return waiting_or_running(session, JobKind.DRAFT, ticket_id)
