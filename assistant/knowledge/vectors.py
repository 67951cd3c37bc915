"""Dense vector index in chromadb (the only module importing it). We always pass our own embeddings:
chromadb's default embedding function would try to download a model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

_BATCH = 256  # chromadb fails with "too many SQL variables" on very large single calls


class VectorIndex:
    def __init__(self, path: Path, collection: str = "chunks") -> None:
        try:
            import chromadb
            from chromadb.config import Settings as ChromaSettings
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise RuntimeError("chromadb fehlt: bitte `make setup` ausführen") from exc
        path.mkdir(parents=True, exist_ok=True)
        self._client = chromadb.PersistentClient(
            path=str(path), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        )
        self._name = collection
        self._collection = self._open()

    def _open(self) -> Collection:
        return self._client.get_or_create_collection(
            name=self._name, metadata={"hnsw:space": "cosine"}, embedding_function=None
        )

    def reset(self) -> None:
        """Drop every vector (the collection, whose dimension is fixed by its first vector) and start empty."""
        self._client.delete_collection(self._name)
        self._collection = self._open()

    def count(self) -> int:
        return int(self._collection.count())

    def upsert(self, ids: list[str], vectors: np.ndarray, metadatas: list[dict[str, Any]]) -> None:
        for start in range(0, len(ids), _BATCH):
            end = start + _BATCH
            self._collection.upsert(
                ids=ids[start:end], embeddings=vectors[start:end].tolist(),
                metadatas=metadatas[start:end],  # type: ignore[arg-type]
            )

    def delete(self, ids: list[str]) -> None:
        for start in range(0, len(ids), _BATCH):
            self._collection.delete(ids=ids[start : start + _BATCH])

    def all_ids(self) -> set[str]:
        return set(self._collection.get(include=[])["ids"])

    def query(self, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        """Nearest chunks as (chunk_id, cosine similarity), best first."""
        total = self.count()
        if total == 0:
            return []
        result = self._collection.query(
            query_embeddings=[vector.tolist()], n_results=min(n, total), include=["distances"]
        )
        ids = result["ids"][0]
        distances = (result.get("distances") or [[]])[0]
        return [(cid, 1.0 - float(d)) for cid, d in zip(ids, distances, strict=True)]
