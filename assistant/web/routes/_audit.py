"""One audit entry for an action of the department's routes that has no transaction of its own (an upload, a new
prompt version, an evaluation started)."""

from __future__ import annotations

from typing import Any

from assistant import audit
from assistant.auth import Principal
from assistant.services import Services


def record(services: Services, user: Principal, action: str, **detail: Any) -> None:
    with services.database.session() as session:
        audit.record(session, user.name, action, **detail)
