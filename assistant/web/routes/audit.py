"""The audit log (administration): who did what, when, with which prompt version, model file and sources."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from assistant import audit
from assistant.web.deps import MAX_ID, AdminUser, Svc
from assistant.web.errors import AUTHENTICATED
from assistant.web.schemas import AuditRecord

router = APIRouter(prefix="/api", tags=["audit"], responses=AUTHENTICATED)


@router.get("/audit")
def audit_log(
    user: AdminUser, services: Svc, ticket_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AuditRecord]:
    return [
        AuditRecord(id=e.id, at=e.at.isoformat(), actor=e.actor, action=e.action, ticket_id=e.ticket_id,
                    draft_id=e.draft_id, text_sha256=e.text_sha256, prompt_version=e.prompt_version,
                    model_sha256=e.model_sha256, sources=e.sources, detail=e.detail)
        for e in audit.entries(services.database, ticket_id, limit)
    ]
