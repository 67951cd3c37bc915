"""Dense vector index in chromadb (the only module importing it): a folder in KONTOR_HOME by default, or a chroma
server (`chroma run`, ``KONTOR_VECTORS_URL``) that several Kontor hosts share. We always pass our own embeddings:
chromadb's default embedding function would try to download a model."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import numpy as np

from assistant.errors import UnavailableError

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

T = TypeVar("T")
_BATCH = 256  # chromadb fails with "too many SQL variables" on very large single calls
_DATABASE = "chroma.sqlite3"


class VectorIndexError(UnavailableError):
    """The index files cannot be opened (German, one line, with the repair command)."""


class VectorIndex:
    def __init__(self, path: Path, collection: str = "chunks", url: str = "") -> None:
        """``url``: a chroma server instead of the folder ``path`` (``collection`` then names this company's)."""
        try:
            import chromadb  # chromadb takes seconds to import: only when the index is opened
            from chromadb.config import Settings as ChromaSettings
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise RuntimeError("chromadb fehlt: bitte `make setup` ausführen") from exc
        self.path = path
        self.url = url
        self._name = collection
        settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        try:
            if url:
                parts = urlsplit(url)
                self._client = chromadb.HttpClient(host=parts.hostname or "127.0.0.1", port=parts.port or 8000,
                                                   ssl=parts.scheme == "https", settings=settings)
            else:
                path.mkdir(parents=True, exist_ok=True)
                self._client = chromadb.PersistentClient(path=str(path), settings=settings)
            self._collection = self._open()
        except Exception as exc:  # chromadb's errors for broken files or a server have no common base
            if url:
                raise VectorIndexError(f"Vektorserver {url} nicht erreichbar ({type(exc).__name__}) – "
                                       "KONTOR_VECTORS_URL und den Server prüfen") from exc
            _forget_failed_client(path)
            raise VectorIndexError(f"Vektorindex nicht lesbar ({type(exc).__name__}: {str(exc)[:120]}) – "
                                   "Reparatur: `kontor ingest --rebuild`") from exc
        self._inode = None if url else _inode(path / _DATABASE)

    def detached(self) -> str | None:
        """Why the files this process opened are no longer the index on disk (deleted or replaced while Kontor
        ran: this process would go on reading the old, invisible copy), or None (always, on a server)."""
        if self.url:
            return None
        now = _inode(self.path / _DATABASE)
        if now is None:
            return "Die Dateien des Vektorindex wurden gelöscht, während Kontor lief"
        if now != self._inode:
            return "Die Dateien des Vektorindex wurden ersetzt, während Kontor lief"
        return None

    def _open(self) -> Collection:
        return self._client.get_or_create_collection(
            name=self._name, metadata={"hnsw:space": "cosine"}, embedding_function=None
        )

    def reset(self) -> None:
        """Drop every vector (the collection, whose dimension is fixed by its first vector) and start empty."""
        self._client.delete_collection(self._name)
        self._collection = self._open()

    def _current(self, use: Callable[[Collection], T]) -> T:
        """``use`` on the collection; on a server another host's rebuild may have replaced it (a new collection
        under the same name): then it is opened again by name, once."""
        try:
            return use(self._collection)
        except Exception as exc:
            if not self.url or type(exc).__name__ != "NotFoundError":
                raise
            self._collection = self._open()
            return use(self._collection)

    def count(self) -> int:
        return int(self._current(lambda c: c.count()))

    def upsert(self, ids: list[str], vectors: np.ndarray, metadatas: list[dict[str, Any]]) -> None:
        for start in range(0, len(ids), _BATCH):
            end = start + _BATCH
            self._current(lambda c, start=start, end=end: c.upsert(  # type: ignore[misc]
                ids=ids[start:end], embeddings=vectors[start:end].tolist(),
                metadatas=metadatas[start:end],
            ))

    def delete(self, ids: list[str]) -> None:
        for start in range(0, len(ids), _BATCH):
            self._current(lambda c, start=start: c.delete(ids=ids[start : start + _BATCH]))  # type: ignore[misc]

    def all_ids(self) -> set[str]:
        return set(self._current(lambda c: c.get(include=[]))["ids"])

    def export(self, ids: list[str]) -> Iterator[tuple[list[str], np.ndarray, list[dict[str, Any]]]]:
        """The vectors of these ids (those present), with metadata, in batches: for backups."""
        for start in range(0, len(ids), _BATCH):
            got = self._current(lambda c, start=start: c.get(  # type: ignore[misc]
                ids=ids[start : start + _BATCH], include=["embeddings", "metadatas"]))
            if got["ids"]:
                metadatas = [dict(m or {}) for m in (got.get("metadatas") or [])]
                yield list(got["ids"]), np.asarray(got.get("embeddings"), dtype=np.float32), metadatas

    def query(self, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        """Nearest chunks as (chunk_id, cosine similarity), best first."""
        total = self.count()
        if total == 0:
            return []
        result = self._current(lambda c: c.query(
            query_embeddings=[vector.tolist()], n_results=min(n, total), include=["distances"]
        ))
        ids = result["ids"][0]
        distances = (result.get("distances") or [[]])[0]
        return [(cid, 1.0 - float(d)) for cid, d in zip(ids, distances, strict=True)]


def discard(path: Path) -> None:
    """Remove an index folder without opening it: broken files can crash chromadb's native code on open, and
    ``kontor ingest --rebuild`` recomputes every vector from the catalogue anyway."""
    shutil.rmtree(path, ignore_errors=True)


def _forget_failed_client(path: Path) -> None:
    """chromadb caches a client per folder and process even when it failed to start: every later open of the
    folder (after ``--rebuild`` removed the broken files, say) would fail the same way."""
    # chromadb takes seconds to import: only when the index is opened
    from chromadb.api.shared_system_client import SharedSystemClient

    getattr(SharedSystemClient, "_identifier_to_system", {}).pop(str(path), None)


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None
