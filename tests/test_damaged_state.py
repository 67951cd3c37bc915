"""Damaged state is noticed and named with its repair, never silently served: a deleted or corrupt vector index
(real chromadb, the demo company's knowledge), a model file changed after its registration, a half-written file
a crash left in the outbox."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant import models
from assistant.config import PROJECT_ROOT, Settings
from assistant.health import MODEL_REPAIR
from assistant.models import add_model, embedded_model
from assistant.services import Services
from assistant.web.app import create_app
from tests.fakes import FakeEmbedder, FakeLLM
from tests.kontor_cli import kontor


@pytest.fixture(scope="module")
def indexed_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo company's knowledge indexed once (fake embedder, real chromadb). Tests damage copies that this
    process never opened: chromadb keeps one client per folder and process, which would hide the damage."""
    home = tmp_path_factory.mktemp("indexed") / "home"
    services = Services(Settings(home=home), embedder=FakeEmbedder())
    assert services.ingestor.run([services.settings.knowledge_dir]).ok
    return home


@pytest.fixture
def fake_embedder_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """`kontor ingest` in this process embeds with the fake as well (the index records which embedder)."""
    monkeypatch.setattr("assistant.services.make_embedder", lambda settings: FakeEmbedder())


def _ok(client: TestClient) -> bool:
    return client.get("/api/health").json() == {"status": "ok", "problems": []}  # type: ignore[no-any-return]


