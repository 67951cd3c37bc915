"""Calibrates the per-question support threshold below which a question is handed over, by 5-fold
cross-validation over the evaluation cases (the threshold is chosen on four folds and judged on the fifth, so
the reported precision and recall are not measured on the cases that chose it).

A case counts as handed over when the mail raises a concern (legal threat, damage claim, money demand, another
person's data), is not German, or every question's support is below the threshold.
Usage: .venv/bin/python bench/handover_calibration.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.config import Settings  # noqa: E402
from assistant.evaluate.cases import cases_for, load_cases  # noqa: E402
from assistant.services import Services  # noqa: E402
from bench.common import append_results, table  # noqa: E402

FOLDS = 5
GRID = [round(0.20 + 0.01 * i, 2) for i in range(51)]
MISSED_WEIGHT = 2.0  # a missed hand-over (a wrong answer sent) costs more than an unnecessary one


def features(services: Services) -> list[tuple[str, bool, bool, list[float]]]:
    """Per case: id, hand-over expected, forced hand-over (concern/language/no question), question supports."""
    answerer = services.answerer(proven=False)
    answerer.policy = replace(answerer.policy, support_threshold=0.0, generate=False)
    answerer.questions.policy = answerer.policy
    rows = []
    for case in cases_for("answer", load_cases(services.settings.eval_dir / "cases")):
        draft = answerer.reply(case.input.subject, case.input.body, case.input.customer or None)
        supports = [s.support for s in draft.sections if s.method != "handover" or s.support > 0]
        forced = draft.handover and not supports
        rows.append((case.id, case.expectations.handover, forced, supports))
    return rows


def predict(row: tuple[str, bool, bool, list[float]], threshold: float) -> bool:
    _, _, forced, supports = row
    return forced or all(s < threshold for s in supports)


def cost(rows: list[tuple[str, bool, bool, list[float]]], threshold: float) -> float:
    wrong = sum(predict(r, threshold) and not r[1] for r in rows)
    missed = sum(not predict(r, threshold) and r[1] for r in rows)
    return wrong + MISSED_WEIGHT * missed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        services = Services(Settings(home=Path(tmp)))
        services.ingestor.run([services.settings.knowledge_dir])
        rows = features(services)
    chosen, held_out = [], []
    for fold in range(FOLDS):
        train = [r for i, r in enumerate(rows) if i % FOLDS != fold]
        test = [r for i, r in enumerate(rows) if i % FOLDS == fold]
        threshold = min(GRID, key=lambda t: (cost(train, t), abs(t - 0.45)))
        chosen.append(threshold)
        held_out += [(r, predict(r, threshold)) for r in test]
    tp = sum(p and r[1] for r, p in held_out)
    fp = sum(p and not r[1] for r, p in held_out)
    must, answerable = sum(r[1] for r in rows), sum(not r[1] for r in rows)
    recommended = statistics.median(chosen)
    body = table(
        ["thresholds per fold", "recommended", "right hand-overs (held out)", "wrong hand-overs (held out)",
         "precision", "recall"],
        [[", ".join(f"{t:.2f}" for t in chosen), f"{recommended:.2f}", f"{tp}/{must}", f"{fp}/{answerable}",
          f"{tp / (tp + fp) if tp + fp else 0:.2f}", f"{tp / must if must else 0:.2f}"]],
    )
    body += (f"\n\n{len(rows)} cases; {sum(r[2] for r in rows)} handed over by rule (concern, language, no question). "
             f"Support = ½ word support + ½ meaning closeness of the best sentence (assistant/answer/question.py).\n")
    print(body)
    append_results("Hand-over threshold by 5-fold cross-validation", "python bench/handover_calibration.py", body)


if __name__ == "__main__":
    main()
