"""The health check for monitoring: no login, nothing about the company."""

from __future__ import annotations

from fastapi import APIRouter

from assistant.health import report
from assistant.mailbox.fetch import mailbox_json
from assistant.web.deps import Svc
from assistant.web.errors import errors
from assistant.web.schemas import Health

router = APIRouter(prefix="/api")


@router.get("/health", responses=errors(413), response_model_exclude_unset=True)  # "mailbox" only when set up
def health(services: Svc) -> Health:
    """For monitoring: ``degraded`` names each damaged part and its repair; says nothing about the company."""
    found = report(services.problems())
    if services.settings.imap.configured:
        found["mailbox"] = mailbox_json(services.fetcher.status())
    return Health.model_validate(found)
