"""Hybrid retrieval: German-stemmed BM25 + BM25 over character 4-grams + dense vectors (chromadb).

Fusion: the candidates are the union of each channel's top N; every channel's scores are z-normalised over
those candidates and combined with weights from the settings. Measured on XQuAD-de (bench/RESULTS.md) this
beats each channel alone and naive rank fusion (RRF). The default weights were tuned there on half of the
questions and checked on the other half; with the multilingual e5 embedder the dense channel carries 0.4.

The dense channel refuses an index built with another embedder (EmbedderMismatch names
``kontor ingest --rebuild``): cosine between two models' vectors means nothing.

A retriever with ``include_internal=False`` (the one customer drafts use) knows nothing of internal documents
(catalogue.py): their chunks are in none of its indexes, so no channel can return them.

The in-memory indexes of one catalogue version form one immutable ``_Snapshot``; ``refresh`` builds a new one
and swaps the single reference, and a search takes that reference once and uses it throughout (positions,
chunks and indexes always belong together, also while another thread refreshes).
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from assistant.config import Settings
from assistant.domain import Chunk, SearchHit
from assistant.embeddings import Embedder
from assistant.knowledge.catalogue import Catalogue, EmbedderRecord
from assistant.knowledge.lexical import LexicalIndex
from assistant.knowledge.text import char_grams, content_terms
from assistant.knowledge.vectors import VectorIndex

Channel = str  # "bm25" | "ngram" | "dense"


@dataclass(frozen=True)
class FusionWeights:
    """Defaults equal the settings' ``bm25_weight``/``ngram_weight``/``dense_weight`` (a test keeps them so)."""

    bm25: float = 0.1
    ngram: float = 0.5
    dense: float = 0.4

    @classmethod
    def from_settings(cls, settings: Settings) -> FusionWeights:
        chosen = settings.retrieval
        return cls(bm25=chosen.bm25_weight, ngram=chosen.ngram_weight, dense=chosen.dense_weight)


@dataclass(frozen=True)
class _Snapshot:
    """The in-memory indexes of one catalogue version; built whole by ``refresh``, never changed afterwards."""

    version: int = -1
    chunks: tuple[Chunk, ...] = ()
    bm25: LexicalIndex | None = None
    ngram: LexicalIndex | None = None
    position: Mapping[str, int] = field(default_factory=dict)
    internal: frozenset[str] = frozenset()  # sources of the internal documents among the chunks
    hidden: int = 0  # chunks left out (internal): the vector index still holds them
    df: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ChannelScores:
    """Every chunk's score per channel, with the snapshot the chunk positions refer to (``rank`` uses that one,
    even when the retriever refreshed in between)."""

    by_channel: Mapping[Channel, np.ndarray]
    snapshot: _Snapshot

    def __bool__(self) -> bool:
        return bool(self.by_channel)


