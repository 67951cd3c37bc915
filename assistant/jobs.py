"""Background work backed by the database: a ticket's drafting job is a row, so a crash or restart never
loses it. On start, jobs a dead process left ``running`` are queued again (``resume``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from assistant.store.db import Database
from assistant.store.tables import Job

log = logging.getLogger("kontor.jobs")
MAX_ATTEMPTS = 3
Handler = Callable[[Job], None]


def enqueue(session: Session, kind: str, ticket_id: int | None = None) -> None:
    """Queue a job inside the caller's transaction: the job exists exactly when the ticket does."""
    session.add(Job(kind=kind, ticket_id=ticket_id, status="queued", attempts=0))


class JobQueue:
    def __init__(self, database: Database, handlers: dict[str, Handler], on_give_up: Handler | None = None,
                 idle: Callable[[], object] | None = None) -> None:
        self.database = database
        self.handlers = handlers
        self.on_give_up = on_give_up  # called when a job failed MAX_ATTEMPTS times
        self.idle = idle  # periodic work between jobs (outbox retries)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def resume(self, stale_after: timedelta | None = None) -> int:
        """Requeue what a crashed process left running. The server calls it once at start, before its worker
        runs; a second process (``kontor work``) only takes over jobs running longer than ``stale_after``."""
        query = update(Job).where(Job.status == "running")
        if stale_after is not None:
            query = query.where(Job.started_at < datetime.now(UTC) - stale_after)
        with self.database.session() as session:
            result = session.execute(query.values(status="queued"))
            count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        if count:
            log.warning("resumed %d job(s) left running by a previous process", count)
        return count

    def run_once(self) -> bool:
        """Claim and run one queued job; False when there was none."""
        job = self._claim()
        if job is None:
            return False
        try:
            self.handlers[job.kind](job)
        except Exception as exc:  # noqa: BLE001 - any failure is recorded on the job, the worker goes on
            log.exception("job %s (%s, ticket %s) failed", job.id, job.kind, job.ticket_id)
            self._finish(job.id, "queued" if job.attempts < MAX_ATTEMPTS else "failed", repr(exc)[:2000])
            if job.attempts >= MAX_ATTEMPTS and self.on_give_up is not None:
                try:
                    self.on_give_up(job)
                except Exception:  # noqa: BLE001 - the job stays failed and visible; the worker goes on
                    log.exception("hand-over of job %s failed", job.id)
            return True
        self._finish(job.id, "done", None)
        return True

    def run_until_idle(self) -> int:
        count = 0
        while self.run_once():
            count += 1
        return count

    def _claim(self) -> Job | None:
        with self.database.session() as session:
            for job in session.scalars(select(Job).where(Job.status == "queued").order_by(Job.id).limit(5)):
                claimed = session.execute(
                    update(Job).where(Job.id == job.id, Job.status == "queued").values(
                        status="running", attempts=Job.attempts + 1, started_at=datetime.now(UTC))
                )
                if claimed.rowcount == 1:  # type: ignore[attr-defined]  # another worker may have been faster
                    session.flush()
                    session.refresh(job)
                    return job
        return None

    def _finish(self, job_id: int, status: str, error: str | None) -> None:
        with self.database.session() as session:
            session.execute(update(Job).where(Job.id == job_id).values(
                status=status, error=error, finished_at=datetime.now(UTC)))

    def pending(self) -> int:
        with self.database.session() as session:
            return int(session.scalar(select(func.count(Job.id)).where(Job.status.in_(("queued", "running")))) or 0)

    # --- the worker thread -------------------------------------------------------------------------------

    def start(self, poll_s: float = 1.0) -> None:
        self.resume()
        self._thread = threading.Thread(target=self._loop, args=(poll_s,), name="kontor-jobs", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self, poll_s: float) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_once()
                if self.idle is not None:
                    self.idle()
            except Exception:  # noqa: BLE001 - the worker must survive a broken database moment
                log.exception("job worker error")
                worked = False
            if not worked:
                self._wake.wait(poll_s)
                self._wake.clear()
