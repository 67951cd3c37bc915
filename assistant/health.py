"""Damaged state, found before a person runs into it: a vector index that lost vectors (or its files), a model
file that is no longer the registered one. Each problem names its repair; ``/api/health`` reports them and the
server logs them at start. Every check is cheap enough for a monitor polling ``/api/health``."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from assistant.knowledge.catalogue import Catalogue
from assistant.knowledge.vectors import VectorIndex, VectorIndexError

REBUILD = "kontor ingest --rebuild"
CATALOGUE_REPAIR = "die letzte Sicherung mit `kontor restore` zurückspielen, oder den Ordner index entfernen und " \
                   "`kontor ingest` ausführen (bewährte Antworten gehen dabei verloren)"
MODEL_REPAIR = "die registrierte Modelldatei wiederherstellen oder die neue Datei mit `kontor model add PFAD --use` " \
               "registrieren"


@dataclass(frozen=True)
class Problem:
    part: str  # "index" | "model" | "mailbox"
    detail: str  # German, one line, no company data (the health endpoint is public)
    repair: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def index_problem(catalogue: Callable[[], Catalogue], vectors: Callable[[], VectorIndex]) -> Problem | None:
    """Vectors against chunks: fewer vectors than catalogue chunks means search lost its dense channel for some
    (deleted or replaced index files, an interrupted rebuild). The arguments open the stores; opening may fail."""
    try:
        chunks = catalogue().chunk_count()
    except sqlite3.Error as exc:
        return Problem("index", f"Wissenskatalog nicht lesbar ({type(exc).__name__})", CATALOGUE_REPAIR)
    try:
        index = vectors()
        detail = index.detached()
        count = index.count()
    except Exception as exc:  # noqa: BLE001 - whatever chromadb raises for broken files is the finding
        cause = exc.__cause__ if isinstance(exc, VectorIndexError) and exc.__cause__ else exc
        return Problem("index", f"Vektorindex nicht lesbar ({type(cause).__name__})", REBUILD)
    if detail:
        return Problem("index", detail, f"Kontor neu starten, dann `{REBUILD}`")
    if count < chunks:
        return Problem("index", f"Vektorindex unvollständig: {count} Vektoren für {chunks} Abschnitte", REBUILD)
    return None


def mailbox_failing(error: str | None) -> Problem | None:
    """The last fetch of the shared mailbox failed (the poller keeps trying, with a growing pause)."""
    return Problem("mailbox", f"Postfach nicht abrufbar: {error}", "die IMAP-Einstellungen (KONTOR_IMAP_*) und den "
                   "Server prüfen; `kontor mail fetch` zeigt den Fehler") if error else None


def model_unusable(reason: str | None) -> Problem | None:
    return Problem("model", reason, MODEL_REPAIR) if reason else None


def report(problems: Sequence[Problem | None]) -> dict[str, object]:
    found = [p.as_dict() for p in problems if p is not None]
    return {"status": "degraded" if found else "ok", "problems": found}
