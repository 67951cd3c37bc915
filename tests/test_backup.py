"""`kontor backup` while an app instance serves and writes, `kontor restore` into a fresh data directory: every
ticket, draft and audit row, the outbox, prompts, knowledge and the same search results come back – on SQLite
and on a real PostgreSQL (pg_dump/pg_restore), with the real chromadb index and fast fakes for the models."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, make_url, select, text
from sqlalchemy.exc import DBAPIError

from assistant import audit
from assistant.config import PROJECT_ROOT, Settings
from assistant.services import Services
from assistant.store.tables import Attachment, AuditEntry, DraftRow, Ticket
from assistant.web.app import create_app
from tests.fakes import FakeEmbedder, FakeLLM
from tests.kontor_cli import kontor
from tests.test_attachments import PNG, mail

QUESTIONS = [
    ("Versand nach Österreich", "Guten Tag, was kostet der Versand nach Österreich und wie lange dauert er?"),
    ("Rechnungskauf", "Kann ich auf Rechnung bezahlen?"),
    ("Rücksendung", "Wie lange habe ich Zeit, eine Pfanne zurückzuschicken?"),
    ("Garantie", "Wie lange gilt die Garantie auf Töpfe?"),
]
PHOTO = PNG + b"kratzer"
SEARCHES = ["Was kostet der Versand nach Österreich?", "Rechnung bezahlen", "Garantie Pfanne Rücksendung"]


class Office:
    """A Kontor on one database, filled through its API like a working day; jobs run when the test says so."""

    def __init__(self, home: Path, knowledge: Path, database_url: str) -> None:
        self.env = {"KONTOR_HOME": str(home), "KONTOR_KNOWLEDGE_DIR": str(knowledge),
                    "KONTOR_DATABASE_URL": database_url}
        self.settings = Settings(home=home, knowledge_dir=knowledge, database_url=database_url, run_worker=False,
                                 categorise_use_model=False, mail_from="kundenservice@kochwerk-lindner.de")
        self.services = Services(self.settings, llm=FakeLLM(), embedder=FakeEmbedder())
        self.app = create_app(self.settings, self.services)
        self.client = TestClient(self.app)
        self.tokens: dict[str, str] = {}

    def call(self, method: str, path: str, role: str = "agent", client: TestClient | None = None,
             **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        return (client or self.client).request(method, path, headers=headers, **kwargs)

    def ticket(self, subject: str, body: str, client: TestClient | None = None) -> int:
        created = self.call("POST", "/api/tickets", client=client,
                            json={"customer": "Erika Muster <erika@example.org>", "subject": subject, "body": body})
        assert created.status_code == 201, created.text
        self.services.jobs.run_until_idle()
        return int(created.json()["id"])

    def draft(self, ticket_id: int) -> dict[str, Any]:
        return self.call("GET", f"/api/tickets/{ticket_id}").json()["draft"]  # type: ignore[no-any-return]

    def fill(self) -> None:
        """Knowledge, users, tickets with drafts, one edited+approved+sent, one rejected, one rated, one
        recategorised, one proven answer – through the API and the `kontor` command."""
        assert self.services.ingestor.run([self.settings.knowledge_dir]).ok
        for name, role in [("anna", "agent"), ("adam", "admin")]:
            self.services.users.add(name, role, f"{name}-passwort-123")
            self.tokens[role] = self.services.users.create_token(name)
        ids = [self.ticket(subject, body) for subject, body in QUESTIONS]
        first = self.draft(ids[0])["id"]
        final = "Der Versand kostet 5,90 €.\n\nIhr Team"
        assert self.call("PUT", f"/api/drafts/{first}", json={"text": final}).is_success
        assert self.call("POST", f"/api/drafts/{first}/approve").is_success
        sent = self.call("POST", f"/api/drafts/{first}/send")
        if sent.status_code == 409:  # the price is a promise to confirm
            sent = self.call("POST", f"/api/drafts/{first}/send", json={"confirm": sent.json()["unconfirmed"]})
        assert sent.json()["status"] == "delivered", sent.text
        rejected = self.draft(ids[1])["id"]
        assert self.call("POST", f"/api/drafts/{rejected}/reject", json={"comment": "persönlich"}).is_success
        assert self.call("POST", f"/api/drafts/{self.draft(ids[2])['id']}/rating", json={"score": 4}).is_success
        assert self.call("PUT", f"/api/tickets/{ids[3]}/category", json={"category": "sonstiges"}).is_success
        proven = kontor(self.env, "proven", "add", "--question", "Gibt es Geschenkgutscheine?",
                        "--answer", "Ja, ab 10 € im Online-Shop.")
        assert proven.code == 0, proven.stderr
        self.services.intake.import_eml(mail(self.settings.home.parent, "Die Pfanne ist zerkratzt, Foto anbei.",
                                             [("foto.png", PHOTO, "image/png")]))
        self.services.jobs.run_until_idle()


class Writer(threading.Thread):
    """Keeps the app busy while the backup runs: new tickets through the API, drafted at once."""

    def __init__(self, office: Office) -> None:
        super().__init__(daemon=True)
        self.office, self.stop, self.error = office, threading.Event(), None
        self.created: list[float] = []  # when each ticket was stored
        self.client = TestClient(office.app)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.office.ticket("Versand", f"Was kostet der Versand? ({uuid.uuid4().hex[:6]})", self.client)
                self.created.append(time.monotonic())
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


@dataclass
class State:
    tickets: dict[int, tuple[str, str, str]] = field(default_factory=dict)
    drafts: dict[int, tuple[int, str]] = field(default_factory=dict)
    audit: list[tuple[int, str, str, int | None, str | None]] = field(default_factory=list)


def state(services: Services) -> State:
    with services.database.session() as session:
        return State(
            {t.id: (t.customer, t.subject, t.body) for t in session.scalars(select(Ticket))},
            {d.id: (d.ticket_id, d.generated_text) for d in session.scalars(select(DraftRow))},
            [(e.id, e.actor, e.action, e.ticket_id, e.text_sha256)
             for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))],
        )


@dataclass
class Restored:
    office: Office
    before: State
    after: State
    backup: Path
    manifest: dict[str, Any]
    during: int  # tickets the writer created while the backup ran
    services: Services
    env: dict[str, str]
    spare_url: str  # an empty database of the backend ("" for SQLite)


@pytest.fixture(scope="module")
def pg_databases(pg_url: str) -> Iterator[list[str]]:
    """Empty databases on the session's PostgreSQL server: the office's, the restore target, one kept empty."""
    names = [f"kontor_b_{uuid.uuid4().hex[:12]}" for _ in range(3)]
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        for name in names:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield [make_url(pg_url).set(database=n).render_as_string(hide_password=False) for n in names]
    with admin.connect() as connection:
        for name in names:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def restored(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Restored:
    root = tmp_path_factory.mktemp(f"backup-{request.param}")
    source_url, target_url, spare_url = (request.getfixturevalue("pg_databases") if request.param == "postgresql"
                                         else ("", "", ""))
    knowledge = shutil.copytree(PROJECT_ROOT / "knowledge", root / "knowledge")
    office = Office(root / "home", knowledge, source_url)
    office.fill()

    writer = Writer(office)
    writer.start()
    while len(writer.created) < 2 and writer.error is None:  # the app is writing before the backup starts
        time.sleep(0.05)
    before = state(office.services)
    started = time.monotonic()
    result = kontor(office.env, "backup", str(root / "backup"), "--json")
    finished = time.monotonic()
    time.sleep(0.3)
    writer.stop.set()
    writer.join(timeout=30)
    assert writer.error is None, writer.error
    assert result.code == 0, result.stderr
    after = state(office.services)

    env = {"KONTOR_HOME": str(root / "restored"), "KONTOR_DATABASE_URL": target_url}
    restore = kontor(env, "restore", str(root / "backup"), "--json")
    assert restore.code == 0, restore.stderr
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KONTOR_HOME", str(root / "restored"))  # its settings file names the restored folders
        settings = Settings(home=root / "restored", database_url=target_url, run_worker=False,
                            categorise_use_model=False)
    return Restored(office, before, after, root / "backup", json.loads(result.stdout),
                    sum(1 for t in writer.created if started <= t <= finished),
                    Services(settings, llm=FakeLLM(), embedder=FakeEmbedder()), env, spare_url)


def test_the_backup_ran_while_the_app_was_writing(restored: Restored) -> None:
    assert restored.during >= 1  # tickets were created during the backup
    assert len(restored.after.tickets) > len(restored.before.tickets)


def test_the_backup_and_the_restored_data_are_readable_by_kontor_alone(restored: Restored) -> None:
    """A backup holds every customer's mail: folder 0700, files 0600, like the data directory it came from."""
    for root in (restored.backup, restored.services.settings.home):
        found = [root, *root.rglob("*")]
        assert len(found) > 50 and [str(p) for p in found if p.stat().st_mode & 0o077] == []


