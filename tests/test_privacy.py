"""GDPR: one customer's data can be exported and erased across every store. A unique canary goes into a
ticket (name, subject, body) and through the whole flow in the API — draft, edit, approve, send, rating
comment, category correction, evaluation case, a rejected second ticket, an evaluation run, a proven answer
and a log line — then `kontor privacy erase` runs and a byte search finds the canary in no file under the
data directory or the evaluation folder (on PostgreSQL: in no row of any table either)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from assistant import audit
from assistant.config import PROJECT_ROOT
from assistant.evaluate.evaluation import evaluate
from assistant.store.tables import AuditEntry, Base
from assistant.tickets.attachments import Incoming
from tests.harness import Kontor
from tests.servers import free_port

CANARY = "Kanarienvogel9Q7Z"
MARK = "zaunkoenig5x"  # a second canary, in the address and in the body: anonymisation keeps a word in the body
ADDRESS = f"frieda.{MARK}@example.org"
TICKET = {"customer": f"Frieda {CANARY} <{ADDRESS}>", "subject": f"Versand nach Österreich {CANARY}",
          "body": f"Guten Tag, was kostet der Versand nach Österreich für den Artikel {MARK}? Gruß {CANARY}"}
OTHER = {"customer": "Otto Normal <otto@example.net>", "subject": "Zahlung auf Rechnung",
         "body": "Kann ich auf Rechnung bezahlen?"}


@pytest.fixture(params=["sqlite", "postgresql"])
def kontor(request: pytest.FixtureRequest, tmp_path: Path, knowledge: Path) -> Kontor:
    url = request.getfixturevalue("pg_database_url") if request.param == "postgresql" else ""
    kontor = Kontor(tmp_path, knowledge, url)
    kontor.services.settings.eval_dir = tmp_path / "eval"
    (tmp_path / "eval" / "cases").mkdir(parents=True)
    return kontor


def _kontor_cli(kontor: Kontor, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    s = kontor.services.settings
    env = {**os.environ, "KONTOR_HOME": str(s.home), "KONTOR_EVAL_DIR": str(s.eval_dir),
           "KONTOR_KNOWLEDGE_DIR": str(s.knowledge_dir), "KONTOR_DATABASE_URL": s.database_url, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "assistant", *args], input=stdin, capture_output=True, text=True,
                          env=env, cwd=PROJECT_ROOT, timeout=300)


def _sent(kontor: Kontor, ticket: dict[str, str], final: str) -> dict[str, Any]:
    draft = kontor.drafted_ticket(ticket)["draft"]
    assert kontor.call("PUT", f"/api/drafts/{draft['id']}", json={"text": final}).status_code == 200
    assert kontor.call("POST", f"/api/drafts/{draft['id']}/approve").status_code == 200
    assert kontor.call("POST", f"/api/drafts/{draft['id']}/send").json()["status"] == "delivered"
    return draft


def _whole_flow(kontor: Kontor) -> int:
    """The customer's data everywhere it can go; returns the first ticket's id."""
    draft = _sent(kontor, TICKET, f"Sehr geehrte Frau {CANARY},\n\nder Versand nach Österreich kostet 5,90 €.")
    ticket_id = draft["ticket_id"]
    rated = kontor.call("POST", f"/api/drafts/{draft['id']}/rating", json={"score": 2, "comment": f"{CANARY} fehlt"})
    assert rated.status_code == 200
    assert kontor.call("PUT", f"/api/tickets/{ticket_id}/category", json={"category": "sonstiges"}).status_code == 200
    made = kontor.call("POST", f"/api/tickets/{ticket_id}/eval-case", role="expert")
    assert made.status_code == 201, made.text
    # fills the evaluation cache and a report
    assert evaluate(kontor.services.eval_parts(), "answer").report["cases"] == 1

    second = kontor.drafted_ticket({**TICKET, "subject": "Noch eine Frage"})["draft"]
    rejected = kontor.call("POST", f"/api/drafts/{second['id']}/reject", json={"comment": f"nein, {CANARY}"})
    assert rejected.status_code == 200
    kontor.services.catalogue.add_proven(f"Frage von Frieda {CANARY}", "Der Versand kostet 5,90 €.", "[]", "anna")
    logs = kontor.services.settings.log_dir
    (logs / "kontor.log").write_text(f"INFO delivery to {ADDRESS} ok\nINFO server started\n", encoding="utf-8")
    _attach(kontor, ticket_id, "foto.txt", f"Foto von {CANARY}".encode())
    return ticket_id


def _attach(kontor: Kontor, ticket_id: int, name: str, data: bytes) -> None:
    """An attachment of the ticket's mail, as intake keeps it (tests/test_attachments.py imports the mail)."""
    with kontor.services.database.session() as session:
        kontor.services.attachments.save(session, ticket_id, [Incoming(name, data)])


