"""A draft under review: edit, approve (bound to the exact text), reject, rate, send (only approved text, only with
the promises confirmed), take back from the outbox. Each answers the draft as it is now."""

from __future__ import annotations

from fastapi import APIRouter

from assistant.services import Services
from assistant.tickets.queries import get_draft, outbox_json, ticket_view
from assistant.web.deps import AgentUser, Id, Svc
from assistant.web.errors import AUTHENTICATED, errors
from assistant.web.schemas import Draft, OlderDraft, Outbox, RatingIn, RejectIn, SendIn, TextIn

router = APIRouter(prefix="/api/drafts", tags=["drafts"], responses=AUTHENTICATED)


def draft_now(services: Services, draft_id: int) -> Draft | OlderDraft:
    """The draft as its ticket shows it, or that a newer draft replaced it."""
    with services.database.session() as session:
        ticket_id = get_draft(session, draft_id).ticket_id
    draft = ticket_view(services.database, ticket_id)["draft"]
    if draft and draft["id"] == draft_id:
        return Draft.model_validate(draft)
    return OlderDraft(id=draft_id, ticket_id=ticket_id, current=False)


@router.put("/{draft_id}", responses=errors(404, 409))
def edit(draft_id: Id, body: TextIn, user: AgentUser, services: Svc) -> Draft | OlderDraft:
    services.review.edit(draft_id, body.text, user)
    return draft_now(services, draft_id)


@router.post("/{draft_id}/approve",
             responses=errors(404, (409, "sent, empty, or no valid recipient (``field``: ``recipient``)")))
def approve(draft_id: Id, user: AgentUser, services: Svc) -> Draft | OlderDraft:
    services.review.approve(draft_id, user)
    return draft_now(services, draft_id)


@router.post("/{draft_id}/reject", responses=errors(404, 409))
def reject(draft_id: Id, user: AgentUser, services: Svc, body: RejectIn | None = None) -> Draft | OlderDraft:
    services.review.reject(draft_id, user, body.comment if body else "")
    return draft_now(services, draft_id)


@router.post("/{draft_id}/send",
             responses=errors(404, (409, "unconfirmed promises (``flags``, ``unconfirmed``), or not approved")))
def send(draft_id: Id, user: AgentUser, services: Svc, body: SendIn | None = None) -> Outbox:
    return Outbox.model_validate(outbox_json(services.sending.send(draft_id, user, body.confirm if body else [])))


@router.post("/{draft_id}/cancel",
             responses=errors(404, (409, "no message waits in the outbox (delivered, or being sent)")))
def cancel(draft_id: Id, user: AgentUser, services: Svc) -> Draft | OlderDraft:
    """Take the answer back from the outbox before it is delivered; the text must be approved again."""
    services.sending.cancel(draft_id, user)
    return draft_now(services, draft_id)


@router.post("/{draft_id}/rating", responses=errors(404))
def rate(draft_id: Id, body: RatingIn, user: AgentUser, services: Svc) -> Draft | OlderDraft:
    services.review.rate(draft_id, body.score, body.comment, user, body.handover_needed)
    return draft_now(services, draft_id)
