"""Background work backed by the database: a ticket's drafting job is a row, so a crash or restart never
loses it. On start, jobs a dead process left ``running`` are queued again (``resume``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from assistant.store.db import Database
from assistant.store.tables import Job

log = logging.getLogger("kontor.jobs")


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # failed MAX_ATTEMPTS times; its give-up handler ran


class JobKind(StrEnum):
    DRAFT = "draft"  # categorise and draft a ticket (a new one, or "Neu entwerfen")


MAX_ATTEMPTS = 3
Handler = Callable[[Job], None]
Periodic = Callable[[], object]


def enqueue(session: Session, kind: JobKind, ticket_id: int | None = None) -> None:
    """Queue a job inside the caller's transaction: the job exists exactly when the ticket does."""
    session.add(Job(kind=kind, ticket_id=ticket_id, status=JobStatus.QUEUED.value, attempts=0))


OPEN = (JobStatus.QUEUED, JobStatus.RUNNING)  # a job still to be done, here or in another worker


def waiting_or_running(session: Session, kind: JobKind, ticket_id: int) -> bool:
    """Whether a job of this kind for the ticket waits or runs (in this process or another worker)."""
    return session.scalar(select(Job.id).where(*_open_for(kind, ticket_id)).limit(1)) is not None


def queue_position(session: Session, kind: JobKind, ticket_id: int) -> int | None:
    """The place of the ticket's waiting job in the queue (1: next, or being worked on now); None when no job of
    this kind waits or runs for it. Jobs are claimed oldest first, a running job counts as ahead."""
    mine = session.scalar(select(func.min(Job.id)).where(*_open_for(kind, ticket_id)))
    if mine is None:
        return None
    ahead = session.scalar(select(func.count(Job.id)).where(Job.id < mine, Job.status.in_(OPEN)))
    return int(ahead or 0) + 1


def _open_for(kind: JobKind, ticket_id: int) -> tuple[ColumnElement[bool], ...]:
    return Job.ticket_id == ticket_id, Job.kind == kind, Job.status.in_(OPEN)


class JobQueue:
    def __init__(self, database: Database, handlers: dict[str, Handler], on_give_up: dict[str, Handler] | None = None,
                 periodic: dict[str, Periodic] | None = None) -> None:
        """``handlers``: per job kind; ``on_give_up``: per kind, called when a job failed ``MAX_ATTEMPTS`` times;
        ``periodic``: named work the worker runs after each job and each poll (e.g. ``deliver_due``)."""
        self.database = database
        self.handlers = handlers
        self.on_give_up = on_give_up or {}
        self.periodic = periodic or {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def resume(self, stale_after: timedelta | None = None) -> int:
        """Requeue what a crashed process left running. The server calls it once at start, before its worker
        runs; a second process (``kontor work``) only takes over jobs running longer than ``stale_after``."""
        query = update(Job).where(Job.status == JobStatus.RUNNING)
        if stale_after is not None:
            query = query.where(Job.started_at < datetime.now(UTC) - stale_after)
        with self.database.session() as session:
            result = session.execute(query.values(status=JobStatus.QUEUED.value))
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
            again = job.attempts < MAX_ATTEMPTS
            self._finish(job.id, JobStatus.QUEUED if again else JobStatus.FAILED, repr(exc)[:2000])
            give_up = self.on_give_up.get(job.kind)
            if not again and give_up is not None:
                try:
                    give_up(job)
                except Exception:  # noqa: BLE001 - the job stays failed and visible; the worker goes on
                    log.exception("hand-over of job %s failed", job.id)
            return True
        self._finish(job.id, JobStatus.DONE, None)
        return True

    def run_until_idle(self) -> int:
        count = 0
        while self.run_once():
            count += 1
        return count

    def _claim(self) -> Job | None:
        with self.database.session() as session:
            for job in session.scalars(select(Job).where(Job.status == JobStatus.QUEUED).order_by(Job.id).limit(5)):
                claimed = session.execute(
                    update(Job).where(Job.id == job.id, Job.status == JobStatus.QUEUED).values(
                        status=JobStatus.RUNNING.value, attempts=Job.attempts + 1, started_at=datetime.now(UTC))
                )
                if claimed.rowcount == 1:  # type: ignore[attr-defined]  # another worker may have been faster
                    session.flush()
                    session.refresh(job)
                    return job
        return None

    def _finish(self, job_id: int, status: JobStatus, error: str | None) -> None:
        with self.database.session() as session:
            session.execute(update(Job).where(Job.id == job_id).values(
                status=status.value, error=error, finished_at=datetime.now(UTC)))

    def pending(self) -> int:
        with self.database.session() as session:
            waiting = Job.status.in_(OPEN)
            return int(session.scalar(select(func.count(Job.id)).where(waiting)) or 0)

    def run_periodic(self) -> None:
        """Each periodic job once; one that fails is logged and does not stop the others or the worker."""
        for name, work in self.periodic.items():
            try:
                work()
            except Exception:  # noqa: BLE001 - tried again on the next round
                log.exception("periodic job %s failed", name)

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
            except Exception:  # noqa: BLE001 - the worker must survive a broken database moment
                log.exception("job worker error")
                worked = False
            self.run_periodic()
            if not worked:
                self._wake.wait(poll_s)
                self._wake.clear()
