"""Personal data of one customer (GDPR Art. 15 and 17): find it in every store, export it, erase it.

The one place that knows where customer data lives. A customer is found by the address they wrote from (or that
an agent entered as recipient); from their tickets follow the drafts, reviews (edits, ratings and comments),
outbox rows and maildir files, jobs, the evaluation cases made from the tickets (with the evaluation cache and
the reports that show them), the attachments of their mails (rows and files in ``<home>/attachments``), the
labelled examples made from their texts, proven answers learned from their tickets or naming them, and log lines
that name them. Retention (assistant/retention.py) erases old tickets with
the same code, but keeps the proven answers learned from them: they carry no personal data (learning refuses
what does, assistant/answer/learning.py) and are the company's approved wording.

Not here, by design: the vector and lexical indexes hold the knowledge documents only (tickets and answers are
never indexed; proven answers live in the catalogue and are embedded at query time). The audit log keeps its
rows: they hold ids and hashes only (assistant/audit.py), and the erasure itself is logged with the address's
hash. On SQLite the database file is rebuilt afterwards (VACUUM) and its write-ahead log emptied, so no freed
page keeps the text; on PostgreSQL the rows are deleted and leave the server's files with its own VACUUM.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from assistant import audit
from assistant.categorise.examples import text_hash
from assistant.errors import InputError
from assistant.evaluate.report import write_report
from assistant.knowledge.catalogue import Catalogue
from assistant.live import LiveDrafts
from assistant.outbox import MaildirMailer
from assistant.store.db import Database
from assistant.store.tables import (
    Attachment,
    AuditEntry,
    Base,
    DraftRow,
    EvalCacheEntry,
    Job,
    LabelledExample,
    MailImport,
    OutboxMessage,
    Review,
    Ticket,
    TicketMessage,
    TicketPresence,
    User,
)
from assistant.tickets.attachments import stored_files
from assistant.tickets.intake import valid_address

_CASE_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")  # a case id from the audit log names a file: nothing else


@dataclass(frozen=True)
class PrivacyParts:
    """Where customer data lives: the stores and folders that are searched, exported and erased."""

    database: Database
    catalogue: Callable[[], Catalogue]  # opened only for proven answers (a retention purge never needs it)
    live: LiveDrafts  # drafts being written
    home: Path  # exported file names are relative to it
    eval_dir: Path  # cases/ and reports/
    log_dir: Path
    outbox_dir: Path  # the maildir

    @property
    def attachments_dir(self) -> Path:
        return self.home / "attachments"  # Settings.attachments_dir


@dataclass
class Footprint:
    """Where one customer's data (or the data of some tickets) lies."""

    tickets: list[int] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # Message-IDs of outbox rows: their maildir files
    attachments: list[str] = field(default_factory=list)  # stored names of the tickets' attachment files
    cases: list[str] = field(default_factory=list)  # evaluation cases made from the tickets
    examples: list[int] = field(default_factory=list)
    proven: list[int] = field(default_factory=list)
    marks: list[str] = field(default_factory=list)  # address and names: how a log line names the person

    def empty(self) -> bool:
        return not (self.tickets or self.cases or self.examples or self.proven)


def address_sha256(address: str) -> str:
    return hashlib.sha256(address.strip().lower().encode("utf-8")).hexdigest()


def checked_address(address: str) -> str:
    address = address.strip()
    if not valid_address(address):
        raise InputError(f"Das ist keine gültige E-Mail-Adresse: {address!r} (Beispiel: name@firma.de)")
    return address


# --- finding --------------------------------------------------------------------------------------------------

def find_customer(parts: PrivacyParts, address: str) -> Footprint:
    needle = checked_address(address).lower()
    with parts.database.session() as session:
        footprint = _footprint(parts.eval_dir, session, _tickets_of(session, needle), [needle])
        footprint.examples = sorted({*footprint.examples, *_examples_naming(session, needle)})
    footprint.proven = _proven(parts.catalogue(), footprint.tickets, footprint.marks)
    return footprint


