"""The `kontor` command end to end on the real parts: sentence-transformers, chromadb, llama.cpp."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from assistant.config import PROJECT_ROOT
from tests.servers import free_port, start_kontor

KONTOR = [sys.executable, "-m", "assistant"]


def run(home: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KONTOR_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([*KONTOR, *args], capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=600)
    if ok:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("cli-home")
    result = run(home, "ingest", "--json")
    report = json.loads(result.stdout)
    assert len(report["added"]) >= 15 and report["failed"] == {}
    return home


def test_ingest_again_skips_everything(home: Path) -> None:
    report = json.loads(run(home, "ingest", "--json").stdout)
    assert report["added"] == [] and report["chunks_written"] == 0 and len(report["unchanged"]) >= 15


def test_search_json_contract(home: Path) -> None:
    hits = json.loads(run(home, "search", "Was kostet der Versand nach Österreich?", "-k", "3", "--json").stdout)
    assert [h["rank"] for h in hits] == [1, 2, 3]
    assert set(hits[0]) == {"rank", "score", "source", "title", "chunk_id", "text", "internal"}
    assert any(h["source"] == "versand-und-lieferung.md" for h in hits)


def test_ask_json_contract_with_real_model(home: Path) -> None:
    draft = json.loads(run(home, "ask", "Was kostet der Versand nach Österreich?", "--json").stdout)
    assert {"answer", "citations", "handover", "prompt_version", "model", "timings_ms"} <= set(draft)
    assert draft["model"] == "smollm2" and draft["prompt_version"] == "answer@v1"
    assert not draft["handover"] and draft["citations"]
    assert "5,90 €" in draft["answer"] and draft["answer"].startswith("Guten Tag,")
    assert "[1]" not in draft["answer"]  # the customer gets clean prose; the sources are in the sections
    [section] = draft["sections"]
    assert section["citations"] and {c["n"] for c in draft["citations"]} == set(section["citations"])
    for citation in draft["citations"]:
        assert set(citation) == {"n", "source", "chunk_id", "quote"}
    assert draft["timings_ms"]["total_ms"] > 0


def test_ask_streams_in_the_terminal(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run(home, "ask", "Kann ich mit PayPal bezahlen?")  # the embedded model is not asked by default
    assert "Modell schreibt" not in result.stderr and "Frage 1" in result.stderr
    assert "KI-Entwurf – bitte prüfen" in result.stdout or "Übergabe" in result.stdout
    monkeypatch.setenv("KONTOR_ANSWER_GENERATE", "always")
    streamed = run(home, "ask", "Kann ich mit PayPal bezahlen?")
    assert "Modell schreibt" in streamed.stderr


def test_batch_modes_keep_ids_and_report_bad_lines(home: Path, tmp_path: Path) -> None:
    batch = tmp_path / "fragen.jsonl"
    batch.write_text(
        '{"id": "a", "text": "Kann ich mit PayPal bezahlen?"}\n'
        "das ist kein json\n"
        '{"id": "c", "text": ""}\n'
        '{"id": 4, "text": "Wie lange dauert der Schleifservice?"}\n',
        encoding="utf-8",
    )
    searched = [json.loads(line) for line in run(home, "search", "--batch", str(batch)).stdout.splitlines()]
    assert [s.get("id") for s in searched] == ["a", None, "c", 4]
    assert "results" in searched[0] and "error" in searched[1] and "error" in searched[2]
    asked = [json.loads(line) for line in run(home, "ask", "--batch", str(batch)).stdout.splitlines()]
    assert [a.get("id") for a in asked] == ["a", None, "c", 4]
    assert "answer" in asked[0] and "answer" in asked[3] and "Zeile 2" in asked[1]["error"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ask", "   "), "Bitte einen Text"),
        (("ingest", "/gibt/es/nicht"), "Pfad nicht gefunden"),
        (("search", "--batch", "/gibt/es/nicht.jsonl"), "Datei nicht gefunden"),
    ],
)
def test_errors_exit_non_zero_with_one_line(home: Path, args: tuple[str, ...], message: str) -> None:
    result = run(home, *args, ok=False)
    assert result.returncode == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_model_add_list_and_tamper_check(tmp_path: Path) -> None:
    from assistant.models import embedded_model

    home = tmp_path / "home"
    not_gguf = tmp_path / "modell.gguf"
    not_gguf.write_bytes(b"NOPE" + b"\0" * 100)
    assert "keine GGUF" in run(home, "model", "add", str(not_gguf), ok=False).stderr

    copy = tmp_path / "euro-test.gguf"
    shutil.copyfile(embedded_model().path, copy)
    run(home, "model", "add", str(copy), "--name", "euro", "--note", "Test", "--use")
    listed = json.loads(run(home, "model", "list", "--json").stdout)
    assert [(m["name"], m["active"]) for m in listed] == [("smollm2", False), ("euro", True)]
    assert listed[1]["sha256"] == listed[0]["sha256"]

    with copy.open("r+b") as handle:  # tamper with the registered file
        handle.seek(1000)
        handle.write(b"\xff\xff")
    result = run(home, "ask", "Was kostet der Versand?", ok=False)
    assert result.returncode == 1 and "Prüfsumme" in result.stderr


def test_categorise_learns_from_a_correction_on_the_command_line(tmp_path: Path) -> None:
    from assistant.categorise.categories import load_categories
    from assistant.config import Settings

    ids = set(load_categories(Settings().categories_file).ids)
    text = "Mein Rührwerk kam mit gesprungener Schüssel an, bitte um Ersatz."
    first = json.loads(run(tmp_path, "categorise", text, "--json").stdout)
    assert set(first) >= {"category", "confidence", "method", "alternatives"} and first["category"] in ids
    assert first["method"] in {"model", "descriptions"}  # 45 examples in the file: below the classifier's 50
    run(tmp_path, "examples", "add", text, "--category", "falschlieferung")
    again = json.loads(run(tmp_path, "categorise", text, "--json").stdout)
    assert (again["category"], again["method"]) == ("falschlieferung", "example")


def test_categorise_batch_and_bad_input(tmp_path: Path) -> None:
    batch = tmp_path / "in.jsonl"
    batch.write_text('{"id": 7, "text": "Die Rechnung ist doppelt abgebucht."}\nkaputt\n', encoding="utf-8")
    lines = [json.loads(line) for line in run(tmp_path, "categorise", "--batch", str(batch), "--no-model").stdout
             .splitlines()]
    assert lines[0]["id"] == 7 and lines[0]["category"] == "rechnung_zahlung"
    assert "Zeile 2" in lines[1]["error"]
    empty = run(tmp_path, "categorise", "  ", ok=False)
    assert empty.returncode == 1 and len(empty.stderr.strip().splitlines()) == 1


def test_examples_import_reports_bad_lines_and_keeps_the_good(tmp_path: Path) -> None:
    data = tmp_path / "examples.jsonl"
    data.write_text(
        '{"text": "Paket fehlt", "category": "lieferverzug"}\n{"text": "x", "category": "nope"}\n'
        '{"text": "Rechnung doppelt", "category": "rechnung_zahlung"}\n', encoding="utf-8",
    )
    result = run(tmp_path, "examples", "import", str(data), ok=False)
    assert result.returncode == 1
    assert "Zeile 2" in result.stderr and "nope" in result.stderr
    listed = json.loads(run(tmp_path, "examples", "list", "--json").stdout)
    assert {e["text"] for e in listed} == {"Paket fehlt", "Rechnung doppelt"}


def test_users_tokens_and_ticket_import_on_the_command_line(tmp_path: Path) -> None:
    env_home = tmp_path / "h"
    added = subprocess.run([*KONTOR, "users", "add", "anna", "--role", "agent", "--password-stdin"],
                           input="ein-langes-passwort\n", capture_output=True, text=True, cwd=PROJECT_ROOT,
                           env={**os.environ, "KONTOR_HOME": str(env_home)}, timeout=120)
    assert added.returncode == 0, added.stderr
    again = run(env_home, "users", "add", "anna", "--role", "agent", ok=False)
    assert again.returncode == 1 and len(again.stderr.strip().splitlines()) == 1 and "schon" in again.stderr
    assert "Rolle" in run(env_home, "users", "add", "bert", "--role", "chef", ok=False).stderr
    token = run(env_home, "tokens", "create", "anna").stdout
    assert token.count("\n") == 1 and token.startswith("kt_")
    assert run(env_home, "tokens", "create", "niemand", ok=False).returncode == 1

    demo_tickets = PROJECT_ROOT / "demo" / "tickets"
    first = json.loads(run(env_home, "tickets", "import", str(demo_tickets), "--json").stdout)
    assert len(first["imported"]) == 12 and first["failed"] == {}
    assert len(json.loads(run(env_home, "tickets", "import", str(demo_tickets), "--json").stdout)["duplicates"]) == 12
    broken = tmp_path / "kaputt"
    broken.mkdir()
    (broken / "binär.eml").write_bytes(b"\x00\x01PK\x03\x04" * 100)
    failed = run(env_home, "tickets", "import", str(broken), ok=False)
    assert failed.returncode == 1 and "binär.eml" in failed.stderr
    listed = json.loads(run(env_home, "tickets", "list", "--json").stdout)
    assert len(listed) == 12 and {t["status"] for t in listed} == {"new"}


def _serve(home: Path, port: int) -> subprocess.Popen[str]:
    return start_kontor({**os.environ, "KONTOR_HOME": str(home), "HF_HUB_OFFLINE": "1"}, port)


def _job_status(home: Path) -> list[str]:
    with sqlite3.connect(home / "kontor.db") as db:
        return [row[0] for row in db.execute("SELECT status FROM jobs ORDER BY id")]


def test_server_killed_while_drafting_resumes_the_job_after_restart(home: Path) -> None:
    """kill -9 of the real server in the middle of a real drafting job: the restarted server finishes it."""
    run(home, "users", "add", "kim", "--role", "agent")
    auth = {"Authorization": "Bearer " + run(home, "tokens", "create", "kim").stdout.strip()}
    port = free_port()
    base = f"http://127.0.0.1:{port}/api"
    server = _serve(home, port)
    try:
        ticket = httpx.post(f"{base}/tickets", headers=auth, timeout=30, json={
            "customer": "Erika Muster <erika@example.org>", "subject": "Rücksendung",
            "body": "Wie lange habe ich Zeit, ein Messer zurückzuschicken, und wer zahlt den Rückversand?"}).json()
        deadline = time.monotonic() + 60
        while _job_status(home)[-1] != "running" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _job_status(home)[-1] == "running"
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait()
    assert _job_status(home)[-1] == "running"

    server = _serve(home, port)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            view = httpx.get(f"{base}/tickets/{ticket['id']}", headers=auth, timeout=30).json()
            if view["status"] != "new":
                break
            time.sleep(0.5)
        assert view["status"] in {"drafted", "needs_human"} and view["draft"]["text"]
        assert _job_status(home)[-1] == "done"
        approve = httpx.post(f"{base}/drafts/{view['draft']['id']}/approve", headers=auth, timeout=30)
        assert approve.status_code == 200
        sent = httpx.post(f"{base}/drafts/{view['draft']['id']}/send", headers=auth, timeout=30).json()
        assert sent["status"] == "delivered"
        assert list((home / "outbox" / "new").iterdir())
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
