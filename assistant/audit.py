"""The append-only audit log: who did what, when, to which text, with which prompt, model and sources.

There is no function here (or anywhere) that changes or removes an entry; the ORM refuses it and the database
has triggers that refuse it (migration 0002), so even hand-written SQL cannot rewrite history. Someone who can
drop the triggers could; so each entry also carries the SHA-256 of its content and of the entry before it
(``row_sha256``, ``prev_sha256``), and ``verify`` finds the first link that no longer holds: a changed entry, a
deleted one, or one inserted past this module.

Entries hold ids and hashes, never customer text or addresses: the log outlives an erasure (assistant/privacy.py).

The chain starts at the first hashed entry: entries written before migration 0005 have no hash, stay as they
are and are counted apart. The chain proves that the entries are consistent, not that none were cut off at the
end or that the whole chain was not recomputed; ``verify`` names the newest hash, which each backup's manifest
keeps (``audit_head``), and ``verify(expect=…)`` checks that an entry with a hash noted earlier is still in the
chain, unchanged. ``verify`` also reports append-only triggers that are missing or disabled.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, event, func, select, text
from sqlalchemy.orm import Session

from assistant.store.db import Database
from assistant.store.tables import AuditEntry, utcnow

# PostgreSQL: one transaction-level lock for every writer of the log ("KONTOR" in ASCII)
_PG_LOCK = 0x4B4F4E544F52
# SQLite: pysqlite starts a transaction at the first write, so a plain read could see a head another writer
# is about to replace; an empty write first takes the single writer lock (BEGIN IMMEDIATE is no option here,
# the caller's transaction may be open already).
_SQLITE_LOCK = "UPDATE alembic_version SET version_num = version_num WHERE 0"


class AuditViolation(RuntimeError):
    pass


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _refuse_change(*_: Any) -> None:
    raise AuditViolation("audit_log is append-only")


def record(
    session: Session, actor: str, action: str, *, ticket_id: int | None = None, draft_id: int | None = None,
    text_sha256: str | None = None, prompt_version: str | None = None, model_sha256: str | None = None,
    sources: list[str] | None = None, **detail: Any,
) -> None:
    """Append one entry inside the caller's transaction: the entry exists exactly when the change does. The
    lock taken here is held until that transaction ends, so two writers never chain to the same entry."""
    entry = AuditEntry(
        at=utcnow(), actor=actor, action=action, ticket_id=ticket_id, draft_id=draft_id, text_sha256=text_sha256,
        prompt_version=prompt_version, model_sha256=model_sha256, sources=sources or [], detail=detail,
    )
    _lock(session)
    entry.prev_sha256 = session.scalar(select(AuditEntry.row_sha256).order_by(AuditEntry.id.desc()).limit(1))
    entry.row_sha256 = row_hash(entry)
    session.add(entry)
    session.flush()  # the next entry of this transaction chains to this one


def _lock(session: Session) -> None:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
    elif dialect == "sqlite":
        session.execute(text(_SQLITE_LOCK))


def row_hash(entry: AuditEntry) -> str:
    """SHA-256 of the entry's content and its predecessor's hash, as canonical JSON (sorted keys, no spaces;
    values as the JSON columns give them back, so the stored entry hashes to the same value)."""
    content = {
        "at": entry.at.astimezone(UTC).isoformat(), "actor": entry.actor, "action": entry.action,
        "ticket_id": entry.ticket_id, "draft_id": entry.draft_id, "text_sha256": entry.text_sha256,
        "prompt_version": entry.prompt_version,
        "model_sha256": entry.model_sha256, "sources": entry.sources or [], "detail": entry.detail or {},
        "prev_sha256": entry.prev_sha256,
    }
    canonical = json.dumps(json.loads(json.dumps(content)), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Verdict:
    chained: int  # entries in the chain that were checked
    unchained: int  # older entries before the chain began (no hash)
    broken_at: int | None = None  # id of the first entry whose link does not hold
    reason: str = ""
    head: str | None = None  # hash of the newest entry
    missing_triggers: tuple[str, ...] = ()  # append-only triggers that are gone or disabled
    expected_missing: str | None = None  # the hash given as `expect` that no entry of the chain has

    @property
    def ok(self) -> bool:
        return self.broken_at is None and not self.missing_triggers and self.expected_missing is None


# The append-only triggers the migrations create (0002, 0006), each with a text its body must contain.
_TRIGGERS = {
    "sqlite": {"audit_log_no_update": "RAISE(ABORT", "audit_log_no_delete": "RAISE(ABORT"},
    "postgresql": {"audit_log_append_only": "RAISE EXCEPTION", "audit_log_no_truncate": "RAISE EXCEPTION"},
}


def verify(database: Database, expect: str | None = None) -> Verdict:
    """Walk the log in id order; the first entry that breaks the chain ends the walk. ``expect``: a hash noted
    outside the database earlier (a backup's ``audit_head``); the chain must hold an entry with exactly that
    hash – a chain rewritten from an older entry on, or cut off, no longer does."""
    chained = unchained = 0
    previous: str | None = None
    found = expect is None
    with database.session() as session:
        missing = missing_triggers(session)
        for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.id).execution_options(yield_per=500)):
            if entry.row_sha256 is None and entry.prev_sha256 is None and chained == 0:
                unchained += 1
                continue
            reason = _broken_link(entry, previous)
            if reason:
                return Verdict(chained, unchained, entry.id, reason, previous, missing)
            chained += 1
            previous = entry.row_sha256
            found = found or entry.row_sha256 == expect
    return Verdict(chained, unchained, head=previous, missing_triggers=missing,
                   expected_missing=None if found else expect)


def missing_triggers(session: Session) -> tuple[str, ...]:
    """Names of the append-only triggers on audit_log that do not exist, are disabled, or no longer refuse."""
    dialect = session.get_bind().dialect.name
    expected = _TRIGGERS.get(dialect, {})
    if dialect == "sqlite":
        rows = session.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                                    "AND tbl_name = 'audit_log'"))
    elif dialect == "postgresql":
        rows = session.execute(text(
            "SELECT t.tgname, p.prosrc FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
            "WHERE t.tgrelid = 'audit_log'::regclass AND NOT t.tgisinternal AND t.tgenabled <> 'D'"))
    else:
        return ()
    present = {name: body or "" for name, body in rows}
    return tuple(name for name, needle in expected.items() if needle not in present.get(name, ""))


def head(session: Session) -> str | None:
    """The hash of the newest entry (None before the first hashed one)."""
    return session.scalar(select(AuditEntry.row_sha256).order_by(AuditEntry.id.desc()).limit(1))


def _broken_link(entry: AuditEntry, previous: str | None) -> str:
    if entry.row_sha256 is None:
        return "kein Hash – nach Beginn der Kette ohne Kontor eingefügt oder verändert"
    if entry.prev_sha256 != previous:
        return ("verweist nicht auf den Eintrag davor – ein Eintrag wurde gelöscht oder eingeschoben"
                if previous is not None else "die Kette beginnt mit einem Verweis – der erste Eintrag fehlt")
    if entry.row_sha256 != row_hash(entry):
        return "Inhalt passt nicht zum Hash – der Eintrag wurde nachträglich verändert"
    return ""


@dataclass(frozen=True)
class AuditQuery:
    """Which entries: of one action, by one actor, on one ticket, from ``since`` on and before ``before`` (each
    optional; the moments are the caller's, e.g. the start of a German day)."""

    action: str | None = None
    actor: str | None = None
    ticket_id: int | None = None
    since: datetime | None = None
    before: datetime | None = None

    def where(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.action:
            conditions.append(AuditEntry.action == self.action)
        if self.actor:
            conditions.append(AuditEntry.actor == self.actor)
        if self.ticket_id is not None:
            conditions.append(AuditEntry.ticket_id == self.ticket_id)
        if self.since is not None:
            conditions.append(AuditEntry.at >= self.since)
        if self.before is not None:
            conditions.append(AuditEntry.at < self.before)
        return conditions


def search(database: Database, query: AuditQuery, limit: int = 200, offset: int = 0) -> tuple[list[AuditEntry], int]:
    """One page of the entries ``query`` names, newest first, and how many there are in all."""
    conditions = query.where()
    with database.session() as session:
        total = session.scalar(select(func.count()).select_from(AuditEntry).where(*conditions)) or 0
        rows = session.scalars(select(AuditEntry).where(*conditions).order_by(AuditEntry.id.desc())
                               .limit(limit).offset(offset))
        return list(rows), total


def each(database: Database, query: AuditQuery, batch: int = 1000) -> Iterator[AuditEntry]:
    """Every entry ``query`` names, newest first, read in batches (an export of a long log holds no session open
    and no whole log in memory)."""
    below: int | None = None
    while True:
        conditions = query.where() + ([AuditEntry.id < below] if below is not None else [])
        with database.session() as session:
            rows = list(session.scalars(select(AuditEntry).where(*conditions).order_by(AuditEntry.id.desc())
                                        .limit(batch)))
        yield from rows
        if len(rows) < batch:
            return
        below = rows[-1].id


def known(database: Database) -> tuple[list[str], list[str]]:
    """The actions and the actors the log holds, each sorted: what a filter can offer."""
    with database.session() as session:
        actions = session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action))
        actors = session.scalars(select(AuditEntry.actor).distinct().order_by(AuditEntry.actor))
        return list(actions), list(actors)


def entries(database: Database, ticket_id: int | None = None, limit: int = 200) -> list[AuditEntry]:
    return search(database, AuditQuery(ticket_id=ticket_id), limit)[0]
