"""``kontor backup``: a consistent copy of everything Kontor keeps, taken while it runs (``assistant/restore.py``
brings it back into an empty data directory).

A backup folder holds:

    manifest.json              versions, counts, the SHA-256 and size of every other file; written last, so a
                               folder without it is an unfinished backup
    database.sqlite | .pgdump  the database (store/dump.py: SQLite backup API or pg_dump, one snapshot each)
    index/catalogue.sqlite     documents, chunks, proven answers; the lexical index is rebuilt from it in memory
    index/vectors.npy + .json  the dense vectors of exactly the catalogue copy's chunks, with ids and metadata
    home/…                     the rest of the data directory: settings, model registry, outbox, attachments
                               of imported mails, logs
    folders/<name>/…           prompts, knowledge documents, evaluation set, when they live outside the data
                               directory; a restore puts them inside it and points the settings file there

Model files are not copied (the company keeps the originals; the manifest lists name, size and SHA-256).

The order matters while the server writes: database, catalogue, vectors, files. A mail delivered meanwhile is in
the outbox copy but still pending in the database copy and is delivered again after a restore, which the maildir
ignores (same Message-ID); a vector missing for a chunk added meanwhile is recomputed by ``kontor ingest``.
The hashes detect damage, not a forger who also rewrites the manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine, text

from assistant.config import Settings
from assistant.errors import ConflictError
from assistant.knowledge.catalogue import Catalogue
from assistant.knowledge.vectors import VectorIndex
from assistant.models import registered_models
from assistant.store import dump

FORMAT = 1
MANIFEST = "manifest.json"
Progress = Callable[[str, int, int], None]  # (what is being copied, bytes done, bytes in all)


class BackupError(ConflictError):
    """A backup or restore refused or failed; German, one line."""


@dataclass(frozen=True)
class Part:
    """A folder (or file) the settings name, kept in the backup under ``at`` and restored to ``home/name``."""

    name: str
    key: str | None  # the setting that points at it after a restore
    path: Path


class Meter:
    """Bytes done of bytes in all (an estimate that grows when a file did), for the progress callback."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress, self.total, self.done = progress, max(total, 1), 0

    def add(self, item: str, size: int) -> None:
        self.done += size
        self.total = max(self.total, self.done)
        if self.progress:
            self.progress(item, self.done, self.total)


# --- backup ----------------------------------------------------------------------------------------------------

def backup(settings: Settings, target: Path, catalogue: Catalogue, vectors: VectorIndex | None,
           progress: Progress | None = None) -> dict[str, Any]:
    """Copy everything into the new or empty folder ``target``; returns the manifest. ``vectors`` None (an
    unreadable index): the backup holds none, and ``kontor ingest`` recomputes them after a restore."""
    started = time.monotonic()
    target = _new_folder(target, settings)
    home_files = list(_home_files(settings))
    outside = [(part, list(_files_below(part.path))) for part in parts(settings)
               if not _inside(part.path, settings.home)]
    meter = Meter(progress, sum(_size(p) for p in (sqlite_file(settings), settings.index_dir))
                   + sum(_size(p) for p, _ in home_files) + sum(_size(p) for _, fs in outside for p, _ in fs))
    audit_head = _audit_head(settings.database)  # in the snapshot taken next, as the log only grows
    db, index_counts, files = _copy_stores(settings, target, catalogue, vectors, meter)
    for source, rel in home_files:
        _copy_into(files, source, target, f"home/{rel}", meter)
    folders = {part.name: {"key": part.key, "at": f"home/{part.path.relative_to(settings.home).as_posix()}"}
               for part in parts(settings) if _inside(part.path, settings.home)}
    for part, part_files in outside:
        folders[part.name] = {"key": part.key, "at": f"folders/{part.name}"}
        for source, rel in part_files:
            _copy_into(files, source, target, f"folders/{part.name}/{rel}".rstrip("/"), meter)
    manifest = _manifest(settings, db, index_counts, folders, files, time.monotonic() - started)
    manifest["audit_head"] = audit_head
    _write_manifest(target, manifest)
    return manifest


def _copy_stores(settings: Settings, target: Path, catalogue: Catalogue, vectors: VectorIndex | None,
                 meter: Meter) -> tuple[dump.DatabaseCopy, dict[str, int], dict[str, dict[str, Any]]]:
    """Database, then catalogue, then the vectors of exactly the catalogue copy's chunks."""
    try:
        db = dump.dump(settings.database, target)
    except dump.DumpError as exc:
        raise BackupError(str(exc)) from exc
    meter.add("Datenbank", _size(target / db.file))
    (target / "index").mkdir()
    chunk_ids, index_counts = catalogue.copy_to(target / "index" / "catalogue.sqlite")
    meter.add("Katalog", _size(target / "index" / "catalogue.sqlite"))
    index_counts["vectors"] = _save_vectors(vectors, chunk_ids, target / "index")
    meter.add("Vektoren", _size(target / "index" / "vectors.npy"))
    names = (db.file, "index/catalogue.sqlite", "index/vectors.npy", "index/vectors.json")
    return db, index_counts, {rel: file_entry(target / rel) for rel in names}


def parts(settings: Settings) -> list[Part]:
    found = [Part("prompts", "prompts_dir", settings.prompts_dir), Part("knowledge", "knowledge_dir",
             settings.knowledge_dir), Part("eval", "eval_dir", settings.eval_dir)]
    if settings.categories is not None and not _inside(settings.categories_file, settings.knowledge_dir):
        found.append(Part("categories.yaml", "categories", settings.categories_file))
    config = settings.settings_file.resolve()
    if not _inside(config, settings.home):  # a settings file of the home is in the backup with the home
        found.append(Part("kontor.yaml", None, config))
    return [part for part in found if part.path.exists()]


