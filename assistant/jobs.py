"""Background work backed by the database: a ticket's drafting job is a row, so a crash or restart never
loses it.

Any number of workers (threads of the web process, `kontor worker` processes on other hosts) share one queue:
a worker claims a job with a conditional update (on PostgreSQL after ``SELECT … FOR UPDATE SKIP LOCKED``, so
workers do not queue behind each other's candidates) and holds it with a lease it renews while the job runs. A
killed worker's job is taken over when its lease has run out; a job that killed its workers ``MAX_ATTEMPTS``
times is given up. Jobs are claimed by priority (new tickets and follow-ups before "Neu entwerfen"), then oldest
first."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, func, or_, select, update
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


class Priority:
    """Lower first. A customer waiting for a first answer goes before a person asking for another draft."""

    NEW = 0  # a new ticket, a customer's follow-up
    REDRAFT = 1  # "Neu entwerfen"


MAX_ATTEMPTS = 3
LEASE = timedelta(minutes=2)  # renewed every LEASE/4 while the job runs; a dead worker's job is free after it
STOP_GRACE_S = 8.0  # SIGTERM: running jobs finish or go back to the queue within this; the process ends within 10 s
BETWEEN_JOBS_S = 10.0  # a worker that finished a job this recently is taken to be about to claim the next one
Handler = Callable[[Job], None]
Periodic = Callable[[], object]


def enqueue(session: Session, kind: JobKind, ticket_id: int | None = None, priority: int = Priority.NEW) -> None:
    """Queue a job inside the caller's transaction: the job exists exactly when the ticket does."""
    session.add(Job(kind=kind, ticket_id=ticket_id, status=JobStatus.QUEUED.value, attempts=0, priority=priority))


OPEN = (JobStatus.QUEUED, JobStatus.RUNNING)  # a job still to be done, here or in another worker


def waiting_or_running(session: Session, kind: JobKind, ticket_id: int) -> bool:
    """Whether a job of this kind for the ticket waits or runs (in this process or another worker)."""
    return session.scalar(select(Job.id).where(*_open_for(kind, ticket_id)).limit(1)) is not None