def test_every_ticket_draft_and_audit_row_comes_back(restored: Restored) -> None:
    back, before, after = state(restored.services), restored.before, restored.after
    # everything that existed when the backup started, and nothing that never existed
    assert before.tickets.items() <= back.tickets.items() <= after.tickets.items()
    assert before.drafts.items() <= back.drafts.items() <= after.drafts.items()
    # one consistent moment: the restored audit log is exactly a beginning of the live one
    assert len(back.audit) >= len(before.audit)
    assert back.audit == after.audit[: len(back.audit)]
    assert restored.manifest["database"]["counts"]["tickets"] == len(back.tickets)
    assert restored.manifest["database"]["counts"]["audit_log"] == len(back.audit)
    actions = {action for _, _, action, _, _ in back.audit}
    assert {"received", "drafted", "edited", "approved", "sent", "rejected", "rated"} <= actions


def test_the_same_search_results_and_proven_answers_come_back(restored: Restored) -> None:
    source, copy = restored.office.services, restored.services
    assert copy.catalogue.chunk_count() == source.catalogue.chunk_count() > 100
    assert copy.vectors.count() == copy.catalogue.chunk_count()
    for query in SEARCHES:
        expected = source.retriever.search(query, 5)
        found = copy.retriever.search(query, 5)
        assert [h.chunk_id for h in found] == [h.chunk_id for h in expected]
        # the restored vectors are the same, but the HNSW graph is rebuilt in another insertion order: its
        # approximate neighbour list (and so the fused scores' normalisation) may differ in the third decimal
        assert [h.score for h in found] == pytest.approx([h.score for h in expected], abs=0.01)
    assert [(p.question, p.answer) for p in copy.catalogue.proven_answers()] == [
        (p.question, p.answer) for p in source.catalogue.proven_answers()]
    assert copy.problems() == []  # /api/health would say ok


