"""Fetching the shared mailbox: each mail becomes a ticket, a follow-up, or is set aside — exactly once.

A mail is known by (mailbox, UIDVALIDITY, UID) in ``mail_imports``. Its row is written *before* the mail is read
into a ticket and marked done only after the server flagged or moved it; a crash in between leaves a row that is
not done, and the next fetch finishes it (reading it again finds the ticket by its Message-ID — a mail without one
gets a Message-ID made of the mailbox's UIDVALIDITY and UID, so even that one is not imported twice). A mail that
cannot be read — whatever the parser or the intake raised — is moved to the quarantine folder and reported; it
never blocks the mails after it.

Several fetchers may read the same mailbox at once (the web process and workers). Writing the row is the claim: a
fetcher that finds a mail claimed by another one skips it quietly, and the other one imports, flags and counts it.
A claim that was let go (the connection broke while reading) is taken over by the next fetch at once; one whose
fetcher died is taken over after ``CLAIM_S``. Should two fetchers still read the same mail into tickets at the
same moment (two Kontor installations on one mailbox, different ``KONTOR_IMAP_HOST`` spellings), the unique
Message-ID refuses the second ticket and that mail is recorded as a duplicate.

The last success and the last error are stored in ``mailbox_state`` for the Übersicht and /api/health.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError, SQLAlchemyError

from assistant import audit
from assistant.config import ImapSettings
from assistant.errors import KontorError
from assistant.mailbox.client import Mailbox, MailboxError, connect, label
from assistant.store.db import Database
from assistant.store.tables import MailboxState, MailImport
from assistant.tickets.intake import MAX_EML_BYTES, Imported, Intake, Outcome, parse_mail

log = logging.getLogger("kontor.mailbox")
PENDING = "pending"  # a row written before the mail was read into a ticket
CLAIM_S = 600  # a pending row's claim younger than this belongs to a fetcher at work (far longer than one import)
_CLAIM = "Abruf "  # the ``detail`` of a pending row: the claiming fetcher's token


@dataclass
class FetchReport:
    outcomes: dict[str, int] = field(default_factory=dict)  # Outcome value -> count
    quarantined: list[str] = field(default_factory=list)  # the reasons, one line each

    def add(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    @property
    def imported(self) -> int:
        return self.outcomes.get(Outcome.TICKET, 0) + self.outcomes.get(Outcome.JOINED, 0)

    def summary(self) -> str:
        names = {Outcome.TICKET: "neue Tickets", Outcome.JOINED: "Folgenachrichten", Outcome.DUPLICATE: "doppelt",
                 Outcome.AUTO_REPLY: "automatische Antworten", Outcome.BOUNCE: "Unzustellbarkeitsmeldungen",
                 Outcome.QUARANTINED: "in Quarantäne"}
        parts = [f"{n} {names.get(Outcome(k), k)}" for k, n in self.outcomes.items() if n]
        return ", ".join(parts) or "keine neuen E-Mails"


@dataclass(frozen=True)
class Status:
    mailbox: str
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    failures: int
    imported: int

    @property
    def failing(self) -> bool:
        return self.last_error is not None and (self.last_success_at is None or self.last_error_at is None
                                                or self.last_error_at > self.last_success_at)


class Fetcher:
    def __init__(self, database: Database, intake: Intake, settings: ImapSettings,
                 opener: Callable[[ImapSettings], AbstractContextManager[Mailbox]] = connect) -> None:
        self.database = database
        self.intake = intake
        self.settings = settings
        self.opener = opener
        self.mailbox = label(settings)
        self._seen_next = (0, 0)  # (UIDVALIDITY, UIDNEXT) when the last fetch started

    def fetch_once(self, progress: Callable[[int, int], None] | None = None) -> FetchReport:
        """Read every new mail once; the outcome (or the error) is stored for the status display."""
        try:
            with self.opener(self.settings) as box:
                report = self._fetch(box, progress)
        except Exception as exc:  # shown on the Übersicht whatever it was; the caller retries
            self._failed(str(exc) if isinstance(exc, MailboxError) else _unexpected(exc))
            raise
        self._succeeded(report)
        return report

    def wait_for_mail(self, seconds: float, stopped: Callable[[], bool] = lambda: False) -> bool | None:
        """IDLE on the folder for up to ``seconds``; None when the server has no IDLE (the caller sleeps)."""
        with self.opener(self.settings) as box:
            if (box.uidvalidity, box.uidnext) != self._seen_next and box.uidnext:
                return True  # arrived between the fetch and this wait: IDLE would not announce it
            return box.wait(seconds, stopped)

    def store_copy(self, folder: str, data: bytes) -> None:
        """A sent answer into the mailbox's Sent folder."""
        with self.opener(self.settings.model_copy(update={"folder": "INBOX"})) as box:
            box.store(folder, data)

    # --- one pass -------------------------------------------------------------------------------------------

    def _fetch(self, box: Mailbox, progress: Callable[[int, int], None] | None) -> FetchReport:
        report = FetchReport()
        self._seen_next = (box.uidvalidity, box.uidnext)
        unfinished = set(self._unfinished(box.uidvalidity))
        todo = sorted(unfinished | set(box.uids_after(self._last_seen(box.uidvalidity))))
        sizes = box.sizes(todo)
        for n, uid in enumerate(todo, 1):
            if uid in sizes:
                self._one(box, uid, sizes[uid], report)
            elif uid in unfinished:  # moved away by a person since: nothing left to do on the server
                self._mark_done(box.uidvalidity, uid)
            if progress is not None:
                progress(n, len(todo))
        return report

    def _one(self, box: Mailbox, uid: int, size: int, report: FetchReport) -> None:
        claim = self._claim(box.uidvalidity, uid)
        if claim is None:
            return  # another fetcher has this mail: it imports, flags and counts it
        row_id, outcome, token = claim
        known = outcome != PENDING  # read before a crash: only the flag (or move) is left to do
        if not known:
            try:
                imported = self._import(box, uid, size, row_id, token, report)
            except BaseException:
                self._release(row_id, token)  # the next fetch (this one's or another's) takes it at once
                raise
            if imported is None:
                return  # the claim was taken over meanwhile: the other fetcher finishes the mail
            outcome = imported
        if outcome == Outcome.QUARANTINED:
            box.quarantine(uid)
        else:
            box.done(uid)
        self._mark_done(box.uidvalidity, uid)
        if not known:
            report.add(outcome)

    def _import(self, box: Mailbox, uid: int, size: int, row_id: int, token: str,
                report: FetchReport) -> str | None:
        """The mail read into a ticket (or set aside); its outcome, stored on its row — None when the row was no
        longer this fetcher's to write."""
        name = f"{self.mailbox} UID {uid}"
        why = ""
        try:
            if size > MAX_EML_BYTES:
                raise KontorError(f"größer als {MAX_EML_BYTES // 1024 // 1024} MB")
            data = box.read(uid)
            if data is None:
                raise KontorError("die E-Mail ist nicht mehr im Postfach")
            message = parse_mail(data)
            if not message.get("Message-ID"):
                message["Message-ID"] = f"<imap-{box.uidvalidity}-{uid}@{self.settings.host or 'kontor'}>"
            try:
                done: Imported | None = self.intake.import_message(message, name, actor="mailbox")
            except IntegrityError:  # read into a ticket by another fetcher this very moment: now a duplicate
                log.info("mailbox: %s was imported by another fetcher at the same time", name)
                done = self.intake.import_message(message, name, actor="mailbox")
        except (MailboxError, OperationalError, InterfaceError):
            raise  # the connection or the database, not the mail: tried again with the next fetch
        except (KontorError, ValueError, LookupError) as exc:  # InputError and TooLargeError are KontorErrors
            done, why = None, " ".join(str(exc).split())[:300]
            log.warning("mailbox: %s quarantined: %s", name, why)
        except Exception as exc:  # noqa: BLE001 - whatever one mail makes the parser or intake raise, it is set aside
            done, why = None, _unexpected(exc)
            log.exception("mailbox: %s quarantined: %s", name, why)
        with self.database.session() as session:
            row = session.get(MailImport, row_id)
            if row is None or row.outcome != PENDING or row.detail != _CLAIM + token:
                return None
            if done is None:
                row.outcome, row.detail = Outcome.QUARANTINED.value, why
                audit.record(session, "mailbox", "mail_quarantined", uid=uid, reason=why)
                report.quarantined.append(f"UID {uid}: {why}")
            else:
                row.outcome, row.ticket_id, row.message_id = done.outcome.value, done.ticket_id, done.message_id
                row.detail = done.detail[:500] or None
                if done.outcome in (Outcome.AUTO_REPLY, Outcome.BOUNCE):
                    audit.record(session, "mailbox", f"mail_{done.outcome.value}", ticket_id=done.ticket_id,
                                 uid=uid)
            return row.outcome

    # --- bookkeeping ----------------------------------------------------------------------------------------

    def _claim(self, uidvalidity: int, uid: int) -> tuple[int, str, str] | None:
        """(the mail's row, its outcome so far — ``pending``: still to read —, this fetcher's claim token); None when
        another fetcher has claimed the mail or finished it."""
        token, now = uuid.uuid4().hex, datetime.now(UTC)
        try:
            with self.database.session() as session:
                row = session.scalar(select(MailImport).where(
                    MailImport.mailbox == self.mailbox, MailImport.uidvalidity == uidvalidity,
                    MailImport.uid == uid))
                if row is None:
                    row = MailImport(mailbox=self.mailbox, uidvalidity=uidvalidity, uid=uid, outcome=PENDING,
                                     done=False, detail=_CLAIM + token, imported_at=now)
                    session.add(row)
                    session.flush()  # a row written by another fetcher meanwhile: IntegrityError
                    return row.id, PENDING, token
                if row.done:
                    return None
                if row.outcome != PENDING:
                    return row.id, row.outcome, ""
                claimed = (row.detail or "").startswith(_CLAIM)
                if claimed and row.imported_at > now - timedelta(seconds=CLAIM_S):
                    return None  # another fetcher is reading it now
                taken = session.execute(update(MailImport).where(  # taken over only if nobody else did meanwhile
                    MailImport.id == row.id, MailImport.outcome == PENDING,
                    MailImport.detail == row.detail if row.detail is not None else MailImport.detail.is_(None),
                ).values(detail=_CLAIM + token, imported_at=now).execution_options(synchronize_session=False))
                return (row.id, PENDING, token) if taken.rowcount == 1 else None  # type: ignore[attr-defined]
        except IntegrityError:
            return None  # another fetcher wrote the row first: the mail is its

    def _release(self, row_id: int, token: str) -> None:
        """Let go of a claim (reading the mail failed): the row stays pending, for the next fetch to take at once."""
        try:
            with self.database.session() as session:
                session.execute(update(MailImport).where(
                    MailImport.id == row_id, MailImport.outcome == PENDING, MailImport.detail == _CLAIM + token,
                ).values(detail=None).execution_options(synchronize_session=False))
        except SQLAlchemyError:  # the database is gone as well: the claim runs out after CLAIM_S
            log.warning("mailbox: claim on row %s not released", row_id, exc_info=True)

    def _unfinished(self, uidvalidity: int) -> list[int]:
        with self.database.session() as session:
            return list(session.scalars(select(MailImport.uid).where(
                MailImport.mailbox == self.mailbox, MailImport.uidvalidity == uidvalidity, ~MailImport.done)))

    def _mark_done(self, uidvalidity: int, uid: int) -> None:
        with self.database.session() as session:
            session.execute(update(MailImport).where(
                MailImport.mailbox == self.mailbox, MailImport.uidvalidity == uidvalidity, MailImport.uid == uid,
            ).values(done=True))

    def _last_seen(self, uidvalidity: int) -> int:
        with self.database.session() as session:
            last = session.scalar(select(func.max(MailImport.uid)).where(
                MailImport.mailbox == self.mailbox, MailImport.uidvalidity == uidvalidity))
            return int(last or 0)

    def _succeeded(self, report: FetchReport) -> None:
        self._store(last_success_at=datetime.now(UTC), failures=0,
                    imported=func.coalesce(MailboxState.imported, 0) + report.imported)

    def _failed(self, why: str) -> None:
        log.warning("mailbox %s: %s", self.mailbox, why)
        try:
            self._store(last_error=why[:500], last_error_at=datetime.now(UTC),
                        failures=func.coalesce(MailboxState.failures, 0) + 1)
        except SQLAlchemyError:  # the database is what failed: the log keeps the error
            log.warning("mailbox %s: error not stored", self.mailbox, exc_info=True)

    def _store(self, **values: object) -> None:
        """Change the mailbox's state row in the database (counters counted there: several fetchers may write)."""
        try:
            with self.database.session() as session:
                if session.get(MailboxState, self.mailbox) is None:
                    session.add(MailboxState(mailbox=self.mailbox, failures=0, imported=0))
        except IntegrityError:
            pass  # another fetcher wrote it a moment ago
        with self.database.session() as session:
            session.execute(update(MailboxState).where(MailboxState.mailbox == self.mailbox).values(**values)
                            .execution_options(synchronize_session=False))

    def status(self) -> Status:
        return read_status(self.database, self.mailbox)


def read_status(database: Database, mailbox: str) -> Status:
    with database.session() as session:
        state = session.get(MailboxState, mailbox)
        if state is None:
            return Status(mailbox, None, None, None, 0, 0)
        return Status(mailbox, state.last_success_at, state.last_error, state.last_error_at, state.failures,
                      state.imported)


def mailbox_json(status: Status) -> dict[str, object]:
    """For /api/health and the Übersicht: times and the error, not the mailbox's user or host."""
    return {"last_success_at": _iso(status.last_success_at), "last_error": status.last_error,
            "last_error_at": _iso(status.last_error_at), "failing": status.failing}


def _unexpected(exc: BaseException) -> str:
    """One line for an error nobody foresaw: its kind and its message."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:300]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None