def queue_position(session: Session, kind: JobKind, ticket_id: int) -> int | None:
    """The place of the ticket's waiting job in the queue (1: next, or being worked on now); None when no job of
    this kind waits or runs for it. Counted as the workers claim (by priority, then oldest first): a running job
    counts as ahead, and so does a new ticket that arrived after a waiting "Neu entwerfen" but goes before it."""
    mine = session.execute(select(Job.id, Job.priority, Job.status).where(*_open_for(kind, ticket_id))
                           .order_by(Job.status != JobStatus.RUNNING, Job.priority, Job.id).limit(1)).first()
    if mine is None:
        return None
    job_id, priority, status = mine
    if status == JobStatus.RUNNING:
        return 1
    before = or_(Job.status == JobStatus.RUNNING, Job.priority < priority,
                 and_(Job.priority == priority, Job.id < job_id))
    ahead = session.scalar(select(func.count(Job.id)).where(Job.status.in_(OPEN), before))
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
        self._threads: list[threading.Thread] = []
        self._halted_at: float | None = None  # when this process stopped claiming (SIGTERM)
        self.current: set[int] = set()  # the jobs this process's workers run now

    def resume(self) -> int:
        """Requeue what dead workers left running (their lease has run out); a live worker's job is its own."""
        query = update(Job).where(Job.status == JobStatus.RUNNING, _lease_over())
        with self.database.session() as session:
            result = session.execute(query.values(status=JobStatus.QUEUED.value))
            count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        if count:
            log.warning("resumed %d job(s) left running by a previous process", count)
        return count

    def run_once(self) -> bool:
        """Claim and run one job (queued, or a dead worker's); False when there was none."""
        job = self._claim()
        if job is None:
            return False
        if job.attempts > MAX_ATTEMPTS:  # taken over from dead workers too often: it may be what kills them
            self._failed(job, "Abgebrochen: der Arbeitsprozess endete mehrmals während dieser Aufgabe")
            return True
        self.current.add(job.id)
        renewing = _Renewal(self.database, job.id)
        try:
            self.handlers[job.kind](job)
        except Exception as exc:  # noqa: BLE001 - any failure is recorded on the job, the worker goes on
            log.exception("job %s (%s, ticket %s) failed", job.id, job.kind, job.ticket_id)
            renewing.stop()
            self._failed(job, repr(exc)[:2000])
            return True
        finally:
            renewing.stop()
            self.current.discard(job.id)
        self._finish(job.id, JobStatus.DONE, None)
        return True

    def _failed(self, job: Job, error: str) -> None:
        again = job.attempts < MAX_ATTEMPTS
        self._finish(job.id, JobStatus.QUEUED if again else JobStatus.FAILED, error)
        give_up = self.on_give_up.get(job.kind)
        if not again and give_up is not None:
            try:
                give_up(job)
            except Exception:  # noqa: BLE001 - the job stays failed and visible; the worker goes on
                log.exception("hand-over of job %s failed", job.id)

    def run_until_idle(self) -> int:
        count = 0
        while self.run_once():
            count += 1
        return count

    def _claim(self) -> Job | None:
        now = datetime.now(UTC)
        free = or_(Job.status == JobStatus.QUEUED, and_(Job.status == JobStatus.RUNNING, _lease_over(now)))
        with self.database.session() as session:
            candidates = session.scalars(select(Job).where(free).order_by(Job.priority, Job.id).limit(5)
                                         .with_for_update(skip_locked=True))  # SQLite: no FOR UPDATE, no need
            for job in candidates:
                claimed = session.execute(update(Job).where(Job.id == job.id, free).values(
                    status=JobStatus.RUNNING.value, attempts=Job.attempts + 1, started_at=now, lease_until=now + LEASE))
                if claimed.rowcount != 1:  # type: ignore[attr-defined]  # another worker was faster
                    continue
                session.flush()
                session.refresh(job)
                return job
        return None

    def _finish(self, job_id: int, status: JobStatus, error: str | None) -> None:
        with self.database.session() as session:
            session.execute(update(Job).where(Job.id == job_id).values(
                status=status.value, error=error, finished_at=datetime.now(UTC), lease_until=None))

    def release(self, job_id: int) -> None:
        """Give a running job back to the queue (a worker stopping before the job is done)."""
        with self.database.session() as session:
            session.execute(update(Job).where(Job.id == job_id, Job.status == JobStatus.RUNNING).values(
                status=JobStatus.QUEUED.value, lease_until=None, attempts=Job.attempts - 1))

    def pending(self) -> int:
        with self.database.session() as session:
            waiting = Job.status.in_(OPEN)
            return int(session.scalar(select(func.count(Job.id)).where(waiting)) or 0)

    def busy(self) -> bool:
        """Whether tickets are being drafted or wait for a live worker — in any process on this database (the web
        process's threads or `kontor worker` elsewhere). Evaluation runs give way then (assistant/evaluate/runner.py).

        A running draft job whose lease is live means a worker drafts now. Waiting jobs count only while some worker
        looks alive (this process's threads, or a job finished in the last ``BETWEEN_JOBS_S``: a worker between two
        jobs): with no worker anywhere (`kontor eval` on a PC whose server is stopped) nobody would take them, and
        an evaluation that waited for them would only wait in vain."""
        now = datetime.now(UTC)
        drafts = and_(Job.kind == JobKind.DRAFT, Job.status.in_(OPEN))
        with self.database.session() as session:
            running = and_(Job.status == JobStatus.RUNNING, Job.lease_until >= now)
            if session.scalar(select(Job.id).where(drafts, running).limit(1)) is not None:
                return True
            if session.scalar(select(Job.id).where(drafts).limit(1)) is None:
                return False
            if any(t.is_alive() for t in self._threads):
                return True
            recent = now - timedelta(seconds=BETWEEN_JOBS_S)
            return session.scalar(select(Job.id).where(Job.finished_at >= recent).limit(1)) is not None

    def run_periodic(self) -> None:
        """Each periodic job once; one that fails is logged and does not stop the others or the worker."""
        for name, work in self.periodic.items():
            try:
                work()
            except Exception:  # noqa: BLE001 - tried again on the next round
                log.exception("periodic job %s failed", name)

    # --- the worker threads ------------------------------------------------------------------------------

    def start(self, poll_s: float = 1.0, threads: int = 1) -> None:
        self.resume()
        self._stop.clear()
        self._halted_at = None
        self._threads = [threading.Thread(target=self._loop, args=(poll_s,), name=f"kontor-jobs-{n}", daemon=True)
                         for n in range(threads)]
        for thread in self._threads:
            thread.start()

    def wake(self) -> None:
        self._wake.set()

    def halt(self) -> float:
        """Stop claiming jobs at once (SIGTERM); the running ones go on. ``stop``'s grace counts from here: the
        moment (monotonic) of the first halt is returned."""
        if self._halted_at is None:
            self._halted_at = time.monotonic()
        self._stop.set()
        self._wake.set()
        return self._halted_at

    def stop(self, grace_s: float = STOP_GRACE_S) -> list[int]:
        """Stop taking jobs; wait up to ``grace_s`` (from ``halt``, if that came first) for the running ones, then
        give those back to the queue (another worker, or this one after a restart, runs them again). Returns the ids
        given back."""
        deadline = self.halt() + grace_s
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        given_back = sorted(self.current)
        for job_id in given_back:
            self.release(job_id)
            log.warning("job %s given back to the queue at shutdown", job_id)
        return given_back

    def _loop(self, poll_s: float) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_once()
            except Exception:  # noqa: BLE001 - the worker must survive a broken database moment
                log.exception("job worker error")
                worked = False
            if self._stop.is_set():  # stopping: no delivery round (an SMTP server may take its time)
                break
            self.run_periodic()
            if not worked:
                self._wake.wait(poll_s)
                self._wake.clear()


