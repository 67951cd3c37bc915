"""Engine, sessions and migrations. The schema is always brought to the newest Alembic revision on open."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self, revision: str = "head") -> None:
        """``revision``: an older one only for tests of a later migration's upgrade."""
        from alembic import command  # alembic only when migrating
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.connect() as connection, _migration(connection):
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work: committed when the block ends, rolled back on any error (no half-written state)."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


def _engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@contextmanager
def _migration(connection: Connection) -> Iterator[None]:
    """One transaction for all pending migrations. On SQLite the procedure of sqlite.org/lang_altertable.html:
    foreign keys off outside the transaction (a table rebuild drops the old table, which with them on would
    refuse or delete the rows referring to it), ``foreign_key_check`` before the commit."""
    if connection.dialect.name != "sqlite":
        with connection.begin():
            yield
        return
    _sqlite_foreign_keys(connection, on=False)
    try:
        with connection.begin():
            # pysqlite begins only at the first INSERT/UPDATE/DELETE, so earlier DDL would commit on its own;
            # IMMEDIATE: two processes never migrate the same file at once
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            yield
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"migration left rows whose foreign key points nowhere: {broken[:5]}")
    finally:
        _sqlite_foreign_keys(connection, on=True)


def _sqlite_foreign_keys(connection: Connection, on: bool) -> None:
    connection.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")  # no effect inside a transaction
    connection.commit()


def open_database(url: str) -> Database:
    database = Database(url)
    database.migrate()
    return database
