"""``kontor restore``: a backup (see ``assistant/backup.py``) back into an empty data directory and an empty
database. Nothing is written before every file matched its hash in the manifest; nothing existing is ever
overwritten or mixed with the backup."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import yaml

from assistant.backup import FORMAT, MANIFEST, BackupError, Meter, Progress, copy_file, file_entry
from assistant.config import Settings
from assistant.knowledge.catalogue import Catalogue
from assistant.knowledge.vectors import VectorIndex
from assistant.store import dump

TOP_LEVEL = {"database.sqlite", "database.pgdump", "index", "home", "folders"}
KNOWN_PARTS = {("prompts", "prompts_dir"), ("knowledge", "knowledge_dir"), ("eval", "eval_dir"),
               ("categories.yaml", "categories"), ("kontor.yaml", None)}


def read_manifest(source: Path) -> dict[str, Any]:
    path = source / MANIFEST
    if not path.is_file():
        raise BackupError(f"Keine vollständige Kontor-Sicherung: {path} fehlt")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BackupError(f"Manifest der Sicherung ist beschädigt: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("kind") != "kontor-backup":
        raise BackupError("Keine Kontor-Sicherung (manifest.json ohne kind: kontor-backup)")
    if manifest.get("format") != FORMAT:
        raise BackupError(f"Sicherungsformat {manifest.get('format')} wird nicht unterstützt (erwartet {FORMAT})")
    for rel in manifest.get("files", {}):
        _safe(rel)
    _check_parts(manifest)
    return manifest


def _check_parts(manifest: dict[str, Any]) -> None:
    """What a restore writes outside the file list must be one of ours: the settings it sets, the folders it
    fills, the database file it loads."""
    for name, info in manifest.get("folders", {}).items():
        if (name, info.get("key")) not in KNOWN_PARTS or not str(info.get("at", "")).startswith(("home/", "folders/")):
            raise BackupError(f"Manifest der Sicherung nennt einen unbekannten Teil: {name!r}")
        _safe(info["at"])
    if manifest.get("database", {}).get("file") not in ("database.sqlite", "database.pgdump"):
        raise BackupError("Manifest der Sicherung nennt keine Datenbankdatei")


def _verify(source: Path, manifest: dict[str, Any], meter: Meter) -> None:
    """Every file of the manifest is there with its size and SHA-256; else the first damaged one is named."""
    files: dict[str, dict[str, Any]] = manifest["files"]
    for rel, entry in files.items():
        path = source / rel
        if not path.is_file() or path.is_symlink():
            raise BackupError(f"Sicherung unvollständig: {rel} fehlt")
        if file_entry(path, partial(meter.add, rel)) != {"sha256": entry["sha256"], "size": entry["size"]}:
            raise BackupError(f"Sicherung beschädigt: {rel} stimmt nicht mit der Prüfsumme im Manifest überein")


def refuse_unless_empty(settings: Settings) -> None:
    """Restore never mixes with existing data: the data directory holds no file, the database no table."""
    home = settings.home
    present = sorted(p for p in home.rglob("*") if not p.is_dir()) if home.is_dir() else []
    if present:
        raise BackupError(f"Wiederherstellung nur in ein leeres Datenverzeichnis: {home} enthält bereits "
                          f"{len(present)} Datei(en), z. B. {present[0].relative_to(home)}")
    try:
        empty = dump.is_empty(settings.database)
    except Exception as exc:  # noqa: BLE001 - a database we cannot reach is a reason to stop, named in one line
        raise BackupError(f"Datenbank nicht erreichbar ({type(exc).__name__})") from exc
    if not empty:
        raise BackupError("Wiederherstellung nur in eine leere Datenbank: die eingestellte Datenbank enthält "
                          "bereits Tabellen")


def restore(settings: Settings, source: Path, progress: Progress | None = None) -> dict[str, Any]:
    """Check, then restore ``source`` into the empty data directory (and database) of ``settings``."""
    source = source.expanduser().resolve()
    manifest = read_manifest(source)
    refuse_unless_empty(settings)
    db = manifest["database"]
    if db["revision"] not in dump.known_revisions():
        raise BackupError(f"Die Sicherung stammt von einer neueren Kontor-Version (Schema {db['revision']}) – bitte "
                          "diese Version installieren")
    if db["backend"] != dump.backend(settings.database):
        raise BackupError(f"Die Sicherung enthält eine {db['backend']}-Datenbank, eingestellt ist "
                          f"{dump.backend(settings.database)} – bitte KONTOR_DATABASE_URL passend setzen")
    meter = Meter(progress, 2 * int(manifest["bytes"]))  # check every file, then copy it
    _verify(source, manifest, meter)
    settings.ensure_dirs()
    try:
        _write(settings, source, manifest, meter)
    except (BackupError, dump.DumpError, OSError) as exc:
        raise BackupError(f"{exc} – Wiederherstellung abgebrochen: bitte {settings.home} (und die Datenbank) "
                          "leeren und erneut versuchen") from exc
    return manifest


def _write(settings: Settings, source: Path, manifest: dict[str, Any], meter: Meter) -> None:
    db = manifest["database"]
    dump.load(settings.database, source / db["file"], db["backend"])
    meter.add("Datenbank", int(manifest["files"][db["file"]]["size"]))
    _restore_index(source, settings.index_dir, meter)
    for rel in manifest["files"]:
        if rel.startswith(("home/", "folders/")):
            dest = settings.home / rel.split("/", 1)[1]
            copy_file(source / rel, dest, partial(meter.add, rel))
    _point_settings(settings, manifest["folders"])
    _check_counts(settings, manifest)


def _restore_index(source: Path, index_dir: Path, meter: Meter) -> None:
    index_dir.mkdir(parents=True, exist_ok=True)
    copy_file(source / "index" / "catalogue.sqlite", index_dir / "catalogue.sqlite", partial(meter.add, "Katalog"))
    listing = json.loads((source / "index" / "vectors.json").read_text(encoding="utf-8"))
    vectors = np.load(source / "index" / "vectors.npy", allow_pickle=False)
    index = VectorIndex(index_dir / "chroma")
    if listing["ids"]:
        index.upsert(listing["ids"], vectors, listing["metadatas"])
    meter.add("Vektoren", int(vectors.nbytes))


def _point_settings(settings: Settings, folders: dict[str, dict[str, Any]]) -> None:
    """The restored settings file names where prompts, knowledge and evaluation set now are (inside the data
    directory) and the database restored into – never the original's, which a started copy would write to."""
    home = settings.home
    config = home / "kontor.yaml"
    data = yaml.safe_load(config.read_text(encoding="utf-8")) if config.is_file() else {}
    data = data or {}
    data.pop("home", None)
    if "database_url" in data:  # only where the original kept it: no password lands here that was not before
        data["database_url"] = settings.database_url
    for name, info in folders.items():
        if info.get("key"):
            data[info["key"]] = str(home / info["at"].split("/", 1)[1]) if info["at"].startswith("home/") \
                else str(home / name)
    pending = config.with_suffix(".yaml.partial")
    pending.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    pending.replace(config)


def _check_counts(settings: Settings, manifest: dict[str, Any]) -> None:
    _, rows = dump.counts(settings.database)
    if rows != manifest["database"]["counts"]:
        wrong = sorted(t for t in set(rows) | set(manifest["database"]["counts"])
                       if rows.get(t) != manifest["database"]["counts"].get(t))
        raise BackupError(f"Wiederhergestellte Datenbank weicht vom Manifest ab (Tabellen: {', '.join(wrong)})")
    catalogue = Catalogue(settings.index_dir / "catalogue.sqlite")
    try:
        if catalogue.chunk_count() != manifest["index"]["chunks"]:
            raise BackupError("Wiederhergestellter Katalog weicht vom Manifest ab")
    finally:
        catalogue.close()


def _safe(rel: str) -> str:
    """A manifest names files inside the backup only: no absolute paths, no ``..``, known top-level entries."""
    path = PurePosixPath(rel)
    if path.is_absolute() or ".." in path.parts or not path.parts or path.parts[0] not in TOP_LEVEL:
        raise BackupError(f"Manifest der Sicherung nennt einen unzulässigen Pfad: {rel!r}")
    return rel