def stop_together(queue: JobQueue | None, others: dict[str, Callable[[], object]],
                  grace_s: float = STOP_GRACE_S) -> list[int]:
    """A process's shutdown: the queue stops claiming at once, and its running jobs (up to ``grace_s``), the
    mailbox watcher and the rest (``others``, by name) stop side by side, not one after the other. Whatever has not
    stopped when the grace is over is left behind (daemon threads end with the process). Returns the job ids given
    back to the queue."""
    # the grace counts from the signal, as the jobs' does
    begun = queue.halt() if queue is not None else time.monotonic()
    stopping = [threading.Thread(target=work, name=f"kontor-stop-{name}", daemon=True)
                for name, work in others.items()]
    for thread in stopping:
        thread.start()
    given_back = queue.stop(grace_s) if queue is not None else []
    for thread in stopping:
        thread.join(timeout=max(0.0, begun + grace_s - time.monotonic()))
        if thread.is_alive():
            log.warning("%s did not stop within %.0f s", thread.name.removeprefix("kontor-stop-"), grace_s)
    return given_back


def _lease_over(now: datetime | None = None) -> ColumnElement[bool]:
    return or_(Job.lease_until.is_(None), Job.lease_until < (now or datetime.now(UTC)))


class _Renewal:
    """Renews a running job's lease until stopped, so a long job is not taken over from a live worker."""

    def __init__(self, database: Database, job_id: int) -> None:
        self.database = database
        self.job_id = job_id
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"kontor-lease-{job_id}", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        while not self._done.wait(LEASE.total_seconds() / 4):
            try:
                with self.database.session() as session:
                    session.execute(update(Job).where(Job.id == self.job_id, Job.status == JobStatus.RUNNING)
                                    .values(lease_until=datetime.now(UTC) + LEASE))
            except Exception:  # noqa: BLE001 - a missed renewal is retried; the lease has slack
                log.exception("lease of job %s not renewed", self.job_id)

    def stop(self) -> None:
        self._done.set()
