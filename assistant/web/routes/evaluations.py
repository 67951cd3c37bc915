"""Evaluation (the department): turn a reviewed ticket into a case, run a prompt version on the evaluation set in
the background, list the runs with their reports, and the learning-loop dashboard."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from assistant.dashboard import dashboard_plots, learning_loop
from assistant.errors import InputError, NotFoundError
from assistant.evaluate.cases import CaseError, cases_for, load_cases
from assistant.evaluate.from_ticket import case_from_ticket
from assistant.prompts import PromptError
from assistant.services import Services
from assistant.store.db import Database
from assistant.store.tables import EvalRun
from assistant.web.deps import Bg, ExpertUser, Id, Svc
from assistant.web.errors import AUTHENTICATED, errors
from assistant.web.routes._audit import record
from assistant.web.schemas import Dashboard, EvalCase, Evaluation, EvaluationIn, TaskStarted

router = APIRouter(prefix="/api", tags=["evaluation"], responses=AUTHENTICATED)
REPORT_CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
              "form-action 'none'; frame-ancestors 'none'")  # the report is self-contained


def recent_runs(database: Database, limit: int) -> list[EvalRun]:
    """The newest evaluation runs first (the API and the evaluation page)."""
    with database.session() as session:
        return list(session.scalars(select(EvalRun).order_by(EvalRun.id.desc()).limit(limit)))


def _report_file(run: EvalRun) -> Path | None:
    path = Path(run.report_dir) / "report.html" if run.report_dir else None
    return path if path is not None and path.is_file() else None


@router.post("/tickets/{ticket_id}/eval-case", status_code=201,
             responses=errors(404, (409, "the ticket is not reviewed yet, or its case exists (``case``)")))
def to_eval_case(ticket_id: Id, user: ExpertUser, services: Svc) -> EvalCase:
    """A reviewed ticket becomes an anonymised evaluation case (Fachbereich)."""
    path = case_from_ticket(services.database, services.settings.eval_dir, services.company, ticket_id, user.name)
    return EvalCase(case=path.stem, file=f"eval/cases/{path.name}")


@router.post("/evaluations", status_code=202, responses=errors((409, "an evaluation is running")))
def start_evaluation(body: EvaluationIn, user: ExpertUser, services: Svc, bg: Bg) -> TaskStarted:
    subject, runs = _planned(services, body.task, body.prompt)
    task = bg.evaluate(services.eval_parts(), body.task, body.prompt, runs)
    record(services, user, "evaluation_started", prompt_version=subject)
    return TaskStarted(task_id=task.id)


def _planned(services: Services, task: str, prompt: str) -> tuple[str, int]:
    """The version under test and how many runs the evaluation makes (production is run beside another one)."""
    try:
        subject = services.prompts.resolve(task, prompt)
        production = services.prompts.resolve(task, "production")
        cases = cases_for(task, load_cases(services.settings.eval_dir / "cases"))
    except (PromptError, CaseError) as exc:
        raise InputError(str(exc)) from exc
    if not cases:
        raise InputError(f"Für {task} gibt es keine Evaluationsfälle")
    return subject.ref, len(cases) * (1 if subject.ref == production.ref else 2)


@router.get("/evaluations")
def evaluations(user: ExpertUser, services: Svc, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[Evaluation]:
    return [Evaluation(
        id=r.id, task=r.task, prompt_ref=r.prompt_ref, gate_passed=r.gate_passed, cases=r.cases,
        started_at=r.started_at.isoformat(), finished_at=r.finished_at.isoformat() if r.finished_at else None,
        metrics={k: round(v, 4) if isinstance(v, float) else v for k, v in (r.metrics or {}).items()},
        report=f"/api/evaluations/{r.id}/report" if _report_file(r) else None,
    ) for r in recent_runs(services.database, limit)]


@router.get("/evaluations/{run_id}/report", response_class=HTMLResponse, responses=errors(404))
def evaluation_report(run_id: Id, user: ExpertUser, services: Svc) -> HTMLResponse:
    with services.database.session() as session:
        run = session.get(EvalRun, run_id)
    path = _report_file(run) if run else None
    if path is None:
        raise NotFoundError(f"Für den Evaluationslauf {run_id} gibt es keinen Bericht")
    return HTMLResponse(path.read_text(encoding="utf-8"), headers={"Content-Security-Policy": REPORT_CSP})


@router.get("/dashboard", response_model_exclude_unset=True)
def dashboard(user: ExpertUser, services: Svc, plots: bool = False) -> Dashboard:
    data = learning_loop(services.database)
    if plots:
        data["plots"] = dashboard_plots(data)
    return Dashboard.model_validate(data)
