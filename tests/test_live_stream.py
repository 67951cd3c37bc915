"""The ticket page's live stream of a draft being written: it streams the model's text and ends with ``done`` when
the draft is stored, and it ends at once when nothing is being written for the ticket – a page opened late, after
the finished draft left memory, or a ticket whose drafting job is gone, does not keep polling for ten minutes."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from assistant.jobs import JobStatus
from assistant.store.tables import Job
from tests.harness import QUESTION, Kontor


@pytest.fixture
def kontor(tmp_path: Path, knowledge: Path) -> Kontor:
    return Kontor(tmp_path, knowledge)


class Stream:
    """``GET /api/tickets/{id}/live`` read to its end in a thread: the events as (event, data) and the seconds."""

    def __init__(self, kontor: Kontor, ticket_id: int) -> None:
        self.kontor, self.ticket_id = kontor, ticket_id
        self.events: list[tuple[str, str]] = []
        self.seconds = 0.0
        self.status = 0
        self.thread = threading.Thread(target=self._read, daemon=True)  # a stream that never ends dies with pytest
        self.thread.start()

    def _read(self) -> None:
        started = time.monotonic()
        headers = {"Authorization": f"Bearer {self.kontor.tokens['agent']}"}
        with self.kontor.client.stream("GET", f"/api/tickets/{self.ticket_id}/live", headers=headers) as response:
            self.status = response.status_code
            text = "".join(response.iter_text())
        self.seconds = time.monotonic() - started
        for block in text.replace("\r\n", "\n").split("\n\n"):
            fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            if fields:
                self.events.append((fields.get("event", "message"), fields.get("data", "")))

    def ended(self, within: float) -> bool:
        self.thread.join(within)
        return not self.thread.is_alive()


def _ticket(kontor: Kontor) -> dict[str, Any]:
    created = kontor.call("POST", "/api/tickets", "agent", json=QUESTION)
    assert created.status_code == 201
    return created.json()  # type: ignore[no-any-return]


def test_a_page_opened_after_the_draft_left_memory_gets_done_at_once(kontor: Kontor) -> None:
    ticket = kontor.drafted_ticket()
    kontor.services.live.forget(ticket["id"])  # what LiveDrafts does 120 s after the draft was finished
    stream = Stream(kontor, ticket["id"])
    assert stream.ended(within=10), "the stream kept polling"
    assert stream.status == 200 and stream.events == [("done", "{}")]


def test_the_stream_ends_when_no_job_will_write_a_draft(kontor: Kontor) -> None:
    """No draft, no live entry, no job left (it failed for good, and so did its hand-over): nothing will come."""
    ticket = _ticket(kontor)
    with kontor.services.database.session() as session:
        session.execute(update(Job).where(Job.ticket_id == ticket["id"]).values(status=JobStatus.FAILED.value))
    stream = Stream(kontor, ticket["id"])
    assert stream.ended(within=10), "the stream kept polling"
    assert stream.events == [("done", "{}")] and stream.seconds < 5


def test_a_queued_draft_is_waited_for_and_streamed_to_its_end(kontor: Kontor) -> None:
    """A new draft asked for: the stream waits for the job (the old draft does not end it) and streams it."""
    old = kontor.drafted_ticket()
    kontor.services.live.forget(old["id"])
    assert kontor.call("POST", f"/api/tickets/{old['id']}/draft", "agent").status_code == 202
    stream = Stream(kontor, old["id"])
    assert not stream.ended(within=0.6), "the stream ended before the queued draft was written"
    assert kontor.services.jobs.run_until_idle() == 1
    assert stream.ended(within=10), "the stream did not end after the draft was stored"
    assert stream.events[-1] == ("done", "{}") and len(stream.events) > 1  # the model's text came first
    new = kontor.call("GET", f"/api/tickets/{old['id']}", "agent").json()["draft"]
    assert new["id"] != old["draft"]["id"]


def test_a_ticket_waiting_for_its_first_draft_keeps_the_stream_open(kontor: Kontor) -> None:
    ticket = _ticket(kontor)  # its job is queued; no worker runs in the harness until the test says so
    stream = Stream(kontor, ticket["id"])
    assert not stream.ended(within=0.6)
    kontor.services.jobs.run_until_idle()
    assert stream.ended(within=10) and stream.events[-1] == ("done", "{}")
