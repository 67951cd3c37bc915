"""Migration 0006: an id is never handed out twice, so an audit entry always names the row it was written for
(SQLite: AUTOINCREMENT; PostgreSQL sequences never go back), and the upgrade of a database with data keeps its
rows, foreign keys and append-only triggers. On PostgreSQL, TRUNCATE of the audit log is refused too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, delete, insert, select, text
from sqlalchemy.exc import DBAPIError

from assistant import audit
from assistant.privacy import erase_customer
from assistant.store.db import Database, open_database
from assistant.store.tables import AuditEntry, DraftRow, Job, OutboxMessage, Review, Ticket, User
from tests.harness import QUESTION, Kontor

ROWS = ("tickets", "drafts", "reviews", "outbox", "jobs", "labelled_examples", "users", "audit_log")


def _url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_database_url"))
    return f"sqlite:///{tmp_path / 'kontor.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def at_0005(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database at revision 0005 holding a working day's rows."""
    database = Database(_url(request, tmp_path))
    database.migrate("0005")
    _fill(database)
    yield database
    database.engine.dispose()


def _fill(database: Database) -> None:
    """Rows as a working day at 0005 leaves them: inserted with the columns named (the models' later columns do not
    exist yet)."""
    with database.session() as session:
        user_id = session.execute(insert(User).values(name="anna", role="agent", password_hash="x")
                                  .returning(User.id)).scalar_one()
        for n in range(3):
            ticket_id = session.execute(insert(Ticket).values(
                customer=f"Kunde {n} <k{n}@example.org>", channel="api", subject="Versand", body="Wie?",
                status="sent").returning(Ticket.id)).scalar_one()
            audit.record(session, "anna", "received", ticket_id=ticket_id)
            draft_id = session.execute(insert(DraftRow).values(
                ticket_id=ticket_id, text="Antwort", generated_text="Antwort", method="extractive",
                prompt_version="answer@v1", model="fake", model_sha256="0" * 64).returning(DraftRow.id)).scalar_one()
            audit.record(session, "system", "drafted", ticket_id=ticket_id, draft_id=draft_id)
            session.execute(insert(Review).values(draft_id=draft_id, decision="approved", text_sha256="a" * 64,
                                                  reviewer_id=user_id))
            session.execute(insert(Job).values(kind="draft", ticket_id=ticket_id, status="done", attempts=1))
            session.execute(insert(OutboxMessage).values(
                draft_id=draft_id, ticket_id=ticket_id, message_id=f"<{n}@kontor>", to_address="k@x.de",
                to_name="K", subject="Re: Versand", body="Antwort", text_sha256="a" * 64, status="delivered"))
        erased = session.execute(insert(Ticket).values(
            customer="Erika <e@example.org>", channel="api", subject="s", body="b", status="new",
        ).returning(Ticket.id)).scalar_one()
        audit.record(session, "anna", "received", ticket_id=erased)
    with database.session() as session:  # erased before the upgrade: only the audit log still names its id
        session.execute(delete(Ticket).where(Ticket.id == erased))


def _snapshot(database: Database, like: dict[str, list[Any]] | None = None) -> dict[str, list[Any]]:
    """Every row of ``ROWS``; with ``like``, each cut to the columns it had there (later migrations add columns
    at the end)."""
    with database.engine.connect() as connection:
        rows = {t: list(connection.execute(text(f"SELECT * FROM {t} ORDER BY id")).tuples()) for t in ROWS}
    if like is not None:
        rows = {t: [r[:len(old[0])] if old else r for r in rows[t]] for t, old in like.items()}
    return rows


def _refused(database: Database, statement: str) -> str:
    """The database's reason for refusing the statement; empty when it was carried out."""
    try:
        with database.engine.begin() as connection:
            connection.execute(text(statement))
    except DBAPIError as error:
        return str(error.orig)
    return ""


def test_upgrading_a_database_with_rows_keeps_rows_keys_and_triggers(at_0005: Database) -> None:
    before = _snapshot(at_0005)
    at_0005.migrate()
    assert _snapshot(at_0005, like=before) == before
    with at_0005.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() >= "0006"  # or later
    for statement in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
        assert "append-only" in _refused(at_0005, statement), statement
    orphan = ("INSERT INTO drafts (ticket_id, text, generated_text, citations, source_chunk_ids, handover, "
                      "method, prompt_version, model, model_sha256, timings_ms, created_at, updated_at, sections, "
                      "notes, flags) VALUES (4242, '', '', '[]', '[]', false, 'm', 'p', 'm', '0', '{}', "
                      "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, '[]', '[]', '[]')")
    assert "foreign key" in _refused(at_0005, orphan).lower()  # the rebuilt tables still check their keys
    assert _snapshot(at_0005, like=before) == before
    verdict = audit.verify(at_0005)
    assert verdict.ok and verdict.chained == len(before["audit_log"])  # the triggers too
    with at_0005.session() as session:  # above every id the audit log ever named, erased ones too
        ticket = Ticket(customer="Neu", channel="api", subject="s", body="b", status="new")
        session.add(ticket)
        session.flush()
        assert ticket.id > max(e.ticket_id or 0 for e in session.scalars(select(AuditEntry)))


def test_postgres_refuses_truncate_of_the_audit_log(pg_database_url: str) -> None:
    database = Database(pg_database_url)
    database.migrate("0005")
    _fill(database)
    database.migrate()
    count = len(_snapshot(database)["audit_log"])
    for statement in ("TRUNCATE audit_log", "TRUNCATE TABLE audit_log RESTART IDENTITY CASCADE",
                      "TRUNCATE tickets, audit_log CASCADE"):
        assert "append-only" in _refused(database, statement), statement
    assert len(_snapshot(database)["audit_log"]) == count
    database.engine.dispose()


def test_a_migration_that_fails_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    """All pending migrations run in one transaction: a rebuild that would leave a broken foreign key rolls back
    (SQLite's DDL would otherwise commit step by step)."""
    database = Database(f"sqlite:///{tmp_path / 'kontor.db'}")
    database.migrate("0005")
    _fill(database)
    with database.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")  # a row an older tool left behind
        connection.exec_driver_sql("UPDATE jobs SET ticket_id = 4242 WHERE id = 1")
        connection.commit()
    before = _schema_and_rows(database)
    with pytest.raises(RuntimeError, match="foreign key"):
        database.migrate()
    assert _schema_and_rows(database) == before
    database.engine.dispose()


def _schema_and_rows(database: Database) -> tuple[list[Any], dict[str, list[Any]], str]:
    with database.engine.connect() as connection:
        schema = list(connection.exec_driver_sql("SELECT type, name, sql FROM sqlite_master ORDER BY name").tuples())
        revision = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
    return schema, _snapshot(database), revision


def _ids(connection: Connection) -> dict[str, int]:
    return {t: int(connection.execute(text(f"SELECT COALESCE(MAX(id), 0) FROM {t}")).scalar_one())
            for t in ("tickets", "drafts", "reviews", "outbox", "jobs")}


def _sent_ticket(kontor: Kontor, customer: str) -> int:
    draft = kontor.drafted_ticket({**QUESTION, "customer": customer})["draft"]
    assert kontor.call("POST", f"/api/drafts/{draft['id']}/approve").status_code == 200
    assert kontor.call("POST", f"/api/drafts/{draft['id']}/send").json()["status"] == "delivered"
    return int(draft["ticket_id"])


def test_after_an_erasure_no_id_is_handed_out_again(tmp_path: Path, knowledge: Path) -> None:
    """The newest ticket (with its draft, review, outbox message and job) is erased; the next ticket's rows all
    get new ids, so the audit entries of the erased ticket never name the new customer's rows."""
    kontor = Kontor(tmp_path, knowledge)
    _sent_ticket(kontor, "Otto Normal <otto@example.net>")
    erased = _sent_ticket(kontor, "Frieda Frei <frieda@example.org>")
    with kontor.services.database.engine.connect() as connection:
        highest = _ids(connection)
    assert erase_customer(kontor.services.privacy_parts(), "frieda@example.org", "adam").tickets == 1
    with kontor.services.database.engine.connect() as connection:
        assert all(_ids(connection)[t] < highest[t] for t in highest)  # the newest rows of each table are gone
    new = _sent_ticket(kontor, "Nora Neu <nora@example.com>")
    with kontor.services.database.engine.connect() as connection:
        after = _ids(connection)
    assert new > erased and all(after[t] > highest[t] for t in highest), (highest, after)
    with kontor.services.database.session() as session:
        named = session.scalars(select(AuditEntry.ticket_id).where(AuditEntry.ticket_id == erased)).all()
        assert named and session.get(Ticket, erased) is None  # the erased ticket's entries point at nothing


def test_a_fresh_database_gets_the_same_schema(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'kontor.db'}")
    with database.engine.connect() as connection:
        tables = {name: sql for name, sql in connection.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table'").tuples()}
        triggers = set(connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").scalars())
    database.engine.dispose()
    for table in ("tickets", "drafts", "reviews", "outbox", "jobs", "labelled_examples"):
        assert "AUTOINCREMENT" in tables[table], table
    assert triggers == {"audit_log_no_update", "audit_log_no_delete"}
