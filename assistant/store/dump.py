"""Consistent copies of the database while Kontor runs, and loading one into an empty database.

SQLite: the backup API in one step, i.e. one read snapshot (WAL readers never block the server's writes; a
stepwise copy would restart whenever the server writes). PostgreSQL: ``pg_dump`` of a snapshot exported by a
REPEATABLE READ transaction that also counts the rows, so the counts describe exactly the dumped state.
Credentials go to pg_dump/pg_restore through the environment, never on a command line others can read.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import sqlite3
import subprocess
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, create_engine, make_url, text

from assistant.errors import UnavailableError
from assistant.store.db import MIGRATIONS


class DumpError(UnavailableError):
    """The database could not be copied or loaded (German, one line)."""


@dataclass(frozen=True)
class DatabaseCopy:
    backend: str  # "sqlite" | "postgresql"
    file: str  # name of the copy inside the backup folder
    revision: str  # Alembic revision of the copied schema
    counts: dict[str, int]  # rows per table
    tool: str  # "sqlite 3.x" or pg_dump's version line


def backend(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def dump(url: str, folder: Path) -> DatabaseCopy:
    return _dump_sqlite(url, folder) if backend(url) == "sqlite" else _dump_postgres(url, folder)


def load(url: str, copy: Path, copied_backend: str) -> None:
    """Load a copy into the (empty) database ``url``; the backends must match."""
    if copied_backend != backend(url):
        raise DumpError(f"Die Sicherung enthält eine {copied_backend}-Datenbank, eingestellt ist {backend(url)} – "
                        "bitte KONTOR_DATABASE_URL passend setzen")
    if backend(url) == "sqlite":
        _load_sqlite(copy, sqlite_path(url))
    else:
        _pg_tool("pg_restore", url, ["--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
                                     "--dbname", make_url(url).database or "", str(copy)])


def is_empty(url: str) -> bool:
    """No tables at all (SQLite: no file or an empty one)."""
    if backend(url) == "sqlite":
        path = sqlite_path(url)
        return not path.exists() or path.stat().st_size == 0
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return not _table_names(connection)
    finally:
        engine.dispose()


def counts(url: str) -> tuple[str, dict[str, int]]:
    """(Alembic revision, rows per table) of a database, to compare with a backup's manifest."""
    if backend(url) == "sqlite":
        with closing(sqlite3.connect(sqlite_path(url))) as db:
            return _sqlite_counts(db)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return _pg_counts(connection)
    finally:
        engine.dispose()


def sqlite_path(url: str) -> Path:
    return Path(make_url(url).database or "")


# --- SQLite ----------------------------------------------------------------------------------------------------

def _dump_sqlite(url: str, folder: Path) -> DatabaseCopy:
    source = sqlite_path(url)
    if not source.is_file():
        raise DumpError(f"Datenbank nicht gefunden: {source}")
    target = folder / "database.sqlite"
    with closing(sqlite3.connect(source, timeout=30)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)  # pages=-1: the whole file from one read snapshot
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        if (check := dst.execute("PRAGMA quick_check").fetchone()[0]) != "ok":
            raise DumpError(f"Die Kopie der Datenbank ist beschädigt: {check}")
        revision, rows = _sqlite_counts(dst)
    return DatabaseCopy("sqlite", target.name, revision, rows, f"sqlite {sqlite3.sqlite_version}")


def _load_sqlite(copy: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(copy)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def _sqlite_counts(db: sqlite3.Connection) -> tuple[str, dict[str, int]]:
    names = [row[0] for row in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    rows = {name: int(db.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0]) for name in names
            if name != "alembic_version"}
    revision = db.execute("SELECT version_num FROM alembic_version").fetchone() if "alembic_version" in names else None
    return (revision[0] if revision else ""), rows


# --- PostgreSQL ------------------------------------------------------------------------------------------------

def _dump_postgres(url: str, folder: Path) -> DatabaseCopy:
    target = folder / "database.pgdump"
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                snapshot = str(connection.execute(text("SELECT pg_export_snapshot()")).scalar_one())
                revision, rows = _pg_counts(connection)
                _pg_tool("pg_dump", url, ["--format=custom", "--no-owner", "--no-privileges",
                                          f"--snapshot={snapshot}", f"--file={target}"])
    finally:
        engine.dispose()
    return DatabaseCopy("postgresql", target.name, revision, rows, _pg_version("pg_dump"))


def _pg_counts(connection: Connection) -> tuple[str, dict[str, int]]:
    names = _table_names(connection)
    rows = {name: int(connection.execute(text(f'SELECT COUNT(*) FROM "{name}"')).scalar_one())
            for name in names if name != "alembic_version"}
    revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar() \
        if "alembic_version" in names else None
    return str(revision or ""), rows


def _table_names(connection: Connection) -> list[str]:
    return sorted(connection.execute(text(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")).scalars())


def _pg_tool(name: str, url: str, args: list[str]) -> None:
    result = subprocess.run([str(_pg_binary(name)), *args], capture_output=True, text=True, env=_pg_env(url),
                            timeout=24 * 3600)
    if result.returncode != 0:
        reason = " ".join((result.stderr or result.stdout).split())[:300]
        raise DumpError(f"{name} fehlgeschlagen: {reason}")


def _pg_env(url: str) -> dict[str, str]:
    parsed = make_url(url)
    env = {**os.environ, "PGHOST": parsed.host or str(parsed.query.get("host", "")),
           "PGPORT": str(parsed.port or 5432), "PGUSER": parsed.username or "", "PGDATABASE": parsed.database or ""}
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    if "sslmode" in parsed.query:
        env["PGSSLMODE"] = str(parsed.query["sslmode"])
    return env


def _pg_binary(name: str) -> Path:
    """The newest installed client (Debian: /usr/lib/postgresql/N/bin), else the one on PATH."""
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version_key, reverse=True)
    found = versions[0] if versions else shutil.which(name)
    if not found:
        raise DumpError(f"{name} nicht gefunden: bitte die PostgreSQL-Clientprogramme installieren "
                        "(Debian: postgresql-client)")
    return Path(found)


def _pg_version(name: str) -> str:
    result = subprocess.run([str(_pg_binary(name)), "--version"], capture_output=True, text=True, timeout=60)
    return result.stdout.strip()


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"/postgresql/(\d+)", path)) or (0,)


def known_revisions() -> set[str]:
    """Schema revisions this Kontor can migrate from (a backup of a newer Kontor has one it does not know)."""
    from alembic.config import Config  # alembic only when a backup's revision is checked
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