def test_outbox_prompts_knowledge_and_logins_come_back(restored: Restored) -> None:
    source, copy = restored.office.settings, restored.services.settings
    assert copy.knowledge_dir == copy.home / "knowledge" and copy.prompts_dir == copy.home / "prompts"
    assert _tree(copy.outbox_dir / "new") == _tree(source.outbox_dir / "new") != {}
    assert _tree(copy.attachments_dir) == _tree(source.attachments_dir) != {}
    assert restored.manifest["counts"]["attachment_files"] == 1
    assert _tree(copy.prompts_dir) == _tree(source.prompts_dir)
    assert _tree(copy.knowledge_dir) == _tree(source.knowledge_dir)
    # the restored app answers the old token with the same ticket and draft
    office = restored.office
    client = TestClient(create_app(copy, restored.services))
    first = min(restored.before.tickets)
    seen = client.get(f"/api/tickets/{first}", headers={"Authorization": f"Bearer {office.tokens['agent']}"})
    assert seen.status_code == 200 and seen.json()["draft"]["text"] == office.draft(first)["text"]
    with restored.services.database.session() as session:
        photo = session.scalars(select(Attachment.id)).one()
    download = client.get(f"/api/attachments/{photo}", headers={"Authorization": f"Bearer {office.tokens['agent']}"})
    assert download.status_code == 200 and download.content == PHOTO


def test_the_restored_audit_log_is_still_append_only(restored: Restored) -> None:
    engine = restored.services.database.engine
    for statement in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError), engine.begin() as connection:
            connection.execute(text(statement))
    assert len(state(restored.services).audit) == restored.manifest["database"]["counts"]["audit_log"]
    verdict = audit.verify(restored.services.database)
    assert verdict.ok and not verdict.missing_triggers


def test_each_backup_is_an_anchor_for_the_audit_chain(restored: Restored) -> None:
    """The manifest keeps the newest audit hash of the snapshot: `kontor audit verify --expect` finds it in the
    restored log and in the live one, which has grown since."""
    head = restored.manifest["audit_head"]
    assert head and len(head) == 64
    assert audit.verify(restored.services.database, expect=head).ok
    assert audit.verify(restored.office.services.database, expect=head).ok
    assert not audit.verify(restored.office.services.database, expect="0" * 64).ok


def test_restore_refuses_a_data_directory_or_database_that_is_not_empty(restored: Restored) -> None:
    again = kontor(restored.env, "restore", str(restored.backup))
    assert again.code == 1
    [line] = again.stderr.strip().splitlines()
    assert "Wiederherstellung nur in ein leeres Datenverzeichnis" in line
    if restored.env["KONTOR_DATABASE_URL"]:  # an empty folder, but the database already holds the restore
        fresh = {**restored.env, "KONTOR_HOME": str(restored.backup.parent / "empty-home")}
        refused = kontor(fresh, "restore", str(restored.backup))
        assert refused.code == 1 and "leere Datenbank" in refused.stderr
        assert not any(p.is_file() for p in (restored.backup.parent / "empty-home").rglob("*"))


def test_a_damaged_or_unfinished_backup_is_refused_before_anything_is_written(
    restored: Restored, tmp_path: Path
) -> None:
    damaged = shutil.copytree(restored.backup, tmp_path / "damaged")
    mail = sorted((damaged / "home" / "outbox" / "new").iterdir())[0]
    data = bytearray(mail.read_bytes())
    data[len(data) // 2] ^= 0x01
    mail.write_bytes(bytes(data))
    env = {"KONTOR_HOME": str(tmp_path / "home"), "KONTOR_DATABASE_URL": restored.spare_url}  # empty target
    refused = kontor(env, "restore", str(damaged))
    assert refused.code == 1
    assert f"Sicherung beschädigt: home/outbox/new/{mail.name}" in refused.stderr
    assert not any(p.is_file() for p in (tmp_path / "home").rglob("*"))

    (damaged / "manifest.json").unlink()
    unfinished = kontor(env, "restore", str(damaged))
    assert unfinished.code == 1 and "Keine vollständige Kontor-Sicherung" in unfinished.stderr
    occupied = kontor(restored.office.env, "backup", str(restored.backup))
    assert occupied.code == 1 and "ist nicht leer" in occupied.stderr


def _tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}