def sqlite_file(settings: Settings) -> Path | None:
    return dump.sqlite_path(settings.database).resolve() if dump.backend(settings.database) == "sqlite" else None


def _new_folder(target: Path, settings: Settings) -> Path:
    target = target.expanduser().resolve()
    for folder in [settings.home, *(part.path for part in parts(settings))]:
        if _inside(target, folder):
            raise BackupError(f"Die Sicherung darf nicht in einem gesicherten Ordner liegen ({folder})")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(f"{target} ist nicht leer – bitte einen neuen Ordner für die Sicherung angeben")
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    target.chmod(0o700)  # customer mail inside
    return target


def _home_files(settings: Settings) -> Iterator[tuple[Path, str]]:
    """The data directory without what is copied by other means (database, index) or half-written."""
    database = sqlite_file(settings)
    skip = {database.with_name(database.name + s) for s in ("", "-wal", "-shm", "-journal")} if database else set()
    skip_dirs = {settings.index_dir.resolve(), (settings.outbox_dir / "tmp").resolve()}
    for source, rel in _files_below(settings.home):
        if source not in skip and not any(_inside(source, d) for d in skip_dirs):
            yield source, rel


def _files_below(root: Path) -> Iterator[tuple[Path, str]]:
    """Regular files (no links, no half-written uploads) below a folder, or the file itself, sorted."""
    if root.is_file():
        yield root.resolve(), ""
        return
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink() and not name.startswith(".upload-"):
                yield path.resolve(), path.relative_to(root).as_posix()


def _save_vectors(vectors: VectorIndex | None, chunk_ids: list[str], folder: Path) -> int:
    ids: list[str] = []
    blocks: list[np.ndarray] = []
    metadatas: list[dict[str, Any]] = []
    for batch_ids, batch, batch_meta in vectors.export(chunk_ids) if vectors is not None else []:
        ids += batch_ids
        blocks.append(batch)
        metadatas += batch_meta
    np.save(folder / "vectors.npy", np.concatenate(blocks) if blocks else np.zeros((0, 0), dtype=np.float32))
    (folder / "vectors.json").write_text(json.dumps({"ids": ids, "metadatas": metadatas}), encoding="utf-8")
    return len(ids)


def _copy_into(files: dict[str, dict[str, Any]], source: Path, target: Path, rel: str, meter: Meter) -> None:
    try:
        files[rel] = copy_file(source, target / rel, partial(meter.add, rel))
    except FileNotFoundError:  # removed while we copied (a sent mail moved, a document deleted)
        (target / rel).unlink(missing_ok=True)


def copy_file(source: Path, dest: Path, tick: Callable[[int], None]) -> dict[str, Any]:
    """Copy and hash the very bytes written, so a file growing meanwhile (a log) still matches its entry."""
    digest, size = hashlib.sha256(), 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as src, dest.open("xb") as out:
        while block := src.read(1 << 20):
            out.write(block)
            digest.update(block)
            size += len(block)
            tick(len(block))
        stat = os.fstat(src.fileno())  # the file we read, even if it was moved away meanwhile
    os.utime(dest, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return {"sha256": digest.hexdigest(), "size": size}


def _audit_head(url: str) -> str | None:
    """The newest hash of the audit chain: an anchor outside the database, for `kontor audit verify --expect`."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            value = connection.scalar(text("SELECT row_sha256 FROM audit_log ORDER BY id DESC LIMIT 1"))
    finally:
        engine.dispose()
    return str(value) if value else None


def _manifest(settings: Settings, db: dump.DatabaseCopy, index: dict[str, int], folders: dict[str, Any],
              files: dict[str, dict[str, Any]], seconds: float) -> dict[str, Any]:
    def count(prefix: str) -> int:
        return sum(1 for rel in files if rel.startswith(prefix))

    outbox = f"home/{settings.outbox_dir.relative_to(settings.home).as_posix()}/"
    attachments = f"home/{settings.attachments_dir.relative_to(settings.home).as_posix()}/"
    return {
        "format": FORMAT, "kind": "kontor-backup", "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": {"kontor": _version("kontor"), "python": platform.python_version(), "chromadb":
                     _version("chromadb"), "database": db.tool},
        "database": {**asdict(db)},
        "index": index,
        "folders": folders,
        "models": [{"name": m.name, "file": m.path.name, "size": m.size, "sha256": m.sha256}
                   for m in registered_models(settings) if not m.builtin],
        "counts": {"outbox_mails": count(outbox + "new/") + count(outbox + "cur/"),
                   "attachment_files": count(attachments), "files": len(files),
                   **{f"{name}_files": count(info["at"] + "/") for name, info in folders.items()}},
        "bytes": sum(entry["size"] for entry in files.values()), "seconds": round(seconds, 2),
        "files": files,
    }


def _write_manifest(target: Path, manifest: dict[str, Any]) -> None:
    pending = target / (MANIFEST + ".partial")
    pending.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    pending.replace(target / MANIFEST)


# --- helpers ---------------------------------------------------------------------------------------------------

def file_entry(path: Path, tick: Callable[[int], None] | None = None) -> dict[str, Any]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            size += len(block)
            if tick:
                tick(len(block))
    return {"sha256": digest.hexdigest(), "size": size}


def _size(path: Path | None) -> int:
    """Bytes in a file or below a folder, for the progress bar's estimate (files may vanish meanwhile)."""
    if path is None:
        return 0
    total = 0
    for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
        try:
            total += item.stat().st_size if item.is_file() else 0
        except FileNotFoundError:
            continue
    return total


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return ""