def _files_with(folder: Path, *needles: str) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {n}" for n in needles if n.encode() in data or n.lower().encode() in data.lower()]
    return found


@contextmanager
def _server_connection(kontor: Kontor) -> Iterator[None]:
    """SQLite: a connection held open by another process, as a running server holds one, so the write-ahead log
    is not simply deleted when the erasing process ends (in this process, reading the files for the byte search
    would drop the locks that tell SQLite so: POSIX locks end with any close of the file)."""
    if kontor.services.settings.database_url:
        yield
        return
    script = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('SELECT count(*) FROM tickets')"
              ".fetchone(); print('ready', flush=True); sys.stdin.read()")
    server = subprocess.Popen([sys.executable, "-c", script, str(kontor.services.settings.home / "kontor.db")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        yield
    finally:
        server.communicate("", timeout=30)


def _rows_with(kontor: Kontor, needle: str) -> list[str]:
    """PostgreSQL: every row of every table as text."""
    found = []
    with kontor.services.database.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            rows = connection.execute(text(f"SELECT CAST(row_to_json(t) AS text) FROM {table.name} t")).scalars()
            found += [f"{table.name}: {row[:80]}" for row in rows if needle.lower() in row.lower()]
    return found


def test_a_customer_is_exported_and_erased_from_every_store(kontor: Kontor, tmp_path: Path) -> None:
    s = kontor.services.settings
    ticket_id = _whole_flow(kontor)
    other = _sent(kontor, OTHER, "Ja, auf Rechnung bis 1.500 €.")  # another customer: must stay whole
    _attach(kontor, other["ticket_id"], "beleg.pdf", b"%PDF-1.4 Otto")
    assert _files_with(s.home, CANARY, MARK) and _files_with(s.eval_dir, MARK)  # the canaries are out there

    exported = _kontor_cli(kontor, "privacy", "export", ADDRESS, "--out", str(tmp_path / "auskunft.json"))
    assert exported.returncode == 0, exported.stderr
    data = json.loads((tmp_path / "auskunft.json").read_text(encoding="utf-8"))
    assert len(data["tickets"]) == 2 and all(CANARY in t["subject"] or ADDRESS in t["customer"]
                                             for t in data["tickets"])
    assert {r["decision"] for r in data["reviews"]} >= {"edited", "approved", "rated", "rejected", "recategorised"}
    assert any(CANARY in (r["comment"] or "") for r in data["reviews"] if r["decision"] == "rejected")
    assert [m["to_address"] for m in data["outbox"]] == [ADDRESS] and CANARY in data["outbox_files"][0]["content"]
    assert len(data["evaluation_cases"]) == 1 and MARK in data["evaluation_cases"][0]["content"]
    assert len(data["labelled_examples"]) == 1 and CANARY in data["labelled_examples"][0]["text"]
    assert len(data["proven_answers"]) == 1 and [x["line"] for x in data["log_lines"]] == [
        f"INFO delivery to {ADDRESS} ok"]
    assert {"received", "drafted", "approved", "sent", "eval_case_created"} <= {e["action"] for e in data["audit"]}
    assert [(a["name"], a["ticket_id"]) for a in data["attachments"]] == [("foto.txt", ticket_id)]
    assert [CANARY in base64.b64decode(f["content_base64"]).decode() for f in data["attachment_files"]] == [True]
    assert "otto@example.net" not in json.dumps(data) and "Rechnung bis" not in json.dumps(data)

    refused = _kontor_cli(kontor, "privacy", "erase", ADDRESS, stdin="n\n")
    assert refused.returncode == 130 and _files_with(s.home, CANARY)  # "no" erases nothing
    with _server_connection(kontor):  # as a running server holds one: the write-ahead log stays
        erased = _kontor_cli(kontor, "privacy", "erase", ADDRESS, "--yes")
        assert erased.returncode == 0, erased.stderr
        assert "Gelöscht: 2 Ticket(s), 1 Maildatei(en), 1 Anhang/Anhänge, 1 Evaluationsfall/-fälle" in erased.stdout
        assert "Hinweis" not in erased.stderr  # the write-ahead log was emptied
        assert _files_with(s.home, CANARY, MARK) == []

    assert _files_with(s.home, CANARY, MARK) == []
    assert _files_with(s.eval_dir, CANARY, MARK) == []
    if s.database_url:
        assert _rows_with(kontor, CANARY) == [] and _rows_with(kontor, MARK) == []

    # the other customer is untouched, the audit log kept every entry and still verifies
    assert [t["customer"] for t in kontor.call("GET", "/api/tickets").json()] == [OTHER["customer"]]
    assert len(kontor.outbox_files()) == 1
    assert [a["name"] for a in kontor.call("GET", f"/api/tickets/{other['ticket_id']}/attachments").json()] == [
        "beleg.pdf"]
    assert [p.read_bytes() for p in (s.home / "attachments").iterdir()] == [b"%PDF-1.4 Otto"]
    assert "server started" in (s.log_dir / "kontor.log").read_text(encoding="utf-8")
    assert kontor.call("GET", f"/api/tickets/{ticket_id}").status_code == 404
    assert audit.verify(kontor.services.database).ok
    with kontor.services.database.session() as session:
        kept = list(session.scalars(select(AuditEntry.action).where(AuditEntry.ticket_id == ticket_id)))
        erasure = session.scalars(select(AuditEntry).where(AuditEntry.action == "customer_erased")).one()
    assert "sent" in kept and "approved" in kept
    assert erasure.actor == "cli" and ADDRESS not in json.dumps(erasure.detail) and erasure.detail["address_sha256"]
    assert erasure.detail["tickets"] == [ticket_id, ticket_id + 1]


class Refusing:
    """An SMTP server whose refusal quotes the address, as real ones do."""

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        return f"550 5.1.1 <{address}>: Postfach unbekannt"


def test_the_audit_log_holds_no_free_text(tmp_path: Path, knowledge: Path) -> None:
    """The review found a reject comment and a delivery error (quoting the address) in the audit entries' detail:
    both now stay in rows an erasure reaches (the review, the outbox row's last error)."""
    from aiosmtpd.controller import Controller

    port = free_port()
    controller = Controller(Refusing(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        kontor = Kontor(tmp_path, knowledge, outbox_backend="smtp", smtp_port=port, smtp_timeout_s=5.0)
        rejected = kontor.drafted_ticket(TICKET)["draft"]
        kontor.call("POST", f"/api/drafts/{rejected['id']}/reject", json={"comment": f"Kommentar {CANARY}"})
        failed = kontor.drafted_ticket({**TICKET, "subject": "Zweite Frage"})["draft"]
        kontor.call("POST", f"/api/drafts/{failed['id']}/approve")
        message = kontor.call("POST", f"/api/drafts/{failed['id']}/send").json()
    finally:
        controller.stop()
    assert message["status"] == "pending" and ADDRESS in message["last_error"]  # kept where erasure reaches
    entries = kontor.audit(rejected["ticket_id"]) + kontor.audit(failed["ticket_id"])
    assert {"rejected", "delivery_failed"} <= {e["action"] for e in entries}
    assert all(CANARY not in json.dumps(e) and MARK not in json.dumps(e) for e in entries)


def test_erase_refuses_what_is_no_address_and_says_so_when_nothing_is_stored(kontor: Kontor) -> None:
    bad = _kontor_cli(kontor, "privacy", "erase", "niemand", "--yes")
    assert bad.returncode == 1 and bad.stderr.strip().startswith("Fehler: Das ist keine gültige E-Mail-Adresse")
    none = _kontor_cli(kontor, "privacy", "erase", "unbekannt@example.org", "--yes")
    assert none.returncode == 0 and "Zu unbekannt@example.org ist nichts gespeichert." in none.stdout
