"""Prompt versions (the department): list, read, compare, write the next version, promote one that passed its
evaluation. Writing and the release rules live in ``assistant.prompts``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query

from assistant.errors import ConflictError, NotFoundError
from assistant.evaluate.evaluation import passed_gate
from assistant.prompts import PromptReleases
from assistant.services import Services
from assistant.web.deps import MAX_ID, ExpertUser, Id, PromptWrites, Svc
from assistant.web.errors import AUTHENTICATED, errors
from assistant.web.routes._audit import record
from assistant.web.schemas import PromptCreated, PromptDiff, PromptIn, PromptPromoted, PromptText, PromptVersionInfo

router = APIRouter(prefix="/api", tags=["prompts"], responses=AUTHENTICATED)
Version = Annotated[int, Query(ge=1, le=MAX_ID)]


def _file(services: Services, task: str, version: int) -> Path:
    path = services.prompts.root / task / f"v{version}.md"
    if task not in services.prompts.tasks() or not path.is_file():
        raise NotFoundError(f"Prompt {task} v{version} gibt es nicht")
    return path


@router.get("/prompts", responses=errors((422, "a prompt file does not parse")))
def prompts(user: ExpertUser, services: Svc) -> dict[str, list[PromptVersionInfo]]:
    library = services.prompts
    labels, lock = library.labels(), PromptReleases(library).lock()
    return {task: [PromptVersionInfo(version=p.meta.version, author=p.meta.author, created=p.meta.created.isoformat(),
                                     note=p.meta.note, locked=p.meta.version in lock.get(task, {}),
                                     labels=[k for k, v in labels.get(task, {}).items() if v == p.meta.version])
                   for p in library.versions(task)] for task in library.tasks()}


@router.get("/prompts/{task}/diff", responses=errors(404))
def prompt_diff(task: str, a: Version, b: Version, user: ExpertUser, services: Svc) -> PromptDiff:
    old, new = _file(services, task, a), _file(services, task, b)
    return PromptDiff(diff=PromptReleases(services.prompts).diff(task, a, b), a=old.read_text(encoding="utf-8"),
                      b=new.read_text(encoding="utf-8"))


@router.get("/prompts/{task}/{version}", responses=errors(404))
def prompt_text(task: str, version: Id, user: ExpertUser, services: Svc) -> PromptText:
    return PromptText(task=task, version=version, text=_file(services, task, version).read_text(encoding="utf-8"))


@router.post("/prompts/{task}", status_code=201, responses=errors(404))
def new_prompt(task: str, body: PromptIn, user: ExpertUser, services: Svc, writes: PromptWrites) -> PromptCreated:
    _file(services, task, body.from_version)
    with writes:
        created = PromptReleases(services.prompts).write_version(task, body.from_version, body.parts(), user.name,
                                                                 body.note)
    record(services, user, "prompt_version_created", prompt_version=created.ref, source=body.from_version)
    return PromptCreated(task=task, version=created.meta.version)


@router.post("/prompts/{task}/{version}/promote",
             responses=errors(404, (409, "no passed evaluation of exactly this version")))
def promote(task: str, version: Id, user: ExpertUser, services: Svc, writes: PromptWrites) -> PromptPromoted:
    _file(services, task, version)
    with writes:
        if not passed_gate(services.database, services.prompts, lambda: services.llm, task, version):
            raise ConflictError(f"{task} v{version} kann nicht in Produktion gehen: Für genau diese Fassung gibt es "
                                "noch keine bestandene Evaluation mit dem aktiven Modell. Bitte zuerst die "
                                "Evaluation starten.")
        PromptReleases(services.prompts).promote(task, version)
    if task == "categorise":
        services.forget("categoriser")  # cached with the old production prompt; the next use builds it anew
    record(services, user, "prompt_promoted", prompt_version=f"{task}@v{version}")
    return PromptPromoted(task=task, production=version)
