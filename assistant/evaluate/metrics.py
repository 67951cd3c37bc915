"""Metrics of an evaluation run, computed from the recorded per-case results (so a changed metric never
needs the model again). Pure functions: records in, numbers out."""

from __future__ import annotations

import re
import statistics
from collections import Counter
from typing import Any

from assistant.evaluate.cases import EvalCase
from assistant.evaluate.letter_form import echoed_sentences, letter_problems
from assistant.reading import read_mail  # echo is measured against the customer's own words, not quoted replies

Record = dict[str, Any]
CITATION = re.compile(r"\[(\d+)\]")

# metric -> (direction, tolerance) for the gate: how far a run may fall behind the accepted baseline
GATE_RULES: dict[str, tuple[str, float]] = {
    "hit_at_5": ("higher", 0.02), "mrr": ("higher", 0.03), "fact_coverage": ("higher", 0.03),
    "citation_validity": ("higher", 0.0), "forbidden": ("lower", 0.0), "right_handovers": ("higher", 0.1),
    "wrong_handovers": ("lower", 2.0), "model_citation_rate": ("higher", 0.05), "model_kept_rate": ("higher", 0.03),
    "question_fact_coverage": ("higher", 0.03), "letter_form": ("higher", 0.0), "echo_rate": ("lower", 0.0),
    "accuracy": ("higher", 0.05),
    "macro_f1": ("higher", 0.05),
}


# --- answers ---------------------------------------------------------------------------------------------------

def answer_case_scores(case: EvalCase, record: Record) -> dict[str, float | None]:
    exp = case.expectations
    text = record["answer"].lower()
    retrieved = record.get("retrieved", [])
    rank = next((i + 1 for i, source in enumerate(retrieved) if source in exp.sources), None)
    numbers = {int(n) for n in CITATION.findall(record["answer"])}
    cited = {c["n"] for c in record.get("citations", [])}
    sentences = record.get("model_sentences", 0)
    letter = record["answer"]
    return {
        "facts": _coverage(exp.facts, text),
        "question_facts": _question_coverage(case, record),
        "letter_form": float(not letter_problems(letter)),
        "echo": float(bool(echoed_sentences(letter, read_mail(case.input.subject, case.input.body).body))),
        "forbidden": float(any(f.lower() in text for f in exp.forbidden)),
        "citations_valid": float(numbers <= cited and record.get("quotes_valid", True)),
        "handover_correct": float(record["handover"] == exp.handover),
        "hit_at_5": float(rank is not None and rank <= 5) if exp.sources else None,
        "reciprocal_rank": (1.0 / rank if rank else 0.0) if exp.sources else None,
        "model_cited": record.get("model_cited", 0) / sentences if sentences else None,
    }


def _coverage(facts: list[str | list[str]], text: str) -> float | None:
    alternatives = [f if isinstance(f, list) else [f] for f in facts]
    if not alternatives:
        return None
    return sum(any(a.lower() in text for a in alts) for alts in alternatives) / len(alternatives)


def _question_coverage(case: EvalCase, record: Record) -> float | None:
    """Mean fact coverage over the expected questions of a multi-question mail (a case without per-question
    expectations counts as one question): a letter that answers one of three questions scores 1/3, not 0."""
    expected = case.expectations.questions
    if not expected:
        return _coverage(case.expectations.facts, record["answer"].lower())
    scores = [_coverage(q.facts, record["answer"].lower()) for q in expected if q.facts]
    return sum(s for s in scores if s is not None) / len(scores) if scores else None


def answer_case_score(scores: dict[str, float | None]) -> float:
    """One number per case for the comparison of two versions: higher is better."""
    parts = [scores["facts"], 1 - (scores["forbidden"] or 0), scores["citations_valid"], scores["handover_correct"],
             scores["model_cited"], scores["letter_form"], 1 - (scores["echo"] or 0)]
    values = [p for p in parts if p is not None]
    return sum(values) / len(values)


def answer_metrics(cases: list[EvalCase], records: dict[str, Record]) -> dict[str, float]:
    scored = [(c, answer_case_scores(c, records[c.id])) for c in cases]
    answerable = [s for c, s in scored if not c.expectations.handover]
    must_hand = [s for c, s in scored if c.expectations.handover]
    model = [records[c.id] for c in cases if records[c.id].get("model_sentences")]
    return {
        "hit_at_5": _mean(s["hit_at_5"] for s in answerable),
        "mrr": _mean(s["reciprocal_rank"] for s in answerable),
        "fact_coverage": _mean(s["facts"] for s in answerable),
        "question_fact_coverage": _mean(s["question_facts"] for s in answerable),
        "letter_form": _mean(s["letter_form"] for _, s in scored),
        "echo_rate": _mean(s["echo"] for _, s in scored),
        "forbidden": sum(s["forbidden"] or 0 for _, s in scored),
        "citation_validity": _mean(s["citations_valid"] for _, s in scored),
        "right_handovers": _mean(s["handover_correct"] for s in must_hand),
        "wrong_handovers": float(sum(1 for s in answerable if not s["handover_correct"])),
        "mean_length": _mean(float(len(records[c.id]["answer"])) for c in cases),
        "model_citation_rate": (sum(r["model_cited"] for r in model) / sum(r["model_sentences"] for r in model)
                                if model else 0.0),
        "model_kept_rate": (sum(r["model_kept"] for r in model) / sum(r["model_sentences"] for r in model)
                            if model else 0.0),
    }


# --- categories ------------------------------------------------------------------------------------------------

def categorise_metrics(cases: list[EvalCase], records: dict[str, Record]) -> dict[str, Any]:
    gold = [c.expectations.category or "" for c in cases]
    predicted = [records[c.id]["category"] for c in cases]
    labels = sorted(set(gold) | set(predicted))
    per_category = {}
    for label in labels:
        tp = sum(g == p == label for g, p in zip(gold, predicted, strict=True))
        precision = tp / max(1, predicted.count(label))
        recall = tp / max(1, gold.count(label))
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_category[label] = {"precision": precision, "recall": recall, "f1": f1, "support": gold.count(label)}
    counts = Counter(zip(gold, predicted, strict=True))
    return {
        "metrics": {
            "accuracy": sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(cases),
            "macro_f1": _mean(v["f1"] for v in per_category.values()),
        },
        "per_category": per_category,
        "confusion": {"labels": labels, "matrix": [[counts[(g, p)] for p in labels] for g in labels]},
    }


# --- cost ------------------------------------------------------------------------------------------------------

def latency(records: list[Record]) -> dict[str, dict[str, float]]:
    stages: dict[str, list[float]] = {}
    for record in records:
        if record.get("cached_from_proven"):
            continue
        for stage, ms in record.get("timings_ms", {}).items():
            stages.setdefault(stage.removesuffix("_ms"), []).append(float(ms))
    return {stage: {"p50": _percentile(v, 50), "p95": _percentile(v, 95)} for stage, v in stages.items()}


def tokens(records: list[Record]) -> dict[str, int]:
    usage = Counter[str]()
    for record in records:
        usage.update(record.get("usage", {}))
    return {"prompt": usage["prompt_tokens"], "completion": usage["completion_tokens"]}


def _mean(values: Any) -> float:
    numbers = [float(v) for v in values if v is not None]
    return sum(numbers) / len(numbers) if numbers else 0.0


def _percentile(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]
