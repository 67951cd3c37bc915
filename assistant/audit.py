"""The append-only audit log: who did what, when, to which text, with which prompt, model and sources.

There is no function here (or anywhere) that changes or removes an entry; the ORM refuses it and the database
has triggers that refuse it (migration 0002), so even hand-written SQL cannot rewrite history.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from assistant.store.db import Database
from assistant.store.tables import AuditEntry


class AuditViolation(RuntimeError):
    pass


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _refuse_change(*_: Any) -> None:
    raise AuditViolation("audit_log is append-only")


def record(
    session: Session, actor: str, action: str, *, ticket_id: int | None = None, draft_id: int | None = None,
    text_sha256: str | None = None, prompt_version: str | None = None, model_sha256: str | None = None,
    sources: list[str] | None = None, **detail: Any,
) -> None:
    """Append one entry inside the caller's transaction: the entry exists exactly when the change does."""
    session.add(AuditEntry(
        actor=actor, action=action, ticket_id=ticket_id, draft_id=draft_id, text_sha256=text_sha256,
        prompt_version=prompt_version, model_sha256=model_sha256, sources=sources or [], detail=detail,
    ))


def entries(database: Database, ticket_id: int | None = None, limit: int = 200) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if ticket_id is not None:
        query = query.where(AuditEntry.ticket_id == ticket_id)
    with database.session() as session:
        return list(session.scalars(query))