def _tickets_of(session: Session, needle: str) -> list[int]:
    """Tickets from this address, or answered to it (a recipient an agent entered)."""
    found = set(session.scalars(select(Ticket.id).where(func.lower(Ticket.customer_email) == needle)))
    found |= set(session.scalars(select(OutboxMessage.ticket_id).where(func.lower(OutboxMessage.to_address) == needle)))
    named = session.execute(select(Ticket.id, Ticket.customer).where(
        func.lower(Ticket.customer).contains(needle, autoescape=True))).all()
    found |= {tid for tid, customer in named if parseaddr(customer)[1].lower() == needle}  # not x.a@b for a@b
    return sorted(found)


def _examples_naming(session: Session, needle: str) -> list[int]:
    return list(session.scalars(select(LabelledExample.id).where(
        func.lower(LabelledExample.text).contains(needle, autoescape=True))))


def find_tickets(parts: PrivacyParts, ticket_ids: list[int]) -> Footprint:
    with parts.database.session() as session:
        return _footprint(parts.eval_dir, session, ticket_ids, [])


def _footprint(eval_dir: Path, session: Session, tickets: list[int], marks: list[str]) -> Footprint:
    rows = list(session.scalars(select(Ticket).where(Ticket.id.in_(tickets)))) if tickets else []
    names = {parseaddr(t.customer)[0] for t in rows} | {t.customer for t in rows}
    hashes = sorted({text_hash(f"{t.subject}\n{t.body}") for t in rows})  # what a category correction learns from
    return Footprint(
        tickets=[t.id for t in rows],
        messages=list(session.scalars(select(OutboxMessage.message_id).where(OutboxMessage.ticket_id.in_(tickets)))),
        attachments=[n for n in session.scalars(select(Attachment.stored_name).where(
            Attachment.ticket_id.in_(tickets))) if n],
        cases=_cases(eval_dir, session, tickets),
        examples=list(session.scalars(select(LabelledExample.id).where(LabelledExample.text_hash.in_(hashes)))),
        marks=sorted({*marks, *(n for n in names if len(n) >= 4)}),
    )


def _cases(eval_dir: Path, session: Session, tickets: list[int]) -> list[str]:
    """Cases made from the tickets, as the audit log recorded them, that still have a file."""
    folder = eval_dir / "cases"
    found = set()
    for entry in session.scalars(select(AuditEntry).where(
            AuditEntry.action == "eval_case_created", AuditEntry.ticket_id.in_(tickets))):
        case = str((entry.detail or {}).get("case", ""))
        if _CASE_ID.match(case) and (folder / f"{case}.yaml").is_file():
            found.add(case)
    return sorted(found)


def _proven(catalogue: Catalogue, tickets: list[int], marks: list[str]) -> list[int]:
    """Proven answers learned from the customer's tickets (their question is the customer's wording), and any
    (entered by hand) that name the customer by address or full name."""
    names = [m.lower() for m in marks if "@" in m or " " in m.strip()]
    naming = {p.id for p in catalogue.proven_answers()
              if any(n in f"{p.question}\n{p.answer}".lower() for n in names)}
    return sorted(naming | set(catalogue.proven_of(tickets=tickets)))


# --- export ---------------------------------------------------------------------------------------------------

