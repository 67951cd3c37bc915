"""Shared output helpers for the benchmarks: a Markdown table printed and appended to RESULTS.md."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def append_results(title: str, command: str, body: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.machine()}, {platform.python_version()}"
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write(f"\n## {title} ({stamp}, {machine})\n\nCommand: `{command}`\n\n{body}\n")
