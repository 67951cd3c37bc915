"""Draft quality on the demo company's evaluation cases (eval/cases/answer-*.yaml), scored with the same
metrics as `kontor eval` (assistant/evaluate/metrics.py).

Runs the full pipeline twice in the same run: extractive only (the model is not asked), and with the embedded
model asked per question (its sentences kept where verified), so the model's own contribution is visible.
Usage: .venv/bin/python bench/answer_quality.py [--limit N] [--no-model]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.config import Settings  # noqa: E402
from assistant.evaluate.cases import EvalCase, cases_for, load_cases  # noqa: E402
from assistant.evaluate.metrics import answer_metrics  # noqa: E402
from assistant.services import Services  # noqa: E402
from bench.common import append_results, table  # noqa: E402

FIRST_NEW_CASE = "answer-062"  # cases written like real mails (several questions, quotes, signatures)


def run(services: Services, cases: list[EvalCase], generate: bool, label: str) -> tuple[dict, list[float]]:
    answerer = services.answerer(proven=False)
    answerer.policy = replace(answerer.policy, generate=generate)
    answerer.questions.policy = answerer.policy
    chunks = {c.chunk_id: c.text for c in services.catalogue.all_chunks()}
    records, seconds = {}, []
    for number, case in enumerate(cases, start=1):
        draft = answerer.reply(case.input.subject, case.input.body, case.input.customer or None)
        seconds.append(draft.timings_ms.get("total_ms", 0.0) / 1000)
        records[case.id] = {
            "answer": draft.answer, "handover": draft.handover, "citations": [c.model_dump() for c in draft.citations],
            "retrieved": list(dict.fromkeys(h.source for h in draft.sources))[:10],
            "quotes_valid": all(c.quote in chunks.get(c.chunk_id, "") for c in draft.citations),
            "model_sentences": draft.usage.get("kept_sentences", 0) + draft.usage.get("rejected_sentences", 0),
            "model_kept": draft.usage.get("kept_sentences", 0), "model_cited": 0,
        }
        print(f"\r{label}: {number}/{len(cases)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return records, seconds


def row(label: str, cases: list[EvalCase], records: dict, seconds: list[float]) -> list[str]:
    m = answer_metrics(cases, {c.id: records[c.id] for c in cases})
    answerable = sum(not c.expectations.handover for c in cases)
    must = len(cases) - answerable
    kept = sum(records[c.id]["model_kept"] for c in cases)
    asked = sum(records[c.id]["model_sentences"] for c in cases)
    return [label, f"{m['fact_coverage']:.2f}", f"{m['question_fact_coverage']:.2f}",
            f"{round(m['right_handovers'] * must)}/{must}", f"{m['wrong_handovers']:.0f}/{answerable}",
            f"{m['forbidden']:.0f}", f"{m['citation_validity']:.2f}", f"{m['letter_form']:.2f}",
            f"{m['echo_rate']:.2f}", f"{kept}/{asked}", f"{statistics.median(seconds):.1f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--no-model", action="store_true", help="only the extractive pipeline (fast)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        services = Services(Settings(home=Path(tmp)))
        services.ingestor.run([services.settings.knowledge_dir])
        cases = cases_for("answer", load_cases(services.settings.eval_dir / "cases"))[: args.limit]
        new = [c for c in cases if c.id >= FIRST_NEW_CASE]
        rows = []
        for generate, label in ((False, "extractive (model not asked)"), (True, "with SmolLM2-135M per question")):
            if generate and args.no_model:
                continue
            records, seconds = run(services, cases, generate, label)
            rows.append(row(f"{label}, all {len(cases)} cases", cases, records, seconds))
            if new:
                rows.append(row(f"{label}, the {len(new)} mail-like cases", new, records,
                                [s for c, s in zip(cases, seconds, strict=True) if c in new]))
    header = ["pipeline", "fact coverage", "per-question facts", "right hand-overs", "wrong hand-overs",
              "forbidden said", "citations valid", "letter form", "echo rate", "model sentences kept", "p50 s"]
    text = table(header, rows) + "\n"
    print(text)
    append_results("Draft quality on the demo evaluation cases", "python bench/answer_quality.py", text)


if __name__ == "__main__":
    main()