def export(parts: PrivacyParts, address: str) -> dict[str, Any]:
    """Everything stored about the customer, as plain JSON data."""
    footprint = find_customer(parts, address)
    tickets = footprint.tickets
    with parts.database.session() as session:
        drafts = list(session.scalars(select(DraftRow).where(DraftRow.ticket_id.in_(tickets))))
        reviews = session.execute(select(Review, User.name).join(User, User.id == Review.reviewer_id).where(
            Review.draft_id.in_([d.id for d in drafts]))).all()
        data = {
            "tickets": _rows(session.scalars(select(Ticket).where(Ticket.id.in_(tickets)))),
            "drafts": _rows(drafts),
            "reviews": [_row(r) | {"reviewer": name} for r, name in reviews],
            "outbox": _rows(session.scalars(select(OutboxMessage).where(OutboxMessage.ticket_id.in_(tickets)))),
            "jobs": _rows(session.scalars(select(Job).where(Job.ticket_id.in_(tickets)))),
            "attachments": _rows(session.scalars(select(Attachment).where(Attachment.ticket_id.in_(tickets))
                                                 .order_by(Attachment.id))),
            "messages": _rows(session.scalars(select(TicketMessage).where(TicketMessage.ticket_id.in_(tickets))
                                              .order_by(TicketMessage.id))),
            "mail_imports": _rows(session.scalars(select(MailImport).where(MailImport.ticket_id.in_(tickets))
                                                  .order_by(MailImport.id))),
            "audit": _rows(session.scalars(select(AuditEntry).where(AuditEntry.ticket_id.in_(tickets))
                                           .order_by(AuditEntry.id))),
            "labelled_examples": _rows(session.scalars(select(LabelledExample).where(
                LabelledExample.id.in_(footprint.examples)))),
        }
    proven = [p.__dict__ for p in parts.catalogue().proven_answers() if p.id in footprint.proven]
    return {
        "address": address.strip(), "exported_at": datetime.now(UTC).isoformat(), **data,
        "outbox_files": [_file(p, parts.home) for p in _mail_files(parts.outbox_dir, footprint.messages)],
        "attachment_files": [{"file": str(p.relative_to(parts.home)),
                              "content_base64": base64.b64encode(p.read_bytes()).decode("ascii")}
                             for p in stored_files(parts.attachments_dir, list(footprint.attachments))],
        "evaluation_cases": [_file(p, parts.eval_dir) for p in _case_files(parts.eval_dir, footprint.cases)],
        "proven_answers": proven,
        "log_lines": [{"file": str(p.relative_to(parts.log_dir)), "line": line}
                      for p, line in _log_lines(parts.log_dir, footprint.marks)],
    }


def _row(row: Base) -> dict[str, Any]:
    return {c.key: _plain(getattr(row, c.key)) for c in row.__table__.columns}


def _rows(rows: Iterable[Base]) -> list[dict[str, Any]]:
    return [_row(r) for r in rows]


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _file(path: Path, root: Path) -> dict[str, str]:
    return {"file": str(path.relative_to(root)), "content": path.read_bytes().decode("utf-8", "replace")}


# --- erasing --------------------------------------------------------------------------------------------------

@dataclass
class Erased:
    tickets: int = 0
    files: int = 0
    attachments: int = 0  # files of the tickets' attachments
    cases: int = 0
    examples: int = 0
    proven: int = 0
    log_lines: int = 0
    compacted: bool = True  # False: the write-ahead log could not be emptied (a reader held it); run again


def erase_customer(parts: PrivacyParts, address: str, actor: str) -> Erased:
    footprint = find_customer(parts, address)
    return erase(parts, footprint, actor, "customer_erased", address_sha256=address_sha256(address))


def erase(parts: PrivacyParts, footprint: Footprint, actor: str, action: str, *, compact_after: bool = True,
          **detail: Any) -> Erased:
    """Remove what ``footprint`` names from every store; the audit entry says what, by ids and hashes only.
    ``compact_after=False``: the caller compacts the database once after several erasures."""
    done = Erased(tickets=len(footprint.tickets), cases=len(footprint.cases), examples=len(footprint.examples),
                  proven=len(footprint.proven))
    mail_files = _mail_files(parts.outbox_dir, footprint.messages)  # before the rows that name them go
    attachment_files = stored_files(parts.attachments_dir, list(footprint.attachments))
    with parts.database.session() as session:
        _delete_rows(session, footprint)
        audit.record(session, actor, action, tickets=footprint.tickets, cases=footprint.cases,
                     examples=len(footprint.examples), **detail)
    for path in [*mail_files, *attachment_files, *_case_files(parts.eval_dir, footprint.cases)]:
        path.unlink(missing_ok=True)
    done.files = len(mail_files)
    done.attachments = sum(1 for p in attachment_files if "." not in p.name)  # not their thumbnails
    _scrub_reports(parts.eval_dir / "reports", set(footprint.cases))
    if footprint.proven:
        catalogue = parts.catalogue()
        catalogue.remove_proven(footprint.proven)
        done.compacted = catalogue.compact()
    done.log_lines = _scrub_logs(parts.log_dir, footprint.marks)
    for ticket_id in footprint.tickets:
        parts.live.forget(ticket_id)
    if compact_after:
        done.compacted = compact(parts.database) and done.compacted
    return done