class Retriever:
    def __init__(
        self, catalogue: Catalogue, vectors: VectorIndex, embedder: Embedder, candidates: int = 50,
        weights: FusionWeights | None = None, include_internal: bool = True,
    ) -> None:
        self.catalogue = catalogue
        self.include_internal = include_internal
        self.vectors = vectors
        self.embedder = embedder
        self.candidates = candidates
        self.weights = weights or FusionWeights()
        self._lock = threading.Lock()  # one rebuild at a time; readers never take it
        self._snapshot = _Snapshot()  # replaced whole, never changed: one reference read is one consistent state
        self._checked_version = -1  # catalogue version whose embedder matched the configured one

    @classmethod
    def from_settings(
        cls, catalogue: Catalogue, vectors: VectorIndex, embedder: Embedder, settings: Settings,
        include_internal: bool = True,
    ) -> Retriever:
        return cls(catalogue, vectors, embedder, settings.retrieval.candidates, FusionWeights.from_settings(settings),
                   include_internal)

    def refresh(self) -> None:
        """Rebuild the in-memory lexical indexes if the catalogue changed since the last query."""
        self._fresh()

    def _fresh(self) -> _Snapshot:
        """The snapshot of the catalogue's current version, built if needed (once, also when several threads ask
        at the same time: the version is checked again under the lock)."""
        snapshot = self._snapshot
        if snapshot.version == self.catalogue.version():
            return snapshot
        with self._lock:
            version = self.catalogue.version()  # read before the chunks: they are at least this new
            snapshot = self._snapshot
            if snapshot.version != version:  # not already rebuilt by the thread that held the lock
                snapshot = self._build(version)
                self._snapshot = snapshot
            return snapshot

    def _build(self, version: int) -> _Snapshot:
        chunks = self.catalogue.all_chunks(self.include_internal)
        ids = [c.chunk_id for c in chunks]
        texts = [c.index_text() for c in chunks]
        return _Snapshot(
            version=version,
            chunks=tuple(chunks),
            bm25=LexicalIndex(ids, texts, content_terms),
            ngram=LexicalIndex(ids, texts, char_grams),
            position={cid: i for i, cid in enumerate(ids)},
            internal=frozenset(self.catalogue.internal_sources()) if self.include_internal else frozenset(),
            hidden=0 if self.include_internal else self.catalogue.chunk_count() - len(chunks),
            df=Counter(term for text in texts for term in set(content_terms(text))),
        )

    def siblings(self, hit: SearchHit) -> list[SearchHit]:
        """The other chunks of a hit's section (a long section, a table, split by the chunker), in document order,
        with the hit's rank and score: the rest of the table is where the asked row may be."""
        if not hit.section:
            return []
        snapshot = self._fresh()
        return [_hit(snapshot, hit.rank, snapshot.position[c.chunk_id], hit.score) for c in snapshot.chunks
                if c.source == hit.source and c.section == hit.section and c.chunk_id != hit.chunk_id]

    def knows(self, term: str) -> bool:
        """Whether the knowledge uses this stemmed term at all, as of the last ``refresh`` (called per term it
        would cost a query each)."""
        return term in self._snapshot.df

    def idf(self, term: str) -> float:
        """Inverse document frequency of a stemmed term; a term the knowledge never mentions scores highest."""
        snapshot = self._fresh()
        return math.log((len(snapshot.chunks) + 1) / (snapshot.df.get(term, 0) + 0.5))

    def search(
        self, query: str, k: int = 5, channels: tuple[Channel, ...] = ("bm25", "ngram", "dense")
    ) -> list[SearchHit]:
        vector = self.embedder.embed_query([query])[0] if "dense" in channels else None
        return self.search_with_vector(query, vector, k, channels)

    def search_many(self, queries: list[str], k: int = 5) -> list[list[SearchHit]]:
        """Batch search: the query embeddings are computed in one pass."""
        vectors = self.embedder.embed_query(queries)
        return [self.search_with_vector(q, v, k) for q, v in zip(queries, vectors, strict=True)]

    def search_with_vector(
        self, query: str, vector: np.ndarray | None, k: int = 5,
        channels: tuple[Channel, ...] = ("bm25", "ngram", "dense"),
    ) -> list[SearchHit]:
        return self.rank(self.channel_scores(query, vector, channels), k)

    def channel_scores(
        self, query: str, vector: np.ndarray | None, channels: tuple[Channel, ...] = ("bm25", "ngram", "dense"),
    ) -> ChannelScores:
        """Every chunk's score per channel; empty when there is nothing to search."""
        snapshot = self._fresh()  # taken once: every channel scores the same chunks
        scores: dict[Channel, np.ndarray] = {}
        if not snapshot.chunks or not query.strip():
            return ChannelScores(scores, snapshot)
        if "bm25" in channels and snapshot.bm25 is not None:
            scores["bm25"] = snapshot.bm25.scores(query)
        if "ngram" in channels and snapshot.ngram is not None:
            scores["ngram"] = snapshot.ngram.scores(query)
        if "dense" in channels and vector is not None:
            self._check_embedder()
            scores["dense"] = self._dense_scores(snapshot, vector)
        return ChannelScores(scores, snapshot)

    def rank(self, scores: ChannelScores, k: int = 5, weights: FusionWeights | None = None) -> list[SearchHit]:
        """The best k chunks by fused score (``weights`` overrides the configured ones, for tuning)."""
        if not scores:
            return []
        fused, candidates = self._fuse(scores.by_channel, weights or self.weights)
        ranked = np.argsort(-fused, kind="stable")[:k]
        return [_hit(scores.snapshot, rank, int(candidates[j]), float(fused[j]))
                for rank, j in enumerate(ranked, start=1)]

    def _check_embedder(self) -> None:
        """Once per catalogue version: the vectors must come from the configured embedder."""
        version = self.catalogue.version()
        if version != self._checked_version:
            self.catalogue.check_embedder(EmbedderRecord(self.embedder.name, self.embedder.identity))
            self._checked_version = version

    def _dense_scores(self, snapshot: _Snapshot, vector: np.ndarray) -> np.ndarray:
        """Cosine for chromadb's top N; chunks outside it get the lowest returned value (an upper bound). The
        index holds the left-out chunks too: asking for that many more keeps N of ours."""
        positions = snapshot.position
        nearest = [(positions[cid], sim) for cid, sim in self.vectors.query(vector, self.candidates + snapshot.hidden)
                   if cid in positions]  # vectors not in the catalogue (or left out) are ignored
        floor = min((sim for _, sim in nearest), default=0.0)
        dense = np.full(len(snapshot.chunks), floor, dtype=np.float32)
        for position, sim in nearest:
            dense[position] = sim
        return dense

    def _fuse(self, scores: Mapping[Channel, np.ndarray], weights: FusionWeights) -> tuple[np.ndarray, np.ndarray]:
        candidate_set: set[int] = set()
        for values in scores.values():
            top = np.argsort(-values, kind="stable")[: self.candidates]
            candidate_set.update(int(i) for i in top if values[i] > 0 or len(scores) == 1)
        candidates = np.array(sorted(candidate_set), dtype=np.int64)
        if len(candidates) == 0:
            return np.zeros(0), candidates
        fused = np.zeros(len(candidates), dtype=np.float64)
        for channel, values in scores.items():
            fused += getattr(weights, channel) * _zscore(values[candidates])
        return fused, candidates


def _hit(snapshot: _Snapshot, rank: int, position: int, score: float) -> SearchHit:
    chunk = snapshot.chunks[position]
    return SearchHit(
        rank=rank, score=round(score, 4), source=chunk.source, title=chunk.title, chunk_id=chunk.chunk_id,
        text=chunk.text, section=chunk.section, page=chunk.page, internal=chunk.source in snapshot.internal,
    )


def _zscore(values: np.ndarray) -> np.ndarray:
    spread = float(values.std())
    return (values - values.mean()) / spread if spread > 1e-9 else np.zeros_like(values, dtype=np.float64)
