"""Retention: what is older than its period (settings ``retention_*_days``; 0 keeps it for ever) is removed by
`kontor purge` and, once a day, by the web server.

- closed tickets (sent, or rejected and left) untouched for ``retention_tickets_days``: erased with everything
  that hangs on them (their attachments' rows and files too), by the same code as a customer's erasure
  (assistant/privacy.py) — except the evaluation cases made from them, which are anonymised and which the
  release gate depends on;
- delivered mail files in the maildir outbox older than ``retention_outbox_days``;
- files in ``KONTOR_HOME/logs`` older than ``retention_logs_days``;
- cached evaluation results older than ``retention_eval_cache_days``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, func, select

from assistant import audit, privacy
from assistant.config import Settings
from assistant.outbox import MaildirMailer
from assistant.store.tables import EvalCacheEntry, Ticket

log = logging.getLogger("kontor.retention")
CLOSED = ("sent", "rejected")
BATCH = 200  # tickets per erasure (one transaction each)


@dataclass(frozen=True)
class Periods:
    """The retention periods in days (settings ``retention_*_days``); 0 keeps for ever."""

    tickets: int
    outbox: int
    logs: int
    eval_cache: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Periods:
        return cls(settings.retention.tickets_days, settings.retention.outbox_days, settings.retention.logs_days,
                   settings.retention.eval_cache_days)


@dataclass
class PurgePlan:
    tickets: list[int] = field(default_factory=list)
    mail_files: list[Path] = field(default_factory=list)
    log_files: list[Path] = field(default_factory=list)
    cache_entries: int = 0

    def empty(self) -> bool:
        return not (self.tickets or self.mail_files or self.log_files or self.cache_entries)


def plan(parts: privacy.PrivacyParts, periods: Periods, now: datetime) -> PurgePlan:
    result = PurgePlan()
    if cutoff := _cutoff(now, periods.tickets):
        with parts.database.session() as session:
            result.tickets = list(session.scalars(select(Ticket.id).where(
                Ticket.status.in_(CLOSED), Ticket.updated_at < cutoff).order_by(Ticket.id)))
    if cutoff := _cutoff(now, periods.outbox):
        result.mail_files = _older(MaildirMailer(parts.outbox_dir).delivered(), cutoff)
    if (cutoff := _cutoff(now, periods.logs)) and parts.log_dir.is_dir():
        result.log_files = _older(sorted(p for p in parts.log_dir.rglob("*") if p.is_file()), cutoff)
    if cutoff := _cutoff(now, periods.eval_cache):
        with parts.database.session() as session:
            result.cache_entries = int(session.scalar(select(func.count()).select_from(EvalCacheEntry).where(
                EvalCacheEntry.created_at < cutoff)) or 0)
    return result


def purge(
    parts: privacy.PrivacyParts, periods: Periods, now: datetime | None = None, dry_run: bool = False,
) -> PurgePlan:
    """Remove what is due (or only say what would go); returns the plan that was carried out."""
    now = now or datetime.now(UTC)
    due = plan(parts, periods, now)
    if dry_run or due.empty():
        return due
    for start in range(0, len(due.tickets), BATCH):
        footprint = privacy.find_tickets(parts, due.tickets[start : start + BATCH])
        footprint.cases = []  # anonymised, and the gate depends on them
        footprint.marks = []  # log files have their own period; a name may belong to a newer ticket too
        privacy.erase(parts, footprint, "system", "tickets_purged", compact_after=False)
    for path in [*due.mail_files, *due.log_files]:
        path.unlink(missing_ok=True)
    with parts.database.session() as session:
        if due.cache_entries:
            cutoff = _cutoff(now, periods.eval_cache)
            session.execute(delete(EvalCacheEntry).where(EvalCacheEntry.created_at < cutoff))
        audit.record(session, "system", "retention_purged", tickets=len(due.tickets), mail_files=len(due.mail_files),
                     log_files=len(due.log_files), cache_entries=due.cache_entries)
    privacy.compact(parts.database)
    log.info("purged %d ticket(s), %d mail file(s), %d log file(s), %d cached result(s)", len(due.tickets),
             len(due.mail_files), len(due.log_files), due.cache_entries)
    return due


def _cutoff(now: datetime, days: int) -> datetime | None:
    return now - timedelta(days=days) if days else None


def _older(paths: list[Path], cutoff: datetime) -> list[Path]:
    return [p for p in paths if datetime.fromtimestamp(p.stat().st_mtime, UTC) < cutoff]


class DailyPurge:
    """Runs ``purge`` in a thread of the web server: first a few minutes after start (not in the way of
    starting up), then once a day. A failure is logged; the next day tries again."""

    def __init__(self, run: Callable[[], object], first_after_s: float = 300, interval_s: float = 86_400) -> None:
        self.run = run
        self.first_after_s, self.interval_s = first_after_s, interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="kontor-purge", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        delay = self.first_after_s
        while not self._stop.wait(delay):
            try:
                self.run()
            except Exception:  # noqa: BLE001 - the server goes on; tomorrow's run tries again
                log.exception("daily purge failed")
            delay = self.interval_s
