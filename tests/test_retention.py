"""Retention: each class of data goes when its period is over — tested with the clock set forward — by
`kontor purge` (with --dry-run) and once a day by the web server."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from assistant import audit
from assistant.config import PROJECT_ROOT, Settings
from assistant.retention import DailyPurge, Periods, PurgePlan, purge
from assistant.services import Services
from assistant.store.tables import (
    Attachment,
    AuditEntry,
    DraftRow,
    EvalCacheEntry,
    Job,
    LabelledExample,
    Review,
    Ticket,
)
from assistant.tickets.attachments import Incoming
from assistant.web.app import create_app
from tests.fakes import FakeEmbedder, FakeLLM
from tests.harness import QUESTION, Kontor


@pytest.fixture
def kontor(tmp_path: Path, knowledge: Path) -> Kontor:
    kontor = Kontor(tmp_path, knowledge)
    kontor.services.settings.eval_dir = tmp_path / "eval"
    (tmp_path / "eval" / "cases").mkdir(parents=True)
    return kontor


def _closed_and_open(kontor: Kontor) -> dict[str, int]:
    """A sent ticket (with a category correction and an evaluation case), a rejected one, an open one."""
    sent = kontor.drafted_ticket()["draft"]
    kontor.call("POST", f"/api/drafts/{sent['id']}/approve")
    assert kontor.call("POST", f"/api/drafts/{sent['id']}/send").json()["status"] == "delivered"
    kontor.call("POST", f"/api/drafts/{sent['id']}/rating", json={"score": 5, "comment": "gut"})
    kontor.call("PUT", f"/api/tickets/{sent['ticket_id']}/category", json={"category": "sonstiges"})
    assert kontor.call("POST", f"/api/tickets/{sent['ticket_id']}/eval-case", role="expert").status_code == 201
    rejected = kontor.drafted_ticket({**QUESTION, "subject": "Zweite Frage"})["draft"]
    kontor.call("POST", f"/api/drafts/{rejected['id']}/reject", json={"comment": "passt nicht"})
    still_open = kontor.drafted_ticket({**QUESTION, "subject": "Dritte Frage"})["draft"]
    with kontor.services.database.session() as session:
        session.add(EvalCacheEntry(key="c" * 64, task="answer", value={"answer": "…"}))
    (kontor.services.settings.log_dir / "kontor.log").write_text("INFO gestartet\n", encoding="utf-8")
    return {"sent": sent["ticket_id"], "rejected": rejected["ticket_id"], "open": still_open["ticket_id"]}


def _purge(kontor: Kontor, now: datetime, dry_run: bool = False) -> PurgePlan:
    services = kontor.services
    return purge(services.privacy_parts(), Periods.from_settings(services.settings), now, dry_run=dry_run)


def _count(kontor: Kontor, table: type) -> int:
    with kontor.services.database.session() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def test_each_class_goes_when_its_period_is_over(kontor: Kontor) -> None:
    ids = _closed_and_open(kontor)
    with kontor.services.database.session() as session:  # attachments of the mails, as intake keeps them
        kontor.services.attachments.save(session, ids["sent"], [Incoming("foto.png", b"\x89PNG\r\n\x1a\nalt")])
        kontor.services.attachments.save(session, ids["open"], [Incoming("foto.png", b"\x89PNG\r\n\x1a\nneu")])
    s, now = kontor.services.settings, datetime.now(UTC)
    assert (s.retention.logs_days, s.retention.outbox_days, s.retention.eval_cache_days,
            s.retention.tickets_days) == (30, 90, 90, 365)
    assert _purge(kontor, now).empty()

    after_a_month = _purge(kontor, now + timedelta(days=31))
    assert after_a_month.log_files == [s.log_dir / "kontor.log"] and not after_a_month.tickets
    assert not (s.log_dir / "kontor.log").exists() and len(kontor.outbox_files()) == 1

    after_a_quarter = _purge(kontor, now + timedelta(days=91))
    assert len(after_a_quarter.mail_files) == 1 and after_a_quarter.cache_entries == 1
    assert kontor.outbox_files() == [] and _count(kontor, EvalCacheEntry) == 0
    assert _count(kontor, Ticket) == 3  # tickets have the longest period
    assert len(list((s.home / "attachments").iterdir())) == 2

    due = _purge(kontor, now + timedelta(days=366), dry_run=True)
    assert due.tickets == [ids["sent"], ids["rejected"]] and _count(kontor, Ticket) == 3  # a dry run removes nothing
    _purge(kontor, now + timedelta(days=366))
    with kontor.services.database.session() as session:
        assert list(session.scalars(select(Ticket.id))) == [ids["open"]]
        assert set(session.scalars(select(DraftRow.ticket_id))) == {ids["open"]}
        assert list(session.scalars(select(Job.ticket_id))) == [ids["open"]]
        assert list(session.scalars(select(Attachment.ticket_id))) == [ids["open"]]
        assert session.scalar(select(func.count()).select_from(Review)) == 0  # the open ticket has none
        actions = list(session.scalars(select(AuditEntry.action).where(AuditEntry.ticket_id == ids["sent"])))
    assert _count(kontor, LabelledExample) == 0  # the correction was the customer's text
    assert [p.read_bytes()[-3:] for p in (s.home / "attachments").iterdir()] == [b"neu"]  # the sent one's file went
    assert (s.eval_dir / "cases" / "answer-001.yaml").is_file()  # anonymised, and the gate depends on it
    assert "sent" in actions and audit.verify(kontor.services.database).ok  # the audit log keeps every entry
    assert kontor.call("GET", f"/api/tickets/{ids['sent']}").status_code == 404
    assert kontor.call("GET", f"/api/tickets/{ids['open']}").status_code == 200


def test_a_period_of_zero_keeps_for_ever(tmp_path: Path, knowledge: Path) -> None:
    kontor = Kontor(tmp_path, knowledge, retention_tickets_days=0, retention_outbox_days=0)
    kontor.services.settings.eval_dir = tmp_path / "eval"
    (tmp_path / "eval" / "cases").mkdir(parents=True)
    _closed_and_open(kontor)
    done = _purge(kontor, datetime.now(UTC) + timedelta(days=3650))
    assert not done.tickets and not done.mail_files and _count(kontor, Ticket) == 3
    assert done.log_files and done.cache_entries == 1  # the other classes keep their default periods


def test_kontor_purge_dry_run_says_what_would_go(kontor: Kontor) -> None:
    """The command line, on data made old (the clock of a separate process cannot be set forward)."""
    ids = _closed_and_open(kontor)
    year_ago = datetime.now(UTC) - timedelta(days=400)
    with kontor.services.database.engine.begin() as connection:
        connection.execute(text("UPDATE tickets SET updated_at = :t WHERE id = :id"),
                           {"t": year_ago, "id": ids["sent"]})
    [mail] = kontor.outbox_files()
    os.utime(mail, (year_ago.timestamp(), year_ago.timestamp()))
    s = kontor.services.settings
    env = {**os.environ, "KONTOR_HOME": str(s.home), "KONTOR_EVAL_DIR": str(s.eval_dir), "HF_HUB_OFFLINE": "1"}

    def kontor_purge(*args: str) -> str:
        result = subprocess.run([sys.executable, "-m", "assistant", "purge", *args], capture_output=True, text=True,
                                env=env, cwd=PROJECT_ROOT, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout

    dry = kontor_purge("--dry-run")
    assert "Würde löschen: 1 abgeschlossene(s) Ticket(s), 1 zugestellte Maildatei(en), 0 Logdatei(en)" in dry
    assert f"Ticket {ids['sent']}" in dry and mail.name in dry
    assert _count(kontor, Ticket) == 3 and mail.exists()
    assert "Gelöscht: 1 abgeschlossene(s) Ticket(s), 1 zugestellte Maildatei(en)" in kontor_purge()
    assert _count(kontor, Ticket) == 2 and not mail.exists()
    assert "Würde löschen: 0 abgeschlossene(s) Ticket(s), 0 zugestellte Maildatei(en)" in kontor_purge("--dry-run")


def test_the_daily_run_repeats_survives_a_failure_and_stops() -> None:
    runs: list[float] = []
    ran_twice = threading.Event()

    def run() -> None:
        runs.append(time.monotonic())
        if len(runs) >= 3:
            ran_twice.set()
        if len(runs) == 1:
            raise RuntimeError("database away for a moment")

    daily = DailyPurge(run, first_after_s=0.01, interval_s=0.05)
    daily.start()
    assert ran_twice.wait(5) and daily.running
    daily.stop()
    assert not daily.running
    count = len(runs)
    time.sleep(0.15)
    assert len(runs) == count  # stopped means stopped


def test_the_web_server_runs_the_daily_purge(tmp_path: Path, knowledge: Path) -> None:
    settings = Settings(home=tmp_path / "home", knowledge_dir=knowledge, run_worker=True,
                        categories=PROJECT_ROOT / "knowledge" / "categories.yaml")
    app = create_app(settings, Services(settings, llm=FakeLLM(), embedder=FakeEmbedder()))
    assert not app.state.purge.running
    with TestClient(app):
        assert app.state.purge.running and app.state.purge.interval_s == 86_400
    assert not app.state.purge.running
