"""The JSON API for tickets, drafts, review and audit. Thin routes: checks are dependencies, work is done by
the workflow modules, errors are mapped to status codes (and documented) in ``errors.py``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as FastApiPath
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, Field

from assistant import audit
from assistant.auth import Principal
from assistant.errors import NotFoundError
from assistant.evaluate.from_ticket import case_from_ticket
from assistant.models import ModelError
from assistant.services import Services
from assistant.store.tables import DraftRow
from assistant.tickets.intake import TicketIn
from assistant.tickets.queries import list_tickets, outbox_json, ticket_json, ticket_view
from assistant.tickets.state import TicketStatus
from assistant.web.errors import AUTHENTICATED, errors
from assistant.web.security import cookie_name, require, same_origin

router = APIRouter(prefix="/api", responses=AUTHENTICATED)
Agent = Annotated[Principal, Depends(require("agent"))]
Expert = Annotated[Principal, Depends(require("expert"))]
Admin = Annotated[Principal, Depends(require("admin"))]


def _services(request: Request) -> Services:
    return request.app.state.services


Svc = Annotated[Services, Depends(_services)]


class Login(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class TextIn(BaseModel):
    text: str = Field(min_length=1, max_length=100_000)


class CategoryIn(BaseModel):
    category: str = Field(min_length=1, max_length=100)


MAX_ID = 2**31 - 1  # larger ids would overflow the database's integer (the review got 500s for ids ≥ 2^63)
Id = Annotated[int, FastApiPath(ge=1, le=MAX_ID)]


class RejectIn(BaseModel):
    comment: str = Field("", max_length=2000)


class RatingIn(BaseModel):
    score: int = Field(ge=1, le=5)
    comment: str = Field("", max_length=2000)


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


@router.post("/session", tags=["session"], responses=errors(429),
             dependencies=[Depends(same_origin)])  # no logging in from other sites
def login(body: Login, request: Request, response: Response, services: Svc) -> dict[str, str]:
    user = services.users.authenticate(body.name, body.password, client_address(request))
    secret, csrf = services.users.start_session(user)
    # Strict: no other site's link or form carries it; Secure (and the __Host- name) over HTTPS
    response.set_cookie(cookie_name(request), secret, httponly=True, samesite="strict", path="/",
                        secure=services.settings.secure_cookies, max_age=12 * 3600)
    return {"name": user.name, "role": user.role, "csrf_token": csrf}


@router.delete("/session", tags=["session"], status_code=204)
def logout(request: Request, response: Response, services: Svc, user: Agent) -> None:
    if cookie := request.cookies.get(cookie_name(request)):
        services.users.end_session(cookie)
    response.delete_cookie(cookie_name(request), path="/", secure=services.settings.secure_cookies,
                           httponly=True, samesite="strict")


@router.get("/me", tags=["session"])
def me(user: Agent) -> dict[str, str]:
    return {"name": user.name, "role": user.role}


@router.post("/tickets", status_code=201, tags=["tickets"])
def create_ticket(body: TicketIn, user: Agent, services: Svc) -> dict[str, Any]:
    ticket, _ = services.intake.create(body, user.name)
    return ticket_json(ticket)


@router.get("/tickets", tags=["tickets"])
def tickets(
    user: Agent, services: Svc, status: TicketStatus | None = None,
    category: str | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    return [ticket_json(t) for t in list_tickets(services.database, status, category, limit)]


@router.get("/tickets/{ticket_id}", tags=["tickets"], responses=errors(404))
def ticket(ticket_id: Id, user: Agent, services: Svc) -> dict[str, Any]:
    return ticket_view(services.database, ticket_id)


def _known_ticket(ticket_id: Id, services: Svc) -> int:
    ticket_view(services.database, ticket_id)  # 404 for an unknown ticket before the stream starts
    return ticket_id


@router.get("/tickets/{ticket_id}/live", tags=["tickets"], response_class=EventSourceResponse, responses=errors(404))
async def live(
    user: Agent, ticket_id: Annotated[int, Depends(_known_ticket)], services: Svc,  # the login is checked first
) -> AsyncIterator[ServerSentEvent]:
    """The draft as the model writes it (server-sent events, ``data`` a JSON string each); ``event: done`` when
    it is stored."""
    sent, waited = 0, 0.0
    while waited < 600:
        pieces, done = services.live.read(ticket_id, sent)
        for piece in pieces:
            yield ServerSentEvent(data=piece)
        sent += len(pieces)
        if done or (not pieces and ticket_view(services.database, ticket_id)["draft"] is not None):
            yield ServerSentEvent(event="done", data={})
            return
        await asyncio.sleep(0.2)
        waited += 0.2


def _model_ready(services: Svc) -> None:
    """Drafting needs the registered model file: a missing or changed one is a 503 with the reason, up front."""
    if problem := services.model_problem():
        raise ModelError(f"Entwürfe sind zurzeit nicht möglich: {problem}. Bitte die Administration informieren.")


ModelReady = Annotated[None, Depends(_model_ready)]


@router.post("/tickets/{ticket_id}/draft", status_code=202, tags=["tickets"], responses=errors(404, 409, 503))
def regenerate(ticket_id: Id, user: Agent, services: Svc, _: ModelReady) -> dict[str, Any]:
    services.review.regenerate(ticket_id, user)
    return {"queued": True, "ticket_id": ticket_id}


@router.post("/tickets/{ticket_id}/eval-case", status_code=201, tags=["evaluation"],
             responses=errors(404, (409, "the ticket is not reviewed yet, or its case exists (``case``)")))
def to_eval_case(ticket_id: Id, user: Expert, services: Svc) -> dict[str, str]:
    """A reviewed ticket becomes an anonymised evaluation case (Fachbereich)."""
    path = case_from_ticket(services.database, services.settings.eval_dir, services.company, ticket_id, user.name)
    return {"case": path.stem, "file": f"eval/cases/{path.name}"}


@router.put("/tickets/{ticket_id}/category", tags=["tickets"], responses=errors(404))
def recategorise(ticket_id: Id, body: CategoryIn, user: Agent, services: Svc) -> dict[str, Any]:
    return ticket_json(services.review.recategorise(ticket_id, body.category, user))


def _draft(services: Services, draft_id: int) -> dict[str, Any]:
    with services.database.session() as session:
        row = session.get(DraftRow, draft_id)
        if row is None:
            raise NotFoundError(f"Entwurf {draft_id} gibt es nicht")
        ticket_id = row.ticket_id
    draft = ticket_view(services.database, ticket_id)["draft"]
    return draft if draft and draft["id"] == draft_id else {"id": draft_id, "ticket_id": ticket_id, "current": False}


@router.put("/drafts/{draft_id}", tags=["drafts"], responses=errors(404, 409))
def edit(draft_id: Id, body: TextIn, user: Agent, services: Svc) -> dict[str, Any]:
    services.review.edit(draft_id, body.text, user)
    return _draft(services, draft_id)


@router.post("/drafts/{draft_id}/approve", tags=["drafts"],
             responses=errors(404, (409, "sent, empty, or no valid recipient (``field``: ``recipient``)")))
def approve(draft_id: Id, user: Agent, services: Svc) -> dict[str, Any]:
    services.review.approve(draft_id, user)
    return _draft(services, draft_id)


@router.post("/drafts/{draft_id}/reject", tags=["drafts"], responses=errors(404, 409))
def reject(draft_id: Id, user: Agent, services: Svc, body: RejectIn | None = None) -> dict[str, Any]:
    services.review.reject(draft_id, user, body.comment if body else "")
    return _draft(services, draft_id)


class SendIn(BaseModel):
    """The kinds of promise the agent confirmed after reading them (``flags`` of the draft)."""

    confirm: list[Literal["money", "discount", "compensation", "deadline", "legal"]] = Field(
        default_factory=list, max_length=5)


class RecipientIn(BaseModel):
    email: str = Field(min_length=3, max_length=254)


@router.put("/tickets/{ticket_id}/recipient", tags=["tickets"], responses=errors(404, (409, "already sent")))
def set_recipient(ticket_id: Id, body: RecipientIn, user: Agent, services: Svc) -> dict[str, Any]:
    services.review.set_recipient(ticket_id, body.email, user)
    return ticket_view(services.database, ticket_id)


@router.post("/drafts/{draft_id}/send", tags=["drafts"],
             responses=errors(404, (409, "unconfirmed promises (``flags``, ``unconfirmed``), or not approved")))
def send(draft_id: Id, user: Agent, services: Svc, body: SendIn | None = None) -> dict[str, Any]:
    return outbox_json(services.sending.send(draft_id, user, body.confirm if body else []))


@router.post("/drafts/{draft_id}/cancel", tags=["drafts"],
             responses=errors(404, (409, "no message waits in the outbox (delivered, or being sent)")))
def cancel(draft_id: Id, user: Agent, services: Svc) -> dict[str, Any]:
    """Take the answer back from the outbox before it is delivered; the text must be approved again."""
    services.sending.cancel(draft_id, user)
    return _draft(services, draft_id)


@router.post("/drafts/{draft_id}/rating", tags=["drafts"], responses=errors(404))
def rate(draft_id: Id, body: RatingIn, user: Agent, services: Svc) -> dict[str, Any]:
    services.review.rate(draft_id, body.score, body.comment, user)
    return _draft(services, draft_id)


@router.get("/audit", tags=["audit"])
def audit_log(
    user: Admin, services: Svc, ticket_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    return [
        {"id": e.id, "at": e.at.isoformat(), "actor": e.actor, "action": e.action, "ticket_id": e.ticket_id,
         "draft_id": e.draft_id, "text_sha256": e.text_sha256, "prompt_version": e.prompt_version,
         "model_sha256": e.model_sha256, "sources": e.sources, "detail": e.detail}
        for e in audit.entries(services.database, ticket_id, limit)
    ]
