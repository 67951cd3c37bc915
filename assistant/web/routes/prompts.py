"""Prompt versions (the department): list, read, compare, write the next version, promote one that passed its
evaluation; and the pages for it. Writing and the release rules live in ``assistant.prompts``.

A new version starts from the version the expert names (``from_version``); the page offers the production version
unless another one is chosen, never silently the latest candidate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from assistant.errors import ConflictError, NotFoundError
from assistant.evaluate.evaluation import passed_gate
from assistant.prompts import LABEL_NAMES, PART_NAMES, TASK_NAMES, PromptReleases, PromptVersion, parts_of
from assistant.services import Services
from assistant.web.deps import MAX_ID, ExpertPage, ExpertUser, Id, PromptWrites, Svc
from assistant.web.errors import AUTHENTICATED, errors
from assistant.web.rendering import render
from assistant.web.routes._audit import record
from assistant.web.schemas import (
    PromptComparison,
    PromptCreated,
    PromptDiff,
    PromptIn,
    PromptPromoted,
    PromptText,
    PromptVersionInfo,
)

router = APIRouter(prefix="/api", tags=["prompts"], responses=AUTHENTICATED)
pages = APIRouter(include_in_schema=False)
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


@router.get("/prompts/{task}/compare", responses=errors(404))
def prompt_compare(task: str, a: Version, b: Version, user: ExpertUser, services: Svc) -> PromptComparison:
    """Two versions as a person compares them: each part's text side by side without the front matter, and the
    changed generation settings in German ("Modell-Temperatur: 0,2 → 0,1")."""
    return _compare(services, task, a, b)


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


# --- the pages ----------------------------------------------------------------------------------------------------

@pages.get("/prompts", response_class=HTMLResponse)
def prompts_page(request: Request, user: ExpertPage, services: Svc, aufgabe: str = "",
                 von: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None) -> HTMLResponse:
    """Every task's versions; the form for the next version starts from production, or from ``von`` for the task
    ``aufgabe`` when the expert chose another version."""
    library, labels = services.prompts, services.prompts.labels()
    tasks = {task: library.versions(task) for task in library.tasks()}
    bases = {task: _base(versions, labels.get(task, {}), von if task == aufgabe else None)
             for task, versions in tasks.items()}
    return render(request, "prompts.html", user, tasks=tasks, labels=labels, lock=PromptReleases(library).lock(),
                  bases=bases, chosen=aufgabe if aufgabe in tasks and von is not None else "",
                  task_names=TASK_NAMES, label_names=LABEL_NAMES, part_names=PART_NAMES, parts_of=parts_of,
                  label_of=_label_of)


@pages.get("/prompts/{task}/vergleich", response_class=HTMLResponse)
def compare_page(request: Request, task: str, a: Version, b: Version, user: ExpertPage,
                 services: Svc) -> HTMLResponse:
    labels = services.prompts.labels().get(task, {})
    return render(request, "prompts_compare.html", user, c=_compare(services, task, a, b), label_of=_label_of,
                  labels=labels, versions=[v.meta.version for v in services.prompts.versions(task)])


def _compare(services: Services, task: str, a: int, b: int) -> PromptComparison:
    _file(services, task, a)
    _file(services, task, b)
    compared = PromptReleases(services.prompts).compare(task, a, b)
    return PromptComparison.model_validate({**compared.model_dump(), "task_name": TASK_NAMES.get(task, task)})


def _base(versions: list[PromptVersion], labels: dict[str, int | None], chosen: int | None) -> PromptVersion:
    """The version a new one starts from: the chosen one, else production, else the oldest (never the candidate
    merely because it is the newest)."""
    by_number = {v.meta.version: v for v in versions}
    for number in (chosen, labels.get("production")):
        if number is not None and number in by_number:
            return by_number[number]
    return versions[0]


def _label_of(labels: dict[str, int | None], version: int) -> str:
    """``v3 – Kandidat``: the version with its German labels."""
    names = [LABEL_NAMES.get(k, k) for k, v in labels.items() if v == version]
    return f"v{version}" + (f" – {', '.join(names)}" if names else "")