def _delete_rows(session: Session, footprint: Footprint) -> None:
    tickets = footprint.tickets
    drafts = select(DraftRow.id).where(DraftRow.ticket_id.in_(tickets)).scalar_subquery()
    for statement in (
        delete(Review).where(Review.draft_id.in_(drafts)),
        delete(OutboxMessage).where(OutboxMessage.ticket_id.in_(tickets)),
        delete(DraftRow).where(DraftRow.ticket_id.in_(tickets)),
        delete(Attachment).where(Attachment.ticket_id.in_(tickets)),
        delete(TicketMessage).where(TicketMessage.ticket_id.in_(tickets)),
        delete(TicketPresence).where(TicketPresence.ticket_id.in_(tickets)),
        delete(MailImport).where(MailImport.ticket_id.in_(tickets)),
        delete(Job).where(Job.ticket_id.in_(tickets)),
        delete(Ticket).where(Ticket.id.in_(tickets)),
        delete(LabelledExample).where(LabelledExample.id.in_(footprint.examples)),
    ):
        session.execute(statement.execution_options(synchronize_session=False))
    if footprint.cases:  # cached results of those cases are keyed by their text: the cache goes as a whole
        session.execute(delete(EvalCacheEntry))


def _mail_files(outbox_dir: Path, message_ids: list[str]) -> list[Path]:
    maildir = MaildirMailer(outbox_dir)
    return [p for p in (maildir.find(m) for m in message_ids) if p is not None]


def _case_files(eval_dir: Path, cases: list[str]) -> list[Path]:
    folder = eval_dir / "cases"
    return [p for p in (folder / f"{c}.yaml" for c in cases) if p.is_file()]


def _scrub_reports(folder: Path, cases: set[str]) -> None:
    """Evaluation reports keep their numbers, but no longer show the erased cases' answers."""
    if not cases or not folder.is_dir():
        return
    for path in folder.glob("*/report.json"):
        report = json.loads(path.read_text(encoding="utf-8"))
        rows = report.get("per_case") or []
        kept = [row for row in rows if row.get("id") not in cases]
        if len(kept) != len(rows):
            report["per_case"] = kept
            write_report(report, path.parent)


def _log_lines(folder: Path, marks: list[str]) -> list[tuple[Path, str]]:
    needles = [m.lower() for m in marks if m]
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() and needles else []:
        for line in path.read_bytes().decode("utf-8", "replace").splitlines():
            if any(n in line.lower() for n in needles):
                found.append((path, line))
    return found


def _scrub_logs(folder: Path, marks: list[str]) -> int:
    """Drop the log lines that name the customer (log files are rewritten in place, nothing else changes)."""
    needles = [m.lower().encode("utf-8") for m in marks if m]
    removed = 0
    for path in {p for p, _ in _log_lines(folder, marks)}:
        lines = path.read_bytes().splitlines(keepends=True)
        kept = [line for line in lines if not any(n in line.lower() for n in needles)]
        removed += len(lines) - len(kept)
        temporary = path.with_name(path.name + ".erasing")
        temporary.write_bytes(b"".join(kept))
        temporary.replace(path)
    return removed


def compact(database: Database) -> bool:
    """SQLite keeps deleted text in free pages and in its write-ahead log: rebuild the file and empty the log.
    False when the log could not be emptied because another process was reading."""
    if database.engine.dialect.name != "sqlite":
        return True
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM"))
        busy = connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)")).first()
    return busy is None or busy[0] == 0
