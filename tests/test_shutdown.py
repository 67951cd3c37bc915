"""Graceful shutdown of real processes: SIGTERM to `kontor worker` while a draft is being written, and to `kontor
serve` with a drafting worker thread and an open live draft stream (which may last 10 minutes). Each is gone
within 10 s, claims no job after the signal, and its running job is back in the queue — or finished. The model is
an OpenAI-compatible server on loopback that holds every request until the test lets it go."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from assistant import jobs
from assistant.config import PROJECT_ROOT, Settings
from assistant.jobs import JobKind, JobQueue
from assistant.services import Services
from assistant.store.tables import Job, Ticket
from tests.harness import Kontor
from tests.servers import free_port, start_kontor

QUESTION = {"customer": "Erika Muster <erika@example.org>", "subject": "Versand nach Österreich",
            "body": "Guten Tag, was kostet der Versand nach Österreich und wie lange dauert er?"}


class HeldModel:
    """An OpenAI-compatible model server that answers ``GET /models`` and holds every completion request until
    ``release`` (then answers it with an error, so a released job fails instead of finishing by accident)."""

    def __init__(self) -> None:
        self.asked = threading.Event()
        self.released = threading.Event()
        model = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server hook
                self._answer(200, {"object": "list", "data": [{"id": "local", "object": "model"}]})

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                model.asked.set()
                model.released.wait(60)
                self._answer(500, {"error": {"message": "released by the test"}})

            def _answer(self, status: int, body: dict[str, object]) -> None:
                data = json.dumps(body).encode()
                with contextlib.suppress(OSError):  # the client (a stopped worker) may be gone
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def held_model() -> Iterator[HeldModel]:
    model = HeldModel()
    yield model
    model.close()


def environment(home: Path, knowledge: Path, model: HeldModel, database_url: str = "", **more: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("KONTOR_")}
    return {**env, "KONTOR_HOME": str(home), "KONTOR_KNOWLEDGE_DIR": str(knowledge), "HF_HUB_OFFLINE": "1",
            "KONTOR_CATEGORIES": str(PROJECT_ROOT / "knowledge" / "categories.yaml"),
            "KONTOR_DATABASE_URL": database_url, "KONTOR_LLM_BACKEND": "openai", "KONTOR_OPENAI_BASE_URL": model.url,
            "KONTOR_LLM_TIMEOUT_S": "120", **more}


def asked(model: HeldModel, process: subprocess.Popen[str], limit_s: float = 120) -> bool:
    """Whether the process's job reached the model (False at once when the process ended)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and process.poll() is None:
        if model.asked.wait(0.2):
            return True
    return False


def the_jobs(services: Services) -> list[tuple[int | None, str, int]]:
    with services.database.session() as session:
        return [(j.ticket_id, j.status, j.attempts) for j in session.scalars(select(Job).order_by(Job.id))]


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_sigterm_to_kontor_worker_while_a_draft_is_written_gives_the_job_back_within_10_s(
        request: pytest.FixtureRequest, engine: str, tmp_path: Path, knowledge: Path, held_model: HeldModel) -> None:
    url = request.getfixturevalue("pg_database_url") if engine == "postgresql" else ""
    home = tmp_path / "home"
    services = Services(Settings(home=home, knowledge_dir=knowledge, database_url=url, run_worker=False))
    with services.database.session() as session:  # two tickets: one is being drafted, one waits
        rows = [Ticket(customer=QUESTION["customer"], channel="api", subject=QUESTION["subject"],
                       body=QUESTION["body"], status="new") for _ in range(2)]
        session.add_all(rows)
        session.flush()
        for row in rows:
            jobs.enqueue(session, JobKind.DRAFT, row.id)
    worker = subprocess.Popen([sys.executable, "-m", "assistant", "worker", "--no-mail"], cwd=PROJECT_ROOT,
                              env=environment(home, knowledge, held_model, url), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert asked(held_model, worker), worker.stderr.read() if worker.stderr else ""
        assert [status for _, status, _ in the_jobs(services)] == ["running", "queued"]
        begun = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=15)
        took = time.monotonic() - begun
        stderr = worker.stderr.read() if worker.stderr else ""
    finally:
        if worker.poll() is None:
            worker.kill()
    assert code == 0 and took < 10, (took, stderr)
    assert "An die Warteschlange zurückgegeben: 1 Aufgabe(n)." in stderr
    # the running job is back as it was (no attempt counted), the waiting one was never claimed
    assert [(status, attempts) for _, status, attempts in the_jobs(services)] == [("queued", 0), ("queued", 0)]


