"""The catalogue of indexed documents and chunks (SQLite under ``$KONTOR_HOME/index``).

It is the source of truth for what is indexed: the lexical index is rebuilt from it and vector hits whose
chunk is not in it are ignored, so a crash between the stores never surfaces half-indexed content. It also
records which embedder computed the vectors: vectors of two models are not comparable, so a changed embedder
is refused until ``kontor ingest --rebuild``.

Proven answers (``proven_answers``) are answers a person approved: entered by hand (``kontor proven add``) or
learned from an approved draft (assistant/answer/learning.py), then with the ticket and draft they came from and
the countries that mail named (a privacy erasure finds them by the ticket).

A document in a folder named ``intern`` (``knowledge/intern/…``) is marked internal: it is indexed and found by
the knowledge search, but customer drafts never see it (``all_chunks(include_internal=False)``). The mark
follows the path, so it survives every re-index and cannot be lost by a copy of the catalogue alone.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePath

from assistant.domain import Chunk
from assistant.errors import ConflictError

INTERNAL_FOLDER = "intern"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    source TEXT PRIMARY KEY, sha256 TEXT NOT NULL, size INTEGER NOT NULL, title TEXT NOT NULL,
    chunks INTEGER NOT NULL, indexed_at TEXT NOT NULL, internal INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id TEXT PRIMARY KEY, source TEXT NOT NULL, ordinal INTEGER NOT NULL, title TEXT NOT NULL,
    section TEXT NOT NULL, page INTEGER, text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_source ON chunks(source);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS proven_answers (
    id INTEGER PRIMARY KEY AUTOINCREMENT, question TEXT NOT NULL, answer TEXT NOT NULL,
    citations TEXT NOT NULL, approved_by TEXT NOT NULL, created_at TEXT NOT NULL,
    ticket_id INTEGER, draft_id INTEGER, countries TEXT NOT NULL DEFAULT ''
);
"""
# Columns added after the first release: a catalogue from before gets them on open (old rows: entered by hand).
_PROVEN_COLUMNS = {"ticket_id": "INTEGER", "draft_id": "INTEGER", "countries": "TEXT NOT NULL DEFAULT ''"}


class EmbedderMismatch(ConflictError):
    """The index holds vectors of another embedder than the configured one (HTTP 409, CLI: one line)."""

    def __init__(self, recorded: str | None, configured: str) -> None:
        if recorded is None:
            built_with = "einem unbekannten Modell (ältere Kontor-Version)"
        elif recorded == configured:
            built_with = f"einer anderen Fassung von „{recorded}“ (andere Prüfsumme der Modelldatei)"
        else:
            built_with = f"„{recorded}“"
        super().__init__(
            f"Der Wissensindex wurde mit dem Embedding-Modell {built_with} erstellt, eingestellt ist „{configured}“. "
            "Vektoren verschiedener Modelle lassen sich nicht vergleichen – bitte den Index mit "
            "`kontor ingest --rebuild` neu aufbauen (oder im Browser unter Wissen „Alles neu indexieren“)."
        )


@dataclass(frozen=True)
class EmbedderRecord:
    name: str
    identity: str  # name plus model file hash


@dataclass(frozen=True)
class ProvenAnswer:
    id: int
    question: str
    answer: str
    citations: str  # JSON list of Citation dumps
    approved_by: str
    created_at: str
    ticket_id: int | None = None  # learned from this ticket's approved draft; None: entered by hand
    draft_id: int | None = None
    countries: str = ""  # the countries the mail named, comma-separated ("" for none or entered by hand)

    def country_set(self) -> frozenset[str]:
        return frozenset(c for c in self.countries.split(",") if c)


@dataclass(frozen=True)
class DocumentRecord:
    source: str
    sha256: str
    size: int
    title: str
    chunks: int
    indexed_at: str
    internal: bool = False


def is_internal(source: str) -> bool:
    """Whether a document is for staff only: one of the folders it lies in is named ``intern`` (any case)."""
    return any(part.lower() == INTERNAL_FOLDER for part in PurePath(source).parts[:-1])


