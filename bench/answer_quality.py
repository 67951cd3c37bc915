"""Draft quality on the demo company's evaluation cases (eval/cases/answer-*.yaml).

Runs the full pipeline twice in the same run: with the embedded model, and with a silent model (the
extractive path alone), so the model's own contribution is visible. Usage:
.venv/bin/python bench/answer_quality.py [--limit N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.config import PROJECT_ROOT, Settings  # noqa: E402
from assistant.domain import Draft  # noqa: E402
from assistant.llm import GenerationParams, Message  # noqa: E402
from assistant.services import Services  # noqa: E402
from bench.common import append_results, table  # noqa: E402


class SilentLLM:
    name, sha256 = "none (extractive only)", ""

    def stream(self, messages: list[Message], params: GenerationParams) -> Iterator[str]:
        yield ""

    def complete_json(self, messages: list[Message], schema: dict[str, Any], params: GenerationParams) -> str:
        return "{}"


def load_cases(limit: int | None) -> list[dict[str, Any]]:
    files = sorted((PROJECT_ROOT / "eval" / "cases").glob("answer-*.yaml"))[:limit]
    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in files]


def question_of(case: dict[str, Any]) -> str:
    return f"{case['input']['subject']}\n{case['input']['body']}".strip()


def score(case: dict[str, Any], draft: Draft, chunks: dict[str, str]) -> dict[str, float]:
    exp = case["expectations"]
    text = draft.answer.lower()
    facts = [f if isinstance(f, list) else [f] for f in exp["facts"]]
    covered = sum(any(alt.lower() in text for alt in alts) for alts in facts)
    cited_ok = all(c.quote in chunks.get(c.chunk_id, "") for c in draft.citations)
    sources = [h.source for h in draft.sources[:5]]
    return {
        "handover_expected": float(exp["handover"]),
        "handover_given": float(draft.handover),
        "facts": covered / len(facts) if facts else float("nan"),
        "forbidden": float(any(f.lower() in text for f in exp["forbidden"])),
        "source_hit5": float(any(s in sources for s in exp["sources"])) if exp["sources"] else float("nan"),
        "citations_valid": float(cited_ok),
        "total_ms": draft.timings_ms.get("total_ms", 0.0),
    }


def summarise(label: str, results: list[dict[str, float]], methods: Counter[str]) -> list[str]:
    def mean(key: str, rows: list[dict[str, float]]) -> float:
        values = [r[key] for r in rows if r[key] == r[key]]
        return sum(values) / len(values) if values else 0.0

    answerable = [r for r in results if not r["handover_expected"]]
    must_hand = [r for r in results if r["handover_expected"]]
    right_handover = sum(r["handover_given"] for r in must_hand)
    wrong_handover = sum(r["handover_given"] for r in answerable)
    latencies = sorted(r["total_ms"] for r in results)
    return [
        label, f"{mean('source_hit5', answerable):.2f}", f"{mean('facts', answerable):.2f}",
        f"{right_handover:.0f}/{len(must_hand)}", f"{wrong_handover:.0f}/{len(answerable)}",
        f"{sum(r['forbidden'] for r in results):.0f}", f"{mean('citations_valid', results):.2f}",
        f"{latencies[len(latencies) // 2]:.0f}", ", ".join(f"{k} {v}" for k, v in methods.most_common()),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    cases = load_cases(args.limit)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Services(Settings(home=Path(tmp)))
        base.ingestor.run([base.settings.knowledge_dir])
        chunks = {c.chunk_id: c.text for c in base.catalogue.all_chunks()}
        for label, llm in (("extractive only (no model)", SilentLLM()), ("embedded SmolLM2-135M", None)):
            services = Services(base.settings, llm=llm or base.llm, embedder=base.embedder)
            answerer = services.answerer()
            results, methods = [], Counter[str]()
            for number, case in enumerate(cases, start=1):
                draft = answerer.draft(question_of(case))
                methods[draft.method] += 1
                results.append(score(case, draft, chunks))
                print(f"\r{label}: {number}/{len(cases)}", end="", file=sys.stderr, flush=True)
            print(file=sys.stderr)
            rows.append(summarise(label, results, methods))
    header = ["pipeline", "source hit@5", "fact coverage", "right hand-overs", "wrong hand-overs",
              "forbidden said", "citations valid", "p50 ms", "methods"]
    text = table(header, rows) + f"\n\n{len(cases)} cases from eval/cases (hand-over expected in " \
        f"{sum(c['expectations']['handover'] for c in cases)}).\n"
    print(text)
    append_results("Draft quality on the demo evaluation cases", "python bench/answer_quality.py", text)


if __name__ == "__main__":
    main()