@pytest.mark.slow
def test_sigterm_to_kontor_serve_with_an_open_live_stream_and_a_running_draft_ends_within_10_s(
        tmp_path: Path, knowledge: Path, held_model: HeldModel) -> None:
    home = tmp_path / "home"
    services = Services(Settings(home=home, knowledge_dir=knowledge, run_worker=False))
    services.users.add("anna", "agent", "anna-passwort-123")
    token = services.users.create_token("anna")
    port = free_port()
    server = start_kontor(environment(home, knowledge, held_model, KONTOR_WORKERS="1"), port)
    streamed: list[str] = []
    try:
        base, headers = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}
        created = httpx.post(f"{base}/api/tickets", headers=headers, json=QUESTION)
        assert created.status_code == 201, created.text
        ticket_id = created.json()["id"]
        assert asked(held_model, server), "the web process's worker never asked the model"
        connected = threading.Event()

        def listen() -> None:  # the ticket page: the live draft stream, open until the draft is stored
            try:
                with httpx.stream("GET", f"{base}/api/tickets/{ticket_id}/live", headers=headers,
                                  timeout=httpx.Timeout(5, read=None)) as stream:
                    streamed.append(str(stream.status_code))
                    connected.set()
                    for line in stream.iter_lines():
                        streamed.append(line)
            except httpx.HTTPError as exc:
                streamed.append(type(exc).__name__)
            finally:
                connected.set()

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        assert connected.wait(10) and streamed[:1] == ["200"]
        time.sleep(0.5)
        assert listener.is_alive()  # the stream is open: the draft is still being written
        begun = time.monotonic()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=15)
        took = time.monotonic() - begun
        listener.join(5)
    finally:
        if server.poll() is None:
            server.kill()
    assert took < 10, took
    assert not listener.is_alive()  # the stream was ended, not left hanging
    assert the_jobs(services) == [(ticket_id, "queued", 0)]  # given back: another process drafts it


def test_after_halt_no_job_is_claimed_and_the_running_one_may_finish(lite: Kontor) -> None:
    """What SIGTERM does to the queue at once: claim nothing more; the running job finishes within the grace."""
    from tests.test_workers import statuses, tickets

    tickets(lite, 2)
    started, release = threading.Event(), threading.Event()
    ran: list[int] = []

    def slow(job: Job) -> None:
        started.set()
        release.wait(5)
        ran.append(job.id)

    queue = JobQueue(lite.services.database, {JobKind.DRAFT: slow})
    queue.start(poll_s=0.05)
    assert started.wait(5)
    queue.halt()
    threading.Timer(0.3, release.set).start()
    assert queue.stop(grace_s=5) == []  # finished, nothing to give back
    assert len(ran) == 1 and statuses(lite) == {"done": 1, "queued": 1}


def test_the_jobs_and_the_mailbox_watcher_stop_side_by_side(lite: Kontor) -> None:
    """A slow watcher no longer adds its time to the jobs' grace: both together take the longer of the two."""
    from tests.test_workers import tickets

    tickets(lite, 1)
    started = threading.Event()
    queue = JobQueue(lite.services.database, {JobKind.DRAFT: lambda job: (started.set(), time.sleep(1.0))})
    queue.start(poll_s=0.05)
    assert started.wait(5)
    begun = time.monotonic()
    given_back = jobs.stop_together(queue, {"mailbox watcher": lambda: time.sleep(1.0)}, grace_s=5)
    assert given_back == [] and time.monotonic() - begun < 1.8
    begun = time.monotonic()
    jobs.stop_together(None, {"stuck": lambda: time.sleep(30)}, grace_s=0.5)  # a stuck part is left behind
    assert time.monotonic() - begun < 1