class Catalogue:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._add_proven_columns()
        self._mark_internal()

    def _add_proven_columns(self) -> None:
        if set(_PROVEN_COLUMNS) <= self._columns("proven_answers"):
            return
        with self.transaction(new_version=False) as db:  # checked per column: another process may have added some
            for name, kind in _PROVEN_COLUMNS.items():
                if name not in self._columns("proven_answers"):
                    db.execute(f"ALTER TABLE proven_answers ADD COLUMN {name} {kind}")

    def _mark_internal(self) -> None:
        """Bring every document's mark in line with its path: a catalogue from before the mark gets the column,
        and no document in an ``intern`` folder reaches a customer draft before the next re-index."""
        if self._marks_agree():
            return
        with self.transaction() as db:  # checked again inside: another process may have done it meanwhile
            if not self._marks_agree():
                if "internal" not in self._document_columns():
                    db.execute("ALTER TABLE documents ADD COLUMN internal INTEGER NOT NULL DEFAULT 0")
                rows = db.execute("SELECT source, internal FROM documents").fetchall()
                db.executemany("UPDATE documents SET internal = ? WHERE source = ?",
                               [(is_internal(r["source"]), r["source"]) for r in rows
                                if bool(r["internal"]) != is_internal(r["source"])])

    def _document_columns(self) -> set[str]:
        return self._columns("documents")

    def _columns(self, table: str) -> set[str]:
        return {row["name"] for row in self._db.execute(f"PRAGMA table_info({table})")}

    def _marks_agree(self) -> bool:
        if "internal" not in self._document_columns():
            return False
        rows = self._db.execute("SELECT source, internal FROM documents").fetchall()
        return all(bool(r["internal"]) == is_internal(r["source"]) for r in rows)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self, new_version: bool = True) -> Iterator[sqlite3.Connection]:
        """``new_version=False``: the indexed text stays as it is (proven answers), so no search index rebuilds."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        if new_version:
            self._db.execute(
                "INSERT INTO meta(key, value) VALUES('version', '1') "
                "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
            )
        self._db.execute("COMMIT")

    def version(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        return int(row["value"]) if row else 0

    def embedder(self) -> EmbedderRecord | None:
        """The embedder the vectors were computed with; None for an index that never recorded one."""
        rows = {row["key"]: row["value"] for row in self._db.execute(
            "SELECT key, value FROM meta WHERE key IN ('embedder_name', 'embedder_identity')"
        )}
        if "embedder_identity" not in rows:
            return None
        return EmbedderRecord(rows.get("embedder_name", ""), rows["embedder_identity"])

    def record_embedder(self, record: EmbedderRecord) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [("embedder_name", record.name), ("embedder_identity", record.identity)],
            )

    def copy_to(self, path: Path) -> tuple[list[str], dict[str, int]]:
        """A consistent copy (SQLite backup API, one read snapshot) for backups: the copy's chunk ids and row
        counts, so the vectors saved next belong to exactly this state."""
        # its own connection: the shared one may be inside another thread's write transaction
        with closing(sqlite3.connect(self.path, timeout=30)) as source, closing(sqlite3.connect(path)) as copy:
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            ids = [row[0] for row in copy.execute("SELECT chunk_id FROM chunks ORDER BY chunk_id")]
            counts = {table: int(copy.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
                      for table in ("documents", "chunks", "proven_answers")}
        return ids, counts

    def chunk_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def is_empty(self) -> bool:
        return self._db.execute("SELECT 1 FROM chunks LIMIT 1").fetchone() is None

    def check_embedder(self, record: EmbedderRecord) -> None:
        """EmbedderMismatch unless the index is empty or was built with exactly this embedder."""
        recorded = self.embedder()
        if (recorded is None or recorded.identity != record.identity) and not self.is_empty():
            raise EmbedderMismatch(recorded.name if recorded else None, record.name)

    def documents(self) -> dict[str, DocumentRecord]:
        rows = self._db.execute("SELECT * FROM documents ORDER BY source").fetchall()
        return {row["source"]: DocumentRecord(**{**dict(row), "internal": bool(row["internal"])}) for row in rows}

    def internal_sources(self) -> set[str]:
        return {row["source"] for row in self._db.execute("SELECT source FROM documents WHERE internal = 1")}

    def chunk_ids(self, source: str) -> set[str]:
        rows = self._db.execute("SELECT chunk_id FROM chunks WHERE source = ?", (source,))
        return {row["chunk_id"] for row in rows}

    def all_chunks(self, include_internal: bool = True) -> list[Chunk]:
        """``include_internal=False``: what a customer may be told (one statement, so one consistent state)."""
        where = "" if include_internal else "WHERE source NOT IN (SELECT source FROM documents WHERE internal = 1) "
        rows = self._db.execute(f"SELECT * FROM chunks {where}ORDER BY source, ordinal").fetchall()
        return [Chunk(**dict(row)) for row in rows]

    def get_chunks(self, chunk_ids: list[str]) -> dict[str, Chunk]:
        if not chunk_ids:
            return {}
        marks = ",".join("?" * len(chunk_ids))
        rows = self._db.execute(f"SELECT * FROM chunks WHERE chunk_id IN ({marks})", chunk_ids).fetchall()
        return {row["chunk_id"]: Chunk(**dict(row)) for row in rows}

    def replace_document(self, source: str, sha256: str, size: int, title: str, chunks: list[Chunk]) -> None:
        """Swap one document's chunks in a single transaction: readers see old or new, never a mix."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self.transaction() as db:
            db.execute("DELETE FROM chunks WHERE source = ?", (source,))
            db.executemany(
                "INSERT OR REPLACE INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(c.chunk_id, c.source, c.ordinal, c.title, c.section, c.page, c.text) for c in chunks],
            )
            db.execute(
                "INSERT OR REPLACE INTO documents(source, sha256, size, title, chunks, indexed_at, internal) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (source, sha256, size, title, len(chunks), now, is_internal(source)),
            )

    def remove_document(self, source: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM chunks WHERE source = ?", (source,))
            db.execute("DELETE FROM documents WHERE source = ?", (source,))

    def add_proven(
        self, question: str, answer: str, citations_json: str, approved_by: str, *, ticket_id: int | None = None,
        draft_id: int | None = None, countries: frozenset[str] = frozenset(),
    ) -> int | None:
        """The new answer's id; None when the same question already has the same answer (whitespace aside)."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self.transaction(new_version=False) as db:
            rows = db.execute("SELECT question, answer FROM proven_answers").fetchall()
            if any(_same(r["question"], question) and _same(r["answer"], answer) for r in rows):
                return None
            cursor = db.execute(
                "INSERT INTO proven_answers(question, answer, citations, approved_by, created_at, ticket_id, "
                "draft_id, countries) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (question, answer, citations_json, approved_by, now, ticket_id, draft_id, ",".join(sorted(countries))),
            )
        return int(cursor.lastrowid or 0)

    def proven_answers(self) -> list[ProvenAnswer]:
        rows = self._db.execute("SELECT * FROM proven_answers ORDER BY id").fetchall()
        return [ProvenAnswer(**dict(row)) for row in rows]

    def proven_of(self, *, tickets: list[int] | None = None, drafts: list[int] | None = None) -> list[int]:
        """Ids of the proven answers learned from these tickets or drafts."""
        column, ids = ("ticket_id", tickets) if tickets is not None else ("draft_id", drafts or [])
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self._db.execute(f"SELECT id FROM proven_answers WHERE {column} IN ({marks}) ORDER BY id", ids)
        return [int(row["id"]) for row in rows]

    def remove_proven(self, ids: list[int]) -> None:
        with self.transaction(new_version=False) as db:
            db.executemany("DELETE FROM proven_answers WHERE id = ?", [(i,) for i in ids])

    def compact(self) -> bool:
        """Rebuild the file and empty the write-ahead log, so deleted text leaves the disk (assistant/privacy.py);
        False when a reader kept the log from being emptied."""
        self._db.execute("VACUUM")
        busy = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return busy is None or busy[0] == 0


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())
