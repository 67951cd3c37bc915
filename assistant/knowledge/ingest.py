"""Incremental ingestion: unchanged files are skipped, changed files re-indexed, deleted files removed.

Per file the order is: parse and chunk → embed → add vectors → swap the catalogue rows (one transaction)
→ drop stale vectors. A file that fails at any step leaves what was indexed before untouched.

The index belongs to one embedder (recorded in the catalogue): a run with another one is refused until
``reset()`` (``kontor ingest --rebuild``) has dropped the vectors; every run then recomputes the vectors that
are missing from the catalogue's text, so unchanged files need not be read again.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant.domain import Chunk
from assistant.embeddings import Embedder
from assistant.knowledge.catalogue import Catalogue, DocumentRecord, EmbedderMismatch, EmbedderRecord
from assistant.knowledge.chunking import chunk_document
from assistant.knowledge.loaders import SUPPORTED_SUFFIXES, LoaderError, load
from assistant.knowledge.vectors import VectorIndex

Progress = Callable[[str], None]
SETTINGS_FILES = frozenset({"categories.yaml", "company.yaml"})  # company settings, not knowledge


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    reembedded: list[str] = field(default_factory=list)  # unchanged documents whose vectors were recomputed
    failed: dict[str, str] = field(default_factory=dict)
    chunks_written: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass(frozen=True)
class SourceFile:
    source: str  # the name citations show: relative to the knowledge folder, else the absolute path
    path: Path


class Ingestor:
    def __init__(
        self, knowledge_dir: Path, catalogue: Catalogue, vectors: VectorIndex, embedder: Embedder,
        max_file_bytes: int,
    ) -> None:
        self.knowledge_dir = knowledge_dir
        self.catalogue = catalogue
        self.vectors = vectors
        self.embedder = embedder
        self.max_file_bytes = max_file_bytes

    def discover(self, roots: Iterable[Path]) -> tuple[list[SourceFile], list[Path]]:
        """Files to index below the given files/folders, and the folders whose deletions we may apply."""
        files: list[SourceFile] = []
        folders: list[Path] = []
        for root in roots:
            root = root.resolve()
            if not root.exists():
                raise FileNotFoundError(f"Pfad nicht gefunden: {root}")
            if root.is_dir():
                folders.append(root)
                candidates = sorted(p for p in root.rglob("*") if p.is_file() and not _hidden(p, root))
            else:
                candidates = [root]
            files.extend(SourceFile(self.source_name(p), p) for p in candidates if p.name not in SETTINGS_FILES)
        return files, folders

    def source_name(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.knowledge_dir).as_posix()
        except ValueError:
            return str(path.resolve())

    def source_path(self, source: str) -> Path:
        path = Path(source)
        return path if path.is_absolute() else self.knowledge_dir / path

    def embedder_record(self) -> EmbedderRecord:
        return EmbedderRecord(self.embedder.name, self.embedder.identity)

    def needs_rebuild(self) -> bool:
        """True when the index holds vectors of another embedder than the configured one."""
        try:
            self.catalogue.check_embedder(self.embedder_record())
        except EmbedderMismatch:
            return True
        return False

    def missing_vectors(self) -> int:
        """Catalogue chunks without a vector (deleted or damaged index files): the next ``run`` recomputes them."""
        return sum(len(chunks) for chunks in self._chunks_without_vectors().values())

    def reset(self) -> None:
        """Drop every vector and adopt the configured embedder; the next ``run`` recomputes them all."""
        self.vectors.reset()
        self.catalogue.record_embedder(self.embedder_record())

    def rebuild(self, roots: Iterable[Path], progress: Progress | None = None) -> IngestReport:
        self.reset()
        return self.run(roots, progress)

    def run(self, roots: Iterable[Path], progress: Progress | None = None, reread: bool = False) -> IngestReport:
        """``reread``: parse unchanged files again too (after an update that reads documents differently)."""
        self._claim_index()
        files, folders = self.discover(roots)
        report = IngestReport()
        known = self.catalogue.documents()
        missing = self._chunks_without_vectors()
        for item in files:
            if progress:
                progress(item.source)
            written = self._ingest_one(item, known.get(item.source), report, reread)
            chunks = missing.pop(item.source, None)
            if chunks and not written:
                self._refill(item.source, chunks, report)
        seen = {f.source for f in files}
        for source in known:
            path = self.source_path(source)
            if source not in seen and not path.exists() and any(_under(path, d) for d in folders):
                self.remove(source)
                report.removed.append(source)
                missing.pop(source, None)
        for source, chunks in missing.items():  # indexed from other folders (after a reset): from the catalogue
            if progress:
                progress(source)
            self._refill(source, chunks, report)
        self._drop_orphan_vectors()
        return report

    def _claim_index(self) -> None:
        """Refuse another embedder's index; an empty index simply adopts the configured embedder."""
        record = self.embedder_record()
        self.catalogue.check_embedder(record)
        if self.catalogue.embedder() != record:
            self.vectors.reset()  # only leftovers (the index is empty); their dimension may not fit
            self.catalogue.record_embedder(record)

    def _chunks_without_vectors(self) -> dict[str, list[Chunk]]:
        have = self.vectors.all_ids()
        missing: dict[str, list[Chunk]] = defaultdict(list)
        for chunk in self.catalogue.all_chunks():
            if chunk.chunk_id not in have:
                missing[chunk.source].append(chunk)
        return missing

    def _refill(self, source: str, chunks: list[Chunk], report: IngestReport) -> None:
        self._store_vectors(chunks, self.embedder.embed_passages([c.index_text() for c in chunks]))
        report.reembedded.append(source)
        report.chunks_written += len(chunks)

    def _store_vectors(self, chunks: list[Chunk], vectors: np.ndarray) -> None:
        metadata = [{"source": c.source, "title": c.title} for c in chunks]
        self.vectors.upsert([c.chunk_id for c in chunks], vectors, metadata)

    def remove(self, source: str) -> None:
        stale = sorted(self.catalogue.chunk_ids(source))
        self.catalogue.remove_document(source)
        self.vectors.delete(stale)

    def _ingest_one(
        self, item: SourceFile, previous: DocumentRecord | None, report: IngestReport, reread: bool = False,
    ) -> bool:
        """True when the file was (re-)indexed; ``reread``: also when its hash is unchanged."""
        if item.path.suffix.lower() not in SUPPORTED_SUFFIXES:
            report.failed[item.source] = f"Dateityp {item.path.suffix or '(ohne Endung)'} wird nicht unterstützt"
            return False
        size = item.path.stat().st_size
        if size > self.max_file_bytes:
            report.failed[item.source] = f"Datei ist zu groß ({size / 1e6:.1f} MB)"
            return False
        digest = hashlib.sha256(item.path.read_bytes()).hexdigest()
        if previous is not None and previous.sha256 == digest and not reread:
            report.unchanged.append(item.source)
            return False
        try:
            doc = load(item.path)
            chunks = chunk_document(item.source, doc)
            vectors = self.embedder.embed_passages([c.index_text() for c in chunks])
        except LoaderError as exc:
            report.failed[item.source] = str(exc)
            return False
        old_ids = self.catalogue.chunk_ids(item.source)
        self._store_vectors(chunks, vectors)
        self.catalogue.replace_document(item.source, digest, size, doc.title, chunks)
        self.vectors.delete(sorted(old_ids - {c.chunk_id for c in chunks}))
        (report.updated if previous is not None else report.added).append(item.source)
        report.chunks_written += len(chunks)
        return True

    def _drop_orphan_vectors(self) -> None:
        """Vectors left by an interrupted run are invisible to search (filtered by the catalogue);
        this removes them for good."""
        known = {c.chunk_id for c in self.catalogue.all_chunks()}
        orphans = sorted(self.vectors.all_ids() - known)
        if orphans:
            self.vectors.delete(orphans)


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith((".", "_", "~$")) for part in path.relative_to(root).parts)


def _under(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder)
    except ValueError:
        return False
    return True
