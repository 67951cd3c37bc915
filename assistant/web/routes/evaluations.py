"""Evaluation (the department): turn a reviewed ticket into a case, run a prompt version on the evaluation set in
the background, follow a run while it works (from the server's progress registry, so a page opened again still
shows it), list the runs with their reports, the learning-loop dashboard, and the evaluation page."""

from __future__ import annotations

import json
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from assistant.dashboard import dashboard_plots, learning_loop
from assistant.errors import InputError, NotFoundError
from assistant.evaluate.cases import CaseError, cases_for, load_cases
from assistant.evaluate.from_ticket import case_from_ticket
from assistant.evaluate.report import failure_text, render_html
from assistant.progress import BackgroundWork
from assistant.progress import Task as Work
from assistant.prompts import LABEL_NAMES, TASK_NAMES, PromptError, version_title
from assistant.services import Services
from assistant.store.db import Database
from assistant.store.tables import EvalRun
from assistant.web.deps import TRUE_OR_FALSE, Bg, ExpertPage, ExpertUser, Id, Svc
from assistant.web.errors import AUTHENTICATED, errors
from assistant.web.rendering import METHOD_NAMES, number, render, week, without_paths
from assistant.web.routes._audit import record
from assistant.web.schemas import Dashboard, EvalCase, Evaluation, EvaluationIn, EvaluationProgress, TaskStarted

router = APIRouter(prefix="/api", tags=["evaluation"], responses=AUTHENTICATED)
pages = APIRouter(include_in_schema=False)
REPORT_CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
              "form-action 'none'; frame-ancestors 'none'")  # the report is self-contained


@dataclass(frozen=True)
class Planned:
    """What an evaluation run works on: the version, its cases, and the production version it is compared with."""

    task: str
    ref: str
    cases: int
    compared_with: str | None

    @property
    def runs(self) -> int:
        return self.cases * (2 if self.compared_with else 1)


# What each evaluation in the progress registry is about; forgotten together with the registry's task.
_PLANNED: weakref.WeakKeyDictionary[Work, Planned] = weakref.WeakKeyDictionary()


def recent_runs(database: Database, limit: int) -> list[EvalRun]:
    """The newest evaluation runs first (the API and the evaluation page)."""
    with database.session() as session:
        return list(session.scalars(select(EvalRun).order_by(EvalRun.id.desc()).limit(limit)))


def _report_folder(run: EvalRun) -> Path | None:
    path = Path(run.report_dir) if run.report_dir else None
    return path if path is not None and ((path / "report.json").is_file() or (path / "report.html").is_file()) else None


@router.post("/tickets/{ticket_id}/eval-case", status_code=201,
             responses=errors(404, (409, "the ticket is not reviewed yet, or its case exists (``case``)")))
def to_eval_case(ticket_id: Id, user: ExpertUser, services: Svc) -> EvalCase:
    """A reviewed ticket becomes an anonymised evaluation case (Fachbereich)."""
    path = case_from_ticket(services.database, services.settings.eval_dir, services.company, ticket_id, user.name)
    return EvalCase(case=path.stem, file=f"eval/cases/{path.name}")


@router.post("/evaluations", status_code=202, responses=errors((409, "an evaluation is running")))
def start_evaluation(body: EvaluationIn, user: ExpertUser, services: Svc, bg: Bg) -> TaskStarted:
    planned = _planned(services, body.task, body.prompt)
    task = bg.evaluate(services.eval_parts(), body.task, body.prompt, planned.runs)
    _PLANNED[task] = planned
    record(services, user, "evaluation_started", prompt_version=planned.ref)
    return TaskStarted(task_id=task.id)


def _planned(services: Services, task: str, prompt: str) -> Planned:
    """The version under test, its cases and the production version it runs beside (none when it is production)."""
    try:
        subject = services.prompts.resolve(task, prompt)
        production = services.prompts.resolve(task, "production")
        cases = cases_for(task, load_cases(services.settings.eval_dir / "cases"))
    except (PromptError, CaseError) as exc:
        raise InputError(without_paths(str(exc))) from exc
    if not cases:
        raise InputError(f"Für {TASK_NAMES.get(task, task)} gibt es keine Evaluationsfälle")
    return Planned(task, subject.ref, len(cases), None if subject.ref == production.ref else production.ref)


@router.get("/evaluations/running")
def running_evaluation(user: ExpertUser, bg: Bg) -> EvaluationProgress | None:
    """The evaluation running now, how far it is and about how long it still takes; ``null`` when none runs."""
    task = bg.tasks.running("evaluation")
    return progress_of(task) if task is not None else None


@router.get("/evaluations/tasks/{task_id}", responses=errors(404))
def evaluation_progress(task_id: str, user: ExpertUser, bg: Bg) -> EvaluationProgress:
    """One evaluation in the background: running, or its outcome in German once done."""
    task = bg.tasks.get(task_id)
    if task is None or task.kind != "evaluation":
        raise NotFoundError("Diese Evaluation ist unbekannt (oder schon vergessen)")
    return progress_of(task)


