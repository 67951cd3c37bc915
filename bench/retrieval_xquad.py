"""Retrieval on XQuAD-de: 240 paragraphs ingested through the real pipeline, 1,190 questions.

Prints a table (hybrid vs dense-only vs BM25-only vs naive RRF, all measured in this run) and appends it to
bench/RESULTS.md. Usage: .venv/bin/python bench/retrieval_xquad.py [--limit N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.config import PROJECT_ROOT, Settings  # noqa: E402
from assistant.domain import SearchHit  # noqa: E402
from assistant.services import Services  # noqa: E402
from bench.common import append_results, table  # noqa: E402

XQUAD = PROJECT_ROOT.parent / "shared" / "data" / "xquad_de" / "xquad.de.json"
CHANNELS = {
    "dense only": ("dense",),
    "BM25 only (German stems)": ("bm25",),
    "BM25 over char 4-grams": ("ngram",),
    "hybrid (Kontor)": ("bm25", "ngram", "dense"),
}


def write_paragraphs(folder: Path, limit: int | None) -> list[tuple[str, str]]:
    """One .txt file per paragraph; returns (question, expected source) pairs."""
    data = json.loads(XQUAD.read_text(encoding="utf-8"))
    questions = []
    paragraphs = [(a["title"], p) for a in data["data"] for p in a["paragraphs"]][:limit]
    for number, (_title, paragraph) in enumerate(paragraphs):
        name = f"p{number:03d}.txt"
        (folder / name).write_text(paragraph["context"], encoding="utf-8")
        questions.extend((qa["question"], name) for qa in paragraph["qas"])
    return questions


def evaluate(ranked: list[list[SearchHit]], expected: list[str], latencies: list[float]) -> list[str]:
    hit1 = sum(r[0].source == e for r, e in zip(ranked, expected, strict=True) if r) / len(expected)
    hit5 = sum(any(h.source == e for h in r[:5]) for r, e in zip(ranked, expected, strict=True)) / len(expected)
    mrr = 0.0
    for r, e in zip(ranked, expected, strict=True):
        sources = list(dict.fromkeys(h.source for h in r))
        mrr += 1.0 / (sources.index(e) + 1) if e in sources else 0.0
    lat = sorted(latencies)
    return [f"{hit1:.3f}", f"{hit5:.3f}", f"{mrr / len(expected):.3f}", f"{statistics.median(lat):.1f}",
            f"{lat[int(0.95 * (len(lat) - 1))]:.1f}"]


def rrf(services: Services, question: str, k: int) -> list[SearchHit]:
    """Naive reciprocal-rank fusion of dense and BM25, the reference the issue names."""
    lists = [services.retriever.search(question, 50, (c,)) for c in ("bm25", "dense")]
    scores: dict[str, float] = {}
    hits: dict[str, SearchHit] = {}
    for ranked in lists:
        for hit in ranked:
            scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + 1.0 / (60 + hit.rank)
            hits[hit.chunk_id] = hit
    order = sorted(scores, key=lambda cid: -scores[cid])[:k]
    return [hits[cid] for cid in order]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="only the first N paragraphs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "xquad"
        folder.mkdir()
        questions = write_paragraphs(folder, args.limit)
        services = Services(Settings(home=Path(tmp) / "home", knowledge_dir=folder))
        services.embedder.embed(["warm-up"])
        started = time.perf_counter()
        report = services.ingestor.run([folder])
        ingest_s = time.perf_counter() - started
        chunks = len(services.catalogue.all_chunks())
        services.retriever.search("warm-up", 5)
        expected = [source for _, source in questions]
        rows = []
        for label, channels in CHANNELS.items():
            ranked, latencies = [], []
            for question, _ in questions:
                t = time.perf_counter()
                ranked.append(services.retriever.search(question, 10, channels))
                latencies.append((time.perf_counter() - t) * 1000)
            rows.append([label, *evaluate(ranked, expected, latencies)])
        ranked, latencies = [], []
        for question, _ in questions:
            t = time.perf_counter()
            ranked.append(rrf(services, question, 10))
            latencies.append((time.perf_counter() - t) * 1000)
        rows.append(["naive RRF (dense + BM25)", *evaluate(ranked, expected, latencies)])
    base = float(rows[1][1])
    for row in rows:
        row.append(f"{float(row[1]) / base:.3f}")
    header = ["method", "hit@1", "hit@5", "MRR", "p50 ms", "p95 ms", "hit@1 vs BM25"]
    text = table(header, rows)
    docs = len(report.added)
    text += (
        f"\n\nIngestion: {docs} paragraphs → {chunks} chunks in {ingest_s:.1f} s "
        f"({docs / ingest_s:.1f} documents/s, {chunks / ingest_s:.1f} chunks/s, embeddings included); "
        f"{len(questions)} questions.\n"
    )
    print(text)
    append_results("Retrieval on XQuAD-de", "python bench/retrieval_xquad.py", text)


if __name__ == "__main__":
    main()
