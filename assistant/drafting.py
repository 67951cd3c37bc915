"""The background job behind every new ticket: categorise it, draft an answer, store both for review."""

from __future__ import annotations

import logging
from email.utils import parseaddr
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from assistant.categorise.categories import CategoryError
from assistant.domain import InputError
from assistant.store.tables import Job, Ticket
from assistant.tickets import latest_draft

if TYPE_CHECKING:
    from assistant.services import Services

log = logging.getLogger("kontor.drafting")


def draft_ticket(services: Services, job: Job) -> None:
    assert job.ticket_id is not None
    with services.database.session() as session:
        ticket = session.get(Ticket, job.ticket_id)
        if ticket is None or ticket.status == "sent" or _already_done(session, job):
            return
        text = f"{ticket.subject}\n\n{ticket.body}"
        subject, body, customer = ticket.subject, ticket.body, parseaddr(ticket.customer)[0] or None
    if problem := services.model_problem():  # a changed model file: to a person at once, not after 3 retries
        log.warning("ticket %s not drafted: %s", job.ticket_id, problem)
        services.workflow.give_up(job.ticket_id, f"Kein Entwurf möglich: {problem}")
        return
    category = None
    try:
        result = services.categoriser.categorise(text[: services.settings.max_question_chars])
        category = (result.category, result.confidence, result.method)
    except (CategoryError, InputError) as exc:
        log.warning("ticket %s not categorised: %s", job.ticket_id, exc)
    ticket_id = job.ticket_id
    services.live.start(ticket_id)
    try:
        draft = services.answerer().reply(subject, body, customer,
                                          on_token=lambda piece: services.live.append(ticket_id, piece))
        services.workflow.save_draft(ticket_id, draft, category)
    finally:
        services.live.finish(ticket_id)


def _already_done(session: Session, job: Job) -> bool:
    """A job re-run after a crash between saving the draft and finishing the job must not draft again."""
    assert job.ticket_id is not None
    newest = latest_draft(session, job.ticket_id)
    return newest is not None and newest.created_at >= job.created_at


def give_up(services: Services, job: Job) -> None:
    if job.ticket_id is not None:
        services.workflow.give_up(job.ticket_id, "Entwurf nach mehreren Versuchen fehlgeschlagen")