def progress_of(task: Work) -> EvaluationProgress:
    now = task.snapshot()
    planned = _PLANNED.get(task) or Planned("", "", now["total"], None)
    result = now["result"] or {}
    passed = result.get("passed") if now["status"] == "done" else None
    verdict = None
    if now["status"] == "failed":
        verdict = without_paths(now["error"] or "Die Evaluation ist fehlgeschlagen.")
    elif now["status"] == "done" and passed:
        verdict = "Schranke (Freigabeprüfung) bestanden."
    elif now["status"] == "done":
        reasons = "; ".join(failure_text(f) for f in result.get("failures") or [])
        verdict = f"Schranke (Freigabeprüfung) nicht bestanden: {reasons}."
    elapsed = (datetime.now(UTC) - task.started_at).total_seconds()
    return EvaluationProgress(
        task_id=task.id, status=now["status"], task=planned.task, prompt_ref=planned.ref,
        title=version_title(planned.ref) if planned.ref else "Evaluation", cases=planned.cases, done=now["done"],
        total=now["total"], started_at=now["started_at"], passed=passed, verdict=verdict,
        remaining=time_left(now["done"], now["total"], elapsed) if now["status"] == "running" else None,
        report=result.get("report"))


def time_left(done: int, total: int, elapsed_seconds: float) -> str:
    """About how long the rest takes at the pace so far, in German: ``noch etwa 3 Min.``."""
    if done <= 0:
        return "Restzeit wird geschätzt …"
    seconds = elapsed_seconds / done * max(0, total - done)
    if seconds < 60:
        return "noch weniger als 1 Min."
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"noch etwa {minutes} Min."
    return f"noch etwa {minutes // 60} Std. {minutes % 60} Min."


@router.get("/evaluations")
def evaluations(user: ExpertUser, services: Svc, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[Evaluation]:
    return [Evaluation(
        id=r.id, task=r.task, prompt_ref=r.prompt_ref, gate_passed=r.gate_passed, cases=r.cases,
        started_at=r.started_at.isoformat(), finished_at=r.finished_at.isoformat() if r.finished_at else None,
        metrics={k: round(v, 4) if isinstance(v, float) else v for k, v in (r.metrics or {}).items()},
        report=f"/api/evaluations/{r.id}/report" if _report_folder(r) else None,
    ) for r in recent_runs(services.database, limit)]


@router.get("/evaluations/{run_id}/report", response_class=HTMLResponse, responses=errors(404))
def evaluation_report(run_id: Id, user: ExpertUser, services: Svc) -> HTMLResponse:
    """The run's report, with the customer's question beside each case and the categories by name (from the
    evaluation set and the category list as they are now)."""
    with services.database.session() as session:
        run = session.get(EvalRun, run_id)
    folder = _report_folder(run) if run else None
    if folder is None:
        raise NotFoundError(f"Für den Evaluationslauf {run_id} gibt es keinen Bericht")
    if not (folder / "report.json").is_file():  # written before the report kept its numbers: as it was written
        page = (folder / "report.html").read_text(encoding="utf-8")
    else:
        report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        page = render_html(report, _questions(services), _names(services))
    return HTMLResponse(page, headers={"Content-Security-Policy": REPORT_CSP})


def _questions(services: Services) -> dict[str, str]:
    """The customer's question of every evaluation case, for reports written before their rows kept it; none when
    the set does not load."""
    try:
        cases = load_cases(services.settings.eval_dir / "cases")
    except CaseError:
        return {}
    return {c.id: c.question for c in cases}


def _names(services: Services) -> dict[str, str]:
    return {**METHOD_NAMES, **{c.id: c.name for c in services.categories.categories}}


@router.get("/dashboard", response_model_exclude_unset=True)
def dashboard(user: ExpertUser, services: Svc, plots: Annotated[bool, TRUE_OR_FALSE] = False) -> Dashboard:
    data = learning_loop(services.database)
    if plots:
        data["plots"] = dashboard_plots(data, week, number)
    return Dashboard.model_validate(data)


# --- the page -----------------------------------------------------------------------------------------------------

@pages.get("/auswertung", response_class=HTMLResponse)
def evaluation_page(request: Request, user: ExpertPage, services: Svc, bg: Bg) -> HTMLResponse:
    """Start a run (task and version in one list that agrees with the prompt page), the run in progress, if any,
    and the runs so far."""
    labels = services.prompts.labels()
    versions = {task: [v.meta.version for v in services.prompts.versions(task)] for task in services.prompts.tasks()}
    return render(request, "evaluation.html", user, runs=recent_runs(services.database, 30), labels=labels,
                  versions=versions, task_names=TASK_NAMES, label_names=LABEL_NAMES, title=version_title,
                  running=_running(bg), has_report=lambda run: _report_folder(run) is not None)


def _running(bg: BackgroundWork) -> EvaluationProgress | None:
    task = bg.tasks.running("evaluation")
    return progress_of(task) if task is not None else None