@pytest.mark.usefixtures("fake_embedder_everywhere")
def test_a_deleted_vector_index_is_reported_at_start_and_repaired_by_kontor_ingest(
    indexed_home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = shutil.copytree(indexed_home, tmp_path / "home")
    shutil.rmtree(home / "index" / "chroma")  # the review's damage: the index folder is gone, the catalogue not
    settings = Settings(home=home, run_worker=False)
    services = Services(settings, llm=FakeLLM(), embedder=FakeEmbedder())
    chunks = services.catalogue.chunk_count()
    detail = f"Vektorindex unvollständig: 0 Vektoren für {chunks} Abschnitte"
    with caplog.at_level(logging.WARNING, logger="kontor.web"), TestClient(create_app(settings, services)) as client:
        assert f"{detail} – Reparatur: kontor ingest --rebuild" in caplog.text  # logged at start
        problem = {"part": "index", "detail": detail, "repair": "kontor ingest --rebuild"}
        assert client.get("/api/health").json() == {"status": "degraded", "problems": [problem]}

        repaired = kontor({"KONTOR_HOME": str(home)}, "ingest")
        assert repaired.code == 0, repaired.stderr
        assert f"Vektorindex unvollständig: {chunks} von {chunks} Abschnitten ohne Vektor" in repaired.stderr
        assert f"Vektorindex repariert: {chunks} Vektoren für {chunks} Abschnitte" in repaired.stderr
        assert _ok(client) and services.vectors.count() == chunks > 100


@pytest.mark.usefixtures("fake_embedder_everywhere")
def test_corrupt_vector_index_files_are_reported_and_rebuilt(indexed_home: Path, tmp_path: Path) -> None:
    home = shutil.copytree(indexed_home, tmp_path / "home")
    database = home / "index" / "chroma" / "chroma.sqlite3"
    database.write_bytes(os.urandom(database.stat().st_size))
    settings = Settings(home=home, run_worker=False)
    client = TestClient(create_app(settings, Services(settings, llm=FakeLLM(), embedder=FakeEmbedder())))
    assert client.get("/api/health").json() == {"status": "degraded", "problems": [
        {"part": "index", "detail": "Vektorindex nicht lesbar (InternalError)", "repair": "kontor ingest --rebuild"}]}

    refused = kontor({"KONTOR_HOME": str(home)}, "ingest")
    assert refused.code == 1
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("Fehler: Vektorindex nicht lesbar") and line.endswith("Reparatur: `kontor ingest --rebuild`")

    rebuilt = kontor({"KONTOR_HOME": str(home)}, "ingest", "--rebuild")
    assert rebuilt.code == 0, rebuilt.stderr
    fresh = Services(settings, llm=FakeLLM(), embedder=FakeEmbedder())
    assert fresh.problems() == [] and fresh.vectors.count() == fresh.catalogue.chunk_count() > 100
    intact = Services(Settings(home=indexed_home), embedder=FakeEmbedder())
    for query in ("Was kostet der Versand nach Österreich?", "Rechnungskauf", "Garantie auf Pfannen"):
        dense = [(h.chunk_id, h.score) for h in fresh.retriever.search(query, 5, channels=("dense",))]
        assert dense == [(h.chunk_id, h.score) for h in intact.retriever.search(query, 5, channels=("dense",))]


def test_index_files_deleted_while_kontor_runs_are_noticed(tmp_path: Path, knowledge: Path) -> None:
    services = Services(Settings(home=tmp_path / "home", knowledge_dir=knowledge), embedder=FakeEmbedder())
    services.ingestor.run([knowledge])
    assert services.problems() == []
    shutil.rmtree(services.settings.index_dir / "chroma")  # this process still reads the deleted files
    [problem] = services.problems()
    # usually the missing files are seen first; chromadb may also fail first on its own (InternalError)
    if problem.detail.startswith("Vektorindex nicht lesbar"):
        assert problem.repair == "kontor ingest --rebuild"
    else:
        assert problem.detail == "Die Dateien des Vektorindex wurden gelöscht, während Kontor lief"
        assert problem.repair == "Kontor neu starten, dann `kontor ingest --rebuild`"


def test_an_unreadable_catalogue_is_reported_not_a_server_error(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", run_worker=False)
    settings.ensure_dirs()
    (settings.index_dir / "catalogue.sqlite").write_bytes(os.urandom(8192))
    with TestClient(create_app(settings, Services(settings, llm=FakeLLM(), embedder=FakeEmbedder()))) as client:
        [problem] = client.get("/api/health").json()["problems"]  # the server started, too
    assert problem["detail"] == "Wissenskatalog nicht lesbar (DatabaseError)"
    assert "kontor restore" in problem["repair"]


def test_a_changed_model_file_is_reported_and_drafting_answers_503(
    tmp_path: Path, knowledge: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "modelle" / "kopie.gguf"
    copy.parent.mkdir()
    shutil.copyfile(embedded_model().path, copy)
    base = Settings(home=tmp_path / "home", knowledge_dir=knowledge, run_worker=False, categorise_use_model=False,
                    categories=PROJECT_ROOT / "knowledge" / "categories.yaml")
    base.ensure_dirs()
    add_model(base, copy, "kopie")
    settings = Settings(**{**base.model_dump(), "llm": {**base.llm.model_dump(), "model": "kopie"}})
    services = Services(settings, embedder=FakeEmbedder())  # no model passed in: the registered file is checked
    services.users.add("anna", "agent", "anna-passwort-123")
    services.users.add("adam", "admin", "adam-passwort-123")
    agent = {"Authorization": f"Bearer {services.users.create_token('anna')}"}
    admin = {"Authorization": f"Bearer {services.users.create_token('adam')}"}
    client = TestClient(create_app(settings, services))
    hashed = []
    original = models.sha256_file
    monkeypatch.setattr(models, "sha256_file", lambda path, *a: hashed.append(path) or original(path, *a))

    assert _ok(client) and _ok(client) and _ok(client)
    assert len(hashed) == 1  # an unchanged file is hashed once, not on every request

    with copy.open("r+b") as handle:  # the damage: one byte flipped in the middle of the model file
        handle.seek(copy.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))
    health = client.get("/api/health").json()
    assert health["status"] == "degraded"
    [problem] = health["problems"]
    assert problem["part"] == "model" and problem["repair"] == MODEL_REPAIR
    assert problem["detail"].startswith("Modelldatei kopie.gguf stimmt nicht mit der registrierten Prüfsumme überein")

    created = client.post("/api/tickets", headers=agent, json={
        "customer": "erika@example.org", "subject": "Versand", "body": "Was kostet der Versand nach Österreich?"})
    assert created.status_code == 201, created.text  # the customer's message is kept; a person answers it
    ticket_id = created.json()["id"]
    assert services.jobs.run_until_idle() == 1
    assert client.get(f"/api/tickets/{ticket_id}", headers=agent).json()["status"] == "needs_human"
    [failed] = [e for e in client.get(f"/api/audit?ticket_id={ticket_id}", headers=admin).json()
                if e["action"] == "draft_failed"]
    assert "Prüfsumme" in failed["detail"]["reason"]

    for method, path, body in [("POST", f"/api/tickets/{ticket_id}/draft", None),
                               ("POST", "/api/ask", {"text": "Was kostet der Versand?"})]:
        answer = client.request(method, path, headers=agent, json=body)
        assert answer.status_code == 503, answer.text
        assert answer.json()["detail"].startswith("Entwürfe sind zurzeit nicht möglich: Modelldatei kopie.gguf")
    assert services.jobs.pending() == 0  # nothing queued for a model that cannot run
    assert len(hashed) == 2

    with copy.open("r+b") as handle:  # the registered file back in place
        handle.seek(copy.stat().st_size // 2)
        handle.write(byte)
    assert _ok(client)


def test_a_half_written_outbox_file_is_removed_at_start(
    tmp_path: Path, knowledge: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(home=tmp_path / "home", knowledge_dir=knowledge, run_worker=False)
    services = Services(settings, llm=FakeLLM(), embedder=FakeEmbedder())
    tmp = settings.outbox_dir / "tmp"
    tmp.mkdir(parents=True)
    crashed = tmp / f"antwort-1.0123456789abcdef.eml.{_dead_pid()}.{'a' * 32}"
    crashed.write_bytes(b"From: kundenservice@example.org\r\nSubject: Re: Versa")  # cut off mid-header
    foreign_old = tmp / "1700000000.M1P2.otherhost"
    foreign_old.write_bytes(b"left by another program")
    os.utime(foreign_old, (time.time() - 40 * 3600,) * 2)
    foreign_new = tmp / "1700000001.M1P3.otherhost"  # perhaps being written right now: kept
    foreign_new.write_bytes(b"in progress")
    alive = tmp / f"antwort-2.fedcba9876543210.eml.{os.getppid()}.{'b' * 32}"  # its writer still runs: kept
    alive.write_bytes(b"in progress")

    with caplog.at_level(logging.WARNING, logger="kontor.web"), TestClient(create_app(settings, services)):
        pass
    assert sorted(p.name for p in tmp.iterdir()) == sorted([foreign_new.name, alive.name])
    assert crashed.name in caplog.text and foreign_old.name in caplog.text


def _dead_pid() -> int:
    """The id of a process that has ended (the writer a crash took away)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid
