"""The audit log is tamper-evident: every entry is chained to the one before by hash, and `kontor audit verify`
names the first link that no longer holds. Each test performs the attack with raw SQL, as someone with access
to the database would, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from assistant import audit
from assistant.config import PROJECT_ROOT
from assistant.store.db import Database, open_database
from assistant.store.tables import AuditEntry

INSERT = ("INSERT INTO audit_log (at, actor, action, ticket_id, sources, detail) "
          "VALUES (CURRENT_TIMESTAMP, 'mallory', 'approved', 1, '[]', '{}')")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = request.getfixturevalue("pg_database_url") if request.param == "postgresql" else (
        f"sqlite:///{tmp_path / 'kontor.db'}")
    db = open_database(url)
    yield db
    db.engine.dispose()


def _write(database: Database, count: int, actor: str = "anna") -> list[int]:
    for n in range(count):
        with database.session() as session:
            audit.record(session, actor, "edited", ticket_id=n + 1, draft_id=n + 1, text_sha256="a" * 64,
                         sources=["versand.md#0"], score=n)
    with database.session() as session:
        return list(session.scalars(select(AuditEntry.id).order_by(AuditEntry.id)))


def _sql(database: Database, *statements: str) -> None:
    with database.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def _drop_triggers(database: Database) -> None:
    if database.engine.dialect.name == "sqlite":
        _sql(database, "DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete")
    else:
        _sql(database, "DROP TRIGGER audit_log_append_only ON audit_log")


def _kontor_verify(database: Database) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KONTOR_HOME": str(Path(database.url.removeprefix("sqlite:///")).parent)
           if database.url.startswith("sqlite") else os.environ["KONTOR_HOME"],
           "KONTOR_DATABASE_URL": database.url, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "assistant", "audit", "verify"], capture_output=True, text=True,
                          env=env, cwd=PROJECT_ROOT, timeout=120)


def test_an_untouched_chain_verifies_also_with_several_entries_in_one_transaction(database: Database) -> None:
    _write(database, 3)
    with database.session() as session:  # two entries of one unit of work chain to each other
        audit.record(session, "anna", "promises_confirmed", ticket_id=9, kinds=["money"])
        audit.record(session, "anna", "send_requested", ticket_id=9, text_sha256="b" * 64)
    verdict = audit.verify(database)
    assert verdict.ok and verdict.chained == 5 and verdict.unchained == 0
    with database.session() as session:
        rows = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert rows[0].prev_sha256 is None
    assert all(b.prev_sha256 == a.row_sha256 for a, b in zip(rows, rows[1:], strict=False))
    assert verdict.head == rows[-1].row_sha256

    result = _kontor_verify(database)
    assert result.returncode == 0, result.stderr
    assert "Audit-Kette intakt: 5 Einträge" in result.stdout


def test_a_forged_insert_by_raw_sql_is_detected(database: Database) -> None:
    _write(database, 3)
    _sql(database, INSERT)  # past Kontor: no hash at all
    _write(database, 1)  # Kontor goes on writing after the forgery
    with database.session() as session:
        forged = session.scalar(select(AuditEntry.id).where(AuditEntry.actor == "mallory"))
    verdict = audit.verify(database)
    assert not verdict.ok and verdict.broken_at == forged and "kein Hash" in verdict.reason

    result = _kontor_verify(database)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Fehler: Audit-Kette unterbrochen bei Eintrag {forged}: {verdict.reason}"]


def test_a_forged_insert_that_imitates_the_chain_is_detected(database: Database) -> None:
    """The forger links to the real head and invents a hash: the content does not match it."""
    _write(database, 2)
    head = audit.verify(database).head
    _sql(database, INSERT.replace("ticket_id, sources, detail)", "ticket_id, sources, detail, prev_sha256, "
                                  "row_sha256)").replace("'{}')", f"'{{}}', '{head}', '{'f' * 64}')"))
    verdict = audit.verify(database)
    assert verdict.broken_at == 3 and "Inhalt passt nicht" in verdict.reason


def test_a_dropped_trigger_and_an_update_are_detected(database: Database) -> None:
    ids = _write(database, 4)
    with pytest.raises(Exception, match="append-only"):  # the database refuses while its trigger is there
        _sql(database, f"UPDATE audit_log SET actor = 'mallory' WHERE id = {ids[1]}")
    _drop_triggers(database)
    _sql(database, f"UPDATE audit_log SET actor = 'mallory' WHERE id = {ids[1]}")
    verdict = audit.verify(database)
    assert verdict.broken_at == ids[1] and "verändert" in verdict.reason

    # the attacker also fixes that entry's own hash: then the next entry no longer points to it
    with database.session() as session:
        changed = session.get(AuditEntry, ids[1])
        assert changed is not None
        fixed = audit.row_hash(changed)
    _sql(database, f"UPDATE audit_log SET row_sha256 = '{fixed}' WHERE id = {ids[1]}")
    verdict = audit.verify(database)
    assert verdict.broken_at == ids[2] and "gelöscht oder eingeschoben" in verdict.reason


def test_a_deleted_entry_is_detected(database: Database) -> None:
    ids = _write(database, 4)
    _drop_triggers(database)
    _sql(database, f"DELETE FROM audit_log WHERE id = {ids[2]}")
    verdict = audit.verify(database)
    assert verdict.broken_at == ids[3] and "gelöscht" in verdict.reason

    _sql(database, f"DELETE FROM audit_log WHERE id = {ids[0]}")  # the first one: the chain starts with a link
    assert audit.verify(database).broken_at == ids[1]


def test_entries_from_before_the_chain_are_counted_apart(database: Database) -> None:
    """A log from before migration 0005: its entries have no hash; the chain begins at the first new entry."""
    _sql(database, INSERT.replace("mallory", "old"), INSERT.replace("mallory", "old"))
    _write(database, 2)
    verdict = audit.verify(database)
    assert verdict.ok and (verdict.chained, verdict.unchained) == (2, 2)
    assert "Audit-Kette intakt: 2 Einträge (dazu 2 ältere Einträge ohne Hash)" in _kontor_verify(database).stdout


def test_concurrent_writers_keep_one_chain(database: Database) -> None:
    """Writers in parallel threads (each its own connection): nobody chains to an entry another one replaced."""
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            _write(database, 8, actor=name)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    verdict = audit.verify(database)
    assert verdict.ok and verdict.chained == 32
    with database.session() as session:
        links = list(session.scalars(select(AuditEntry.prev_sha256)))
    assert len(set(links)) == len(links)  # no fork: every entry has its own predecessor


def _kontor_verify_expect(database: Database, expect: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KONTOR_HOME": str(Path(database.url.removeprefix("sqlite:///")).parent)
           if database.url.startswith("sqlite") else os.environ["KONTOR_HOME"],
           "KONTOR_DATABASE_URL": database.url, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "assistant", "audit", "verify", "--expect", expect],
                          capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=120)


def test_a_dropped_or_disabled_trigger_alone_is_reported(database: Database) -> None:
    """Issue 10, audit anchoring: dropping the append-only triggers changes no entry, but verify names them."""
    _write(database, 2)
    assert audit.verify(database).ok
    sqlite = database.engine.dialect.name == "sqlite"
    _sql(database, "DROP TRIGGER audit_log_no_delete" if sqlite else "DROP TRIGGER audit_log_no_truncate ON audit_log")
    verdict = audit.verify(database)
    assert verdict.broken_at is None and not verdict.ok
    assert verdict.missing_triggers == (("audit_log_no_delete",) if sqlite else ("audit_log_no_truncate",))
    result = _kontor_verify(database)
    assert result.returncode == 1
    assert "Trigger fehlt oder ist abgeschaltet: " + verdict.missing_triggers[0] in result.stderr
    if sqlite:  # a trigger of that name that no longer refuses counts as missing
        _sql(database, "DROP TRIGGER audit_log_no_update",
             "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT 1; END")
        assert audit.verify(database).missing_triggers == ("audit_log_no_update", "audit_log_no_delete")
    else:  # a disabled trigger is as good as none
        _sql(database, "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        assert audit.verify(database).missing_triggers == ("audit_log_append_only", "audit_log_no_truncate")


def test_a_rewritten_chain_is_caught_against_a_hash_noted_earlier(database: Database) -> None:
    """The attacker drops the triggers, changes an entry, recomputes every hash from there to the end and puts the
    triggers back: the chain verifies, but the last hash noted earlier (e.g. in a backup) is no longer in it."""
    ids = _write(database, 4)
    noted = audit.verify(database).head
    assert noted is not None
    _write(database, 1)  # the log grows after the note: the noted entry is still there
    result = _kontor_verify_expect(database, noted)
    assert result.returncode == 0, result.stderr
    assert f"Erwarteter Hash {noted} ist unverändert Teil der Kette" in result.stdout

    _drop_triggers(database)
    _sql(database, f"UPDATE audit_log SET actor = 'mallory' WHERE id = {ids[1]}")
    with database.session() as session:
        rows = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
        previous = rows[0].row_sha256
        fixes = []
        for row in rows[1:]:
            row.prev_sha256 = previous
            previous = audit.row_hash(row)
            fixes.append(f"UPDATE audit_log SET prev_sha256 = '{row.prev_sha256}', row_sha256 = '{previous}' "
                         f"WHERE id = {row.id}")
        session.expunge_all()
    _sql(database, *fixes)
    if database.engine.dialect.name == "sqlite":
        _sql(database, *(f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                         "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END" for verb in ("UPDATE", "DELETE")))
    else:
        _sql(database, "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
                       "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()")
    assert audit.verify(database).ok  # the rewritten chain holds together by itself
    verdict = audit.verify(database, expect=noted)
    assert not verdict.ok and verdict.expected_missing == noted and verdict.broken_at is None
    result = _kontor_verify_expect(database, noted)
    assert result.returncode == 1
    assert f"Der erwartete Hash {noted} kommt in der Audit-Kette nicht vor" in result.stderr
    assert _kontor_verify_expect(database, "kein-hash").returncode == 1
