"""The store on a real PostgreSQL server (a throwaway one from tests/pg_server.py, or KONTOR_TEST_PG_URL)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from assistant.store.db import MIGRATIONS, Database, open_database
from assistant.store.tables import LabelledExample


def _head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def _example(text_hash: str = "a" * 64) -> LabelledExample:
    return LabelledExample(
        text="Wann kommt meine Bestellung?", text_hash=text_hash, category="Versand", source="cli", created_by="test"
    )


def _revisions(database: Database) -> list[str]:
    with database.engine.connect() as connection:
        return list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def test_open_database_migrates_a_fresh_postgres_database(pg_database_url: str) -> None:
    database = open_database(pg_database_url)
    try:
        assert database.engine.dialect.name == "postgresql"
        assert database.engine.dialect.driver == "psycopg"
        inspector = inspect(database.engine)
        assert {"labelled_examples", "alembic_version"} <= set(inspector.get_table_names())
        columns = {column["name"] for column in inspector.get_columns("labelled_examples")}
        assert {"id", "text", "text_hash", "category", "source", "created_by", "created_at", "updated_at"} <= columns
        assert _revisions(database) == [_head_revision()]

        with database.session() as session:
            session.add(_example())
        with database.session() as session:
            stored = session.scalars(select(LabelledExample)).one()
            assert stored.id is not None
            assert (stored.category, stored.source) == ("Versand", "cli")
            assert stored.created_at.tzinfo is not None  # timestamptz round-trips with its zone

        # the unique constraint from the migration holds on PostgreSQL too, and a failed unit of work rolls back
        with pytest.raises(IntegrityError), database.session() as session:
            session.add(_example())
        with database.session() as session:
            assert session.scalar(select(func.count()).select_from(LabelledExample)) == 1
    finally:
        database.engine.dispose()


def test_open_database_twice_is_idempotent(pg_database_url: str) -> None:
    first = open_database(pg_database_url)
    try:
        with first.session() as session:
            session.add(_example())
    finally:
        first.engine.dispose()

    second = open_database(pg_database_url)
    try:
        assert _revisions(second) == [_head_revision()]
        assert "labelled_examples" in inspect(second.engine).get_table_names()
        with second.session() as session:
            assert session.scalar(select(func.count()).select_from(LabelledExample)) == 1
            session.add(_example("b" * 64))
        with second.session() as session:
            assert session.scalar(select(func.count()).select_from(LabelledExample)) == 2
    finally:
        second.engine.dispose()


def test_truncate_of_the_audit_log_is_refused(pg_database_url: str) -> None:
    """TRUNCATE fires no row trigger: migration 0006 adds a statement trigger beside UPDATE/DELETE's."""
    from assistant import audit
    from assistant.store.tables import AuditEntry

    database = open_database(pg_database_url)
    try:
        with database.session() as session:
            audit.record(session, "anna", "received", ticket_id=1)
        for statement in ("TRUNCATE audit_log", "TRUNCATE TABLE audit_log RESTART IDENTITY CASCADE"):
            with pytest.raises(DBAPIError, match="append-only"), database.engine.begin() as connection:
                connection.execute(text(statement))
        with database.session() as session:
            assert session.scalar(select(func.count()).select_from(AuditEntry)) == 1
    finally:
        database.engine.dispose()
