"""Background work of the department (re-indexing, evaluation runs): how far it is."""

from __future__ import annotations

from fastapi import APIRouter

from assistant.errors import NotFoundError
from assistant.web.deps import Bg, ExpertUser
from assistant.web.errors import AUTHENTICATED, errors
from assistant.web.schemas import TaskStatus

router = APIRouter(prefix="/api", tags=["admin"], responses=AUTHENTICATED)


@router.get("/tasks/{task_id}", responses=errors(404))
def task_status(task_id: str, user: ExpertUser, bg: Bg) -> TaskStatus:
    task = bg.tasks.get(task_id)
    if task is None:
        raise NotFoundError("Diese Aufgabe ist unbekannt (oder schon vergessen)")
    return TaskStatus.model_validate(task.snapshot())
