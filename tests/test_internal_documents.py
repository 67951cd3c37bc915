"""Documents marked "nur intern" (a folder named ``intern`` in the knowledge folder, or the upload's checkbox):
staff find them in the knowledge search, but a customer draft never quotes or cites them and the model never
sees their text. Each test puts one unique, highly relevant sentence into a document and asks exactly its
question; the same document outside ``intern/`` is used, which shows that the test would see a leak."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from assistant.answer.promises import promise_flags
from assistant.knowledge.catalogue import Catalogue, is_internal
from assistant.services import Services
from assistant.store.tables import AuditEntry
from tests.harness import Kontor

CANARY = "Zebra77"
SECRET = f"Der Versand nach Österreich kostet für Stammkunden nur 1,11 € (Sonderregel {CANARY}).\n"
DOCUMENT = f"# Versand Österreich\n\n## Kosten Versand nach Österreich\n\n{SECRET}".encode()
QUESTION = "Was kostet der Versand nach Österreich für Stammkunden?"
TICKET = {"customer": "Erika Muster <erika@example.org>", "subject": "Versandkosten Österreich",
          "body": f"Guten Tag, {QUESTION}\n\nViele Grüße\nErika Muster"}


def _prompts(services: Services) -> str:
    return json.dumps(services.llm.history, ensure_ascii=False)  # type: ignore[attr-defined]


def _indexed(services: Services, knowledge: Path, place: str) -> Services:
    services.settings.answer.answer_generate = "always"  # the model is asked, so its prompt shows what it was given
    (knowledge / place).parent.mkdir(parents=True, exist_ok=True)
    (knowledge / place).write_bytes(DOCUMENT)
    assert services.ingestor.run([knowledge]).ok
    return services


@pytest.mark.parametrize("place, internal", [("stammkunden.md", False), ("intern/stammkunden.md", True),
                                             ("vertrieb/Intern/stammkunden.md", True)])
def test_an_internal_document_never_reaches_a_customer_draft(
    fake_services: Services, knowledge: Path, place: str, internal: bool,
) -> None:
    services = _indexed(fake_services, knowledge, place)
    draft = services.answerer().reply(TICKET["subject"], TICKET["body"], "Erika Muster")
    seen = json.dumps([draft.model_dump(), [h.model_dump() for h in draft.sources], draft.notes], ensure_ascii=False)
    if not internal:  # the sentence answers the question best: a draft that may use it does
        assert CANARY in draft.answer and place in {c.source for c in draft.citations}
        assert CANARY in _prompts(services)
        return
    assert CANARY not in seen and "1,11" not in seen and place not in seen
    assert CANARY not in _prompts(services) and services.llm.history  # type: ignore[attr-defined]
    assert "5,90 €" in draft.answer  # answered from the public document instead
    hits = services.retriever.search(QUESTION, 3)  # the knowledge search for staff finds it, marked
    assert hits[0].source == place and hits[0].internal and CANARY in hits[0].text
    assert services.catalogue.documents()[place].internal


def test_the_mark_follows_the_folder_through_every_reindex(fake_services: Services, knowledge: Path) -> None:
    """Moving a file into ``intern/`` (or out) is all it takes; an unchanged file keeps its mark."""
    services = _indexed(fake_services, knowledge, "stammkunden.md")
    assert CANARY in services.answerer().draft(QUESTION).answer
    (knowledge / "intern").mkdir()
    (knowledge / "stammkunden.md").rename(knowledge / "intern" / "stammkunden.md")
    for _ in range(2):
        report = services.ingestor.run([knowledge])
        assert report.ok and services.catalogue.documents()["intern/stammkunden.md"].internal
        assert CANARY not in services.answerer().draft(QUESTION).model_dump_json()
    (knowledge / "intern" / "stammkunden.md").rename(knowledge / "stammkunden.md")
    services.ingestor.run([knowledge])
    assert CANARY in services.answerer().draft(QUESTION).answer


def test_a_catalogue_from_before_the_mark_is_marked_when_opened(tmp_path: Path) -> None:
    """An index built by an older Kontor, with a document already in ``intern/``: no re-index needed."""
    path = tmp_path / "catalogue.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE documents (source TEXT PRIMARY KEY, sha256 TEXT NOT NULL, size INTEGER NOT NULL, "
            "title TEXT NOT NULL, chunks INTEGER NOT NULL, indexed_at TEXT NOT NULL);"
            "CREATE TABLE chunks (chunk_id TEXT PRIMARY KEY, source TEXT NOT NULL, ordinal INTEGER NOT NULL, "
            "title TEXT NOT NULL, section TEXT NOT NULL, page INTEGER, text TEXT NOT NULL);"
            "INSERT INTO documents VALUES ('intern/a.md', 'x', 1, 'A', 1, '2024-01-01'),"
            " ('b.md', 'y', 1, 'B', 1, '2024-01-01');"
            f"INSERT INTO chunks VALUES ('a#0', 'intern/a.md', 0, 'A', '', NULL, '{SECRET}'),"
            " ('b#0', 'b.md', 0, 'B', '', NULL, 'Öffentlich.');")
    catalogue = Catalogue(path)
    assert catalogue.internal_sources() == {"intern/a.md"}
    assert [c.source for c in catalogue.all_chunks(include_internal=False)] == ["b.md"]
    assert len(catalogue.all_chunks()) == 2
    catalogue.close()


def test_a_period_only_an_internal_document_names_is_no_usual_term(fake_services: Services, knowledge: Path) -> None:
    """The promise check counts documents a customer may be told: "60 Tage" from an internal rule is flagged."""
    for place in ("intern/kulanz.md", "intern/kulanz-2.md", "kulanz.md"):
        (knowledge / place).parent.mkdir(exist_ok=True)
        (knowledge / place).write_text("# Kulanz\n\nRücknahme aus Kulanz bis 60 Tage nach Kauf.\n", encoding="utf-8")
    fake_services.ingestor.run([knowledge])
    assert fake_services.documents_saying("60 tag") == 1
    flags = promise_flags("Sie können bis 60 Tage zurückgeben.", fake_services.documents_saying)
    assert [f.kind for f in flags] == ["deadline"]


@pytest.mark.parametrize("source, internal", [("intern/a.md", True), ("INTERN/a.pdf", True), ("a/intern/b.md", True),
                                              ("intern.md", False), ("internes/a.md", False), ("a.md", False),
                                              ("/srv/intern/a.md", True)])
def test_which_paths_are_internal(source: str, internal: bool) -> None:
    assert is_internal(source) is internal


# --- through the API: the upload's checkbox, the audit log, the ticket flow -----------------------------------

def _upload(kontor: Kontor, internal: bool) -> dict[str, Any]:
    data = {"internal": "true"} if internal else {}
    response = kontor.call("POST", "/api/documents", "expert", data=data,
                           files={"file": ("Stammkunden Österreich.md", DOCUMENT, "text/markdown")})
    assert response.status_code == 201, response.text
    task_id = response.json()["task_id"]
    deadline = time.monotonic() + 60
    while kontor.call("GET", f"/api/tasks/{task_id}", "expert").json()["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("internal", [True, False])
def test_an_upload_marked_nur_intern_is_searchable_but_never_in_a_ticket_draft(
    tmp_path: Path, knowledge: Path, internal: bool,
) -> None:
    kontor = Kontor(tmp_path, knowledge)
    started = datetime.now(UTC)
    uploaded = _upload(kontor, internal)
    source = uploaded["source"]
    assert uploaded["internal"] is internal and source.startswith("intern/") is internal
    listed = {d["source"]: d for d in kontor.call("GET", "/api/documents").json()}
    assert listed[source]["indexed"] and listed[source]["internal"] is internal
    browser = TestClient(kontor.client.app)  # the page as an agent sees it
    assert browser.post("/api/session", json={"name": "anna", "password": "anna-passwort-123"}).status_code == 200
    assert ('class="pill pill-internal"' in browser.get("/wissen").text) is internal

    hits = kontor.call("GET", "/api/search", params={"q": QUESTION, "k": 3}).json()  # as an agent
    assert hits[0]["source"] == source and hits[0]["internal"] is internal and CANARY in hits[0]["text"]

    draft = kontor.drafted_ticket(TICKET)["draft"]
    asked = kontor.call("POST", "/api/ask", json={"text": QUESTION}).json()
    for shown in (json.dumps(draft, ensure_ascii=False), json.dumps(asked, ensure_ascii=False)):
        assert (CANARY in shown) is not internal and (source in shown) is not internal
    assert (CANARY in _prompts(kontor.services)) is not internal

    with kontor.services.database.session() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "document_uploaded")).all()
    assert entry.actor == "eva" and started <= entry.at <= datetime.now(UTC)  # who and when
    assert entry.detail["source"] == source and entry.detail["internal"] is internal
    assert entry.detail["sha256"] and entry.detail["original"] == "Stammkunden Österreich.md"


def test_only_experts_upload_and_an_agent_cannot_mark_anything(tmp_path: Path, knowledge: Path) -> None:
    kontor = Kontor(tmp_path, knowledge)
    response = kontor.call("POST", "/api/documents", "agent", data={"internal": "true"},
                           files={"file": ("a.md", DOCUMENT, "text/markdown")})
    assert response.status_code == 403 and not (knowledge / "intern").exists()
    with kontor.services.database.session() as session:
        assert not session.scalars(select(AuditEntry).where(AuditEntry.action == "document_uploaded")).all()
