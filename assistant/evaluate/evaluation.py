"""One evaluation run end to end: run the version and the production version on the same cases, compute the
metrics, compare case by case, check the gate against the accepted baseline, record the run, write the
report. ``kontor eval`` and the web interface call ``evaluate``."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from assistant.evaluate import metrics as m
from assistant.evaluate.cases import EvalCase, cases_for, load_cases
from assistant.evaluate.report import write_report
from assistant.evaluate.runner import EvalParts, EvalRunner, Record, Subject
from assistant.llm import LLM
from assistant.prompts import PromptLibrary, file_sha256
from assistant.store.db import Database
from assistant.store.tables import DraftRow, EvalRun, Review

SAME = 0.01  # per-case score difference below which two versions count as equal


@dataclass
class Outcome:
    report: dict[str, Any]
    failures: list[dict[str, Any]] = field(default_factory=list)
    run_id: int | None = None
    paths: tuple[Path, Path] | None = None

    @property
    def passed(self) -> bool:
        return not self.failures


def evaluate(
    parts: EvalParts, task: str, prompt_ref: str = "production", gate: bool = False,
    report_dir: Path | None = None, progress: Any = None,
) -> Outcome:
    runner = EvalRunner(parts)
    cases = cases_for(task, load_cases(parts.eval_dir / "cases"))
    subject = runner.subject(task, prompt_ref)
    production = runner.subject(task, "production")
    started = datetime.now(UTC)
    records = runner.run(subject, cases, progress)
    compared = runner.run(production, cases, progress) if production.ref != subject.ref else None
    report = _report(parts, task, subject, cases, records, production if compared else None, compared)
    report["started_at"], report["finished_at"] = started.isoformat(), datetime.now(UTC).isoformat()
    outcome = Outcome(report)
    if gate:
        outcome.failures = check_gate(report["metrics"], baseline_path(parts.eval_dir, task))
        report["gate"] = {"passed": outcome.passed, "baseline": str(baseline_path(parts.eval_dir, task)),
                          "failures": outcome.failures}
    folder = report_dir or parts.eval_dir / "reports" / f"{started:%Y%m%d-%H%M%S}-{subject.ref}"
    outcome.paths = write_report(report, folder)
    outcome.run_id = _record(parts.database, subject, report, outcome, folder, started, gate)
    return outcome


def _report(
    parts: EvalParts, task: str, subject: Subject, cases: list[EvalCase], records: dict[str, Record],
    production: Subject | None, compared: dict[str, Record] | None,
) -> dict[str, Any]:
    report: dict[str, Any] = {
        "task": task, "prompt": subject.ref, "compared_with": production.ref if production else None,
        "model": parts.llm().name, "model_sha256": subject.model_sha256, "cases": len(cases),
        "latency_ms": m.latency(list(records.values())), "tokens": m.tokens(list(records.values())) or None,
        "ratings": ratings(parts.database, task, cases),
    }
    if task in ("answer", "letter"):
        report["metrics"] = m.answer_metrics(cases, records)
        report["compared_metrics"] = m.answer_metrics(cases, compared) if compared else None
    else:
        scored = m.categorise_metrics(cases, records)
        report.update(metrics=scored["metrics"], per_category=scored["per_category"], confusion=scored["confusion"])
        report["compared_metrics"] = m.categorise_metrics(cases, compared)["metrics"] if compared else None
    report["per_case"] = [_case_row(task, c, records[c.id], compared[c.id] if compared else None) for c in cases]
    return report


def _case_row(task: str, case: EvalCase, record: Record, compared: Record | None) -> dict[str, Any]:
    score, summary = _score(task, case, record)
    base = _score(task, case, compared)[0] if compared else None
    if base is None:
        outcome = "new"
    else:
        outcome = "improved" if score > base + SAME else "worse" if score < base - SAME else "same"
    text = record.get("answer") or f"{record.get('category')} ({record.get('method')})"
    return {"id": case.id, "question": case.question, "outcome": outcome, "score": round(score, 3),
            "compared_score": None if base is None else round(base, 3), "summary": summary, "text": text}


def _score(task: str, case: EvalCase, record: Record) -> tuple[float, str]:
    if task == "categorise":
        expected = case.expectations.category
        right = record["category"] == expected
        return float(right), f"erwartet {expected}, erhalten {record['category']} ({record['method']})"
    scores = m.answer_case_scores(case, record)
    parts = []
    if scores["facts"] is not None:
        parts.append(f"Fakten {scores['facts']:.0%}")
    parts.append("Übergabe korrekt" if scores["handover_correct"] else "Übergabe falsch")
    if scores["forbidden"]:
        parts.append("verbotene Aussage!")
    if record.get("model_sentences"):
        parts.append(f"Modellsätze mit Quelle {record['model_cited']}/{record['model_sentences']}")
    return m.answer_case_score(scores), " · ".join(parts)


# --- gate and baseline -----------------------------------------------------------------------------------------

def baseline_path(eval_dir: Path, task: str) -> Path:
    return eval_dir / "baselines" / f"{task}.json"


def check_gate(metrics: dict[str, float], baseline_file: Path) -> list[dict[str, Any]]:
    """Each metric that fell further behind the accepted baseline than its tolerance."""
    if not baseline_file.is_file():
        return [{"metric": "baseline", "value": None, "baseline": None, "tolerance": None,
                 "direction": f"{baseline_file} fehlt – `kontor eval accept` schreibt sie"}]
    baseline = json.loads(baseline_file.read_text(encoding="utf-8"))
    failures = []
    for metric, accepted in baseline["metrics"].items():
        if metric not in m.GATE_RULES or metric not in metrics:
            continue
        direction, tolerance = m.GATE_RULES[metric]
        value = metrics[metric]
        worse = value < accepted - tolerance - 1e-9 if direction == "higher" else value > accepted + tolerance + 1e-9
        if worse:
            failures.append({"metric": metric, "value": round(value, 4), "baseline": accepted, "tolerance": tolerance,
                             "direction": "higher_is_better" if direction == "higher" else "lower_is_better"})
    return failures


def accept(eval_dir: Path, task: str, outcome: Outcome) -> Path:
    path = baseline_path(eval_dir, task)
    path.parent.mkdir(parents=True, exist_ok=True)
    report = outcome.report
    baseline = {"task": task, "prompt": report["prompt"], "model": report["model"],
                "model_sha256": report["model_sha256"], "cases": report["cases"],
                "accepted_at": datetime.now(UTC).date().isoformat(),
                "metrics": {k: round(v, 4) for k, v in report["metrics"].items() if k in m.GATE_RULES}}
    path.write_text(json.dumps(baseline, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


# --- what people think -----------------------------------------------------------------------------------------

def ratings(database: Database, task: str, cases: list[EvalCase]) -> dict[str, dict[str, Any]]:
    """Average human rating per prompt version: from the case files and from reviews of real drafts."""
    scores: dict[str, list[int]] = defaultdict(list)
    for case in cases:
        for rating in case.ratings if case.task == task else []:  # ratings judge drafts, not categories
            scores[f"{task}@v{rating.prompt_version}"].append(rating.score)
    if task == "answer":
        with database.session() as session:
            rows = session.execute(select(DraftRow.prompt_version, Review.rating).join(
                Review, Review.draft_id == DraftRow.id).where(Review.decision == "rated")).all()
        for version, score in rows:
            if version and score:
                scores[version].append(int(score))
    return {ref: {"mean": round(sum(v) / len(v), 2), "count": len(v)} for ref, v in sorted(scores.items())}


def _record(database: Database, subject: Subject, report: dict[str, Any], outcome: Outcome, folder: Path,
            started: datetime, gate: bool) -> int:
    with database.session() as session:
        run = EvalRun(task=subject.task, prompt_ref=subject.ref, prompt_sha256=subject.prompt_sha256,
                      model_sha256=subject.model_sha256, cases=report["cases"], metrics=report["metrics"],
                      gate_passed=outcome.passed if gate else None, report_dir=str(folder), started_at=started,
                      finished_at=datetime.now(UTC))
        session.add(run)
        session.flush()
        return run.id


def passed_gate(database: Database, prompts: PromptLibrary, llm: Callable[[], LLM], task: str, version: int) -> bool:
    """Promotion needs a recorded, passed gate run of exactly this file on the active model (``llm`` is asked for
    only once the version is known to exist)."""
    prompt = prompts.get(task, version)
    model = llm()
    with database.session() as session:
        run = session.scalar(select(EvalRun).where(
            EvalRun.task == task, EvalRun.prompt_ref == prompt.ref, EvalRun.prompt_sha256 == file_sha256(prompt.path),
            EvalRun.model_sha256 == (model.sha256 or model.name), EvalRun.gate_passed.is_(True)))
    return run is not None
