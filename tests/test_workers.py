"""Several workers on one queue (SQLite and a real PostgreSQL): no job is run twice, a dead worker's job is taken
over when its lease runs out (and not before: a live worker renews it), new tickets go before re-drafts, a
stopping worker gives its running job back; `kontor worker` beside `kontor serve` with KONTOR_WORKERS=0;
evaluation runs give way to drafts in any process; and only a process told to (KONTOR_MAIL_WATCH) watches the
mailbox."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from assistant import jobs
from assistant.config import PROJECT_ROOT
from assistant.jobs import JobKind, JobQueue, Priority
from assistant.store.tables import Job, Ticket
from tests.harness import Kontor
from tests.servers import free_port, start_kontor


def tickets(kontor: Kontor, n: int, priority: int = Priority.NEW) -> list[int]:
    with kontor.services.database.session() as session:
        rows = [Ticket(customer=f"k{i}@example.org", channel="api", subject="s", body="b", status="new")
                for i in range(n)]
        session.add_all(rows)
        session.flush()
        for row in rows:
            jobs.enqueue(session, JobKind.DRAFT, row.id, priority=priority)
        return [row.id for row in rows]


def statuses(kontor: Kontor) -> Counter[str]:
    with kontor.services.database.session() as session:
        return Counter(session.scalars(select(Job.status)))


def test_two_workers_with_two_threads_each_never_run_a_job_twice(kontor: Kontor) -> None:
    tickets(kontor, 40)
    ran: list[tuple[str, int]] = []
    lock = threading.Lock()

    def handler(name: str):  # type: ignore[no-untyped-def]
        def run(job: Job) -> None:
            time.sleep(0.01)  # long enough for the workers to race for the next job
            with lock:
                ran.append((name, job.id))
        return run

    queues = [JobQueue(kontor.services.database, {JobKind.DRAFT: handler(name)}) for name in ("a", "b")]
    for queue in queues:
        queue.start(poll_s=0.05, threads=2)
    deadline = time.monotonic() + 60
    while statuses(kontor).get("done", 0) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    for queue in queues:
        queue.stop()
    ids = [job_id for _, job_id in ran]
    assert len(ids) == 40 and len(set(ids)) == 40  # each job once
    assert {name for name, _ in ran} == {"a", "b"}  # both workers had work
    assert statuses(kontor) == Counter({"done": 40})


def test_a_dead_workers_job_is_taken_over_when_its_lease_runs_out(kontor: Kontor) -> None:
    tickets(kontor, 1)
    dead = JobQueue(kontor.services.database, {})
    assert dead._claim() is not None  # … and the process died with the job
    ran: list[int] = []
    alive = JobQueue(kontor.services.database, {JobKind.DRAFT: lambda job: ran.append(job.attempts)})
    assert alive.run_once() is False  # the lease still runs
    with kontor.services.database.session() as session:
        session.execute(update(Job).values(lease_until=datetime.now(UTC) - timedelta(seconds=1)))
    assert alive.run_once() is True and ran == [2]  # the second attempt
    assert statuses(kontor) == Counter({"done": 1})


def test_a_live_worker_renews_its_lease(lite: Kontor, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "LEASE", timedelta(seconds=0.4))  # renewed every 0.1 s
    tickets(lite, 1)
    started, release = threading.Event(), threading.Event()

    def slow(job: Job) -> None:
        started.set()
        release.wait(5)

    busy = JobQueue(lite.services.database, {JobKind.DRAFT: slow})
    worker = threading.Thread(target=busy.run_once)
    worker.start()
    assert started.wait(5)
    other = JobQueue(lite.services.database, {JobKind.DRAFT: lambda job: None})
    for _ in range(10):  # 1.2 s: three times the lease
        assert other.run_once() is False
        time.sleep(0.12)
    release.set()
    worker.join(5)
    assert statuses(lite) == Counter({"done": 1})


def test_new_tickets_go_before_re_drafts(kontor: Kontor) -> None:
    redraft = tickets(kontor, 2, priority=Priority.REDRAFT)
    new = tickets(kontor, 2)
    order: list[int] = []
    queue = JobQueue(kontor.services.database, {JobKind.DRAFT: lambda job: order.append(job.ticket_id)})
    assert queue.run_until_idle() == 4
    assert order == [*new, *redraft]


def test_a_job_that_keeps_killing_its_workers_is_given_up(lite: Kontor) -> None:
    [ticket] = tickets(lite, 1)
    for _ in range(jobs.MAX_ATTEMPTS):  # each worker dies with it
        assert JobQueue(lite.services.database, {})._claim() is not None
        with lite.services.database.session() as session:
            session.execute(update(Job).values(lease_until=datetime.now(UTC) - timedelta(seconds=1)))
    given_up: list[int] = []
    queue = JobQueue(lite.services.database, {JobKind.DRAFT: lambda job: pytest.fail("must not run again")},
                     on_give_up={JobKind.DRAFT: lambda job: given_up.append(job.ticket_id or 0)})
    assert queue.run_once() is True
    assert given_up == [ticket] and statuses(lite) == Counter({"failed": 1})


def test_a_stopping_worker_gives_its_running_job_back(lite: Kontor) -> None:
    tickets(lite, 1)
    started, release = threading.Event(), threading.Event()

    def stuck(job: Job) -> None:
        started.set()
        release.wait(10)

    queue = JobQueue(lite.services.database, {JobKind.DRAFT: stuck})
    queue.start(poll_s=0.05)
    assert started.wait(5)
    begun = time.monotonic()
    given_back = queue.stop(grace_s=0.5)
    assert time.monotonic() - begun < 2 and len(given_back) == 1
    with lite.services.database.session() as session:
        job = session.scalar(select(Job))
        assert job is not None and (job.status, job.attempts, job.lease_until) == ("queued", 0, None)
    release.set()


@pytest.mark.slow
def test_kontor_worker_drafts_for_a_web_process_without_workers_and_stops_on_sigterm(tmp_path: Path) -> None:
    """The split deployment with the embedded model: `kontor serve` with KONTOR_WORKERS=0 takes the ticket,
    `kontor worker` drafts it; SIGTERM ends the worker within 10 s."""
    home = tmp_path / "home"
    env = {**os.environ, "KONTOR_HOME": str(home), "HF_HUB_OFFLINE": "1", "KONTOR_WORKERS": "0"}
    env.pop("KONTOR_DATABASE_URL", None)
    run = [sys.executable, "-m", "assistant"]
    subprocess.run([*run, "ingest"], env=env, cwd=PROJECT_ROOT, check=True, capture_output=True)
    subprocess.run([*run, "users", "add", "anna", "--role", "agent", "--password-stdin"], input="anna-passwort-123\n",
                   env=env, cwd=PROJECT_ROOT, check=True, capture_output=True, text=True)
    token = subprocess.run([*run, "tokens", "create", "anna"], env=env, cwd=PROJECT_ROOT, check=True,
                           capture_output=True, text=True).stdout.strip()
    port = free_port()
    server = start_kontor(env, port)
    worker = None
    try:
        base, headers = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}
        created = httpx.post(f"{base}/api/tickets", headers=headers, json={
            "customer": "Erika <erika@example.org>", "subject": "Versand", "body": "Wie lange dauert der Versand?"})
        assert created.status_code == 201, created.text
        time.sleep(2)
        assert httpx.get(f"{base}/api/tickets/{created.json()['id']}", headers=headers).json()["status"] == "new"
        worker = subprocess.Popen([*run, "worker"], env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        status = "new"
        while status == "new" and time.monotonic() < deadline:
            time.sleep(0.5)
            status = httpx.get(f"{base}/api/tickets/{created.json()['id']}", headers=headers).json()["status"]
        assert status in ("drafted", "needs_human")
        begun = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=15) == 0
        assert time.monotonic() - begun < 10
        assert "Beendet." in (worker.stderr.read() if worker.stderr else "")
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
        server.terminate()
        server.wait(timeout=30)


def test_evaluation_runs_give_way_to_drafts_in_another_process(kontor: Kontor, monkeypatch: pytest.MonkeyPatch) -> None:
    """Customers first, across processes: the web process runs no workers (KONTOR_WORKERS=0) and a `kontor worker`
    — here a second queue on the same database — drafts. An evaluation case in the web process waits while drafts
    wait or run there, and not for ever (at most ``YIELD_S`` per case); drafts that no live worker will take do
    not hold it."""
    from dataclasses import replace

    from assistant.evaluate import runner

    web = kontor.services.jobs  # never started: KONTOR_WORKERS=0
    parts = kontor.services.eval_parts()
    tickets(kontor, 2)
    assert web.busy() is False  # drafts wait, but no worker lives anywhere (a server that is stopped)

    started, release = threading.Event(), threading.Event()

    def slow(job: Job) -> None:
        started.set()
        release.wait(10)

    worker = JobQueue(kontor.services.database, {JobKind.DRAFT: slow})  # the other process
    worker.start(poll_s=0.05)
    naps: list[float] = []
    pause = time.sleep  # the real one: the test replaces it in the time module

    def nap(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 3:
            release.set()  # the worker finishes both drafts; the evaluation goes on right after
        pause(0.05)

    monkeypatch.setattr(runner.time, "sleep", nap)
    try:
        assert started.wait(5) and web.busy() is True  # a draft is being written in the other process
        runner.EvalRunner(parts)._after_tickets()
    finally:
        release.set()
        worker.stop()
    assert len(naps) >= 3 and statuses(kontor) == Counter({"done": 2})  # it waited until both drafts were done
    assert web.busy() is False

    monkeypatch.setattr(jobs, "BETWEEN_JOBS_S", 0.3)
    tickets(kontor, 1)  # a worker that just finished a job is about to take the next one …
    assert web.busy() is True
    pause(0.4)
    assert web.busy() is False  # … but not one that has been idle since: nobody takes it

    naps.clear()
    monkeypatch.setattr(runner.time, "sleep", naps.append)
    runner.EvalRunner(replace(parts, tickets_first=lambda: True))._after_tickets()
    assert len(naps) == int(runner.YIELD_S / runner.YIELD_STEP_S)  # a busy day delays it, never stops it


def test_the_web_process_watches_the_mailbox_only_when_told(tmp_path: Path, knowledge: Path) -> None:
    """KONTOR_MAIL_WATCH: `kontor serve` starts the mailbox watcher only with it (and an IMAP host)."""
    from fastapi.testclient import TestClient

    def watching(**settings: object) -> bool:
        office = Kontor(tmp_path / str(len(settings)) / str(settings.get("mail_watch")), knowledge, run_worker=True,
                        workers=0, imap_host="127.0.0.1", imap_port=free_port(), imap_security="none", **settings)
        with TestClient(office.app):  # runs the lifespan: start, then stop
            return any(t.name == "kontor-mailbox" and t.is_alive() for t in threading.enumerate())

    assert watching() is True  # the default: one office PC, one process
    assert watching(mail_watch=False) is False
