"""The expert API through the real app: knowledge uploads and re-indexing, prompt versions, evaluation runs, the
learning-loop dashboard, and who may do what."""

from __future__ import annotations

import base64
import difflib
import io
import re
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from assistant.evaluate.evaluation import accept, evaluate
from tests.harness import ExpertKontor, Kontor

CANARY = "/tmp/kontor-api-sandbox-canary"
MARKDOWN = "# Garantie\n\nAuf alle Pfannen gewähren wir 5 Jahre Garantie ab Kaufdatum.\n".encode()


@pytest.fixture
def kontor(tmp_path: Path, knowledge: Path) -> Kontor:
    return ExpertKontor(tmp_path, knowledge)


def _docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Rücksendung", level=1)
    document.add_paragraph("Rücksendungen sind innerhalb von 30 Tagen kostenlos möglich.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _pdf() -> bytes:
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(72, 720, "Reparaturen dauern in der Regel zehn Werktage.")
    page.save()
    return buffer.getvalue()


# --- knowledge -----------------------------------------------------------------------------------------------

def test_upload_is_stored_under_a_safe_name_and_indexed(kontor: Kontor) -> None:
    response = kontor.upload("Garantie Österreich.MD", MARKDOWN)
    assert response.status_code == 201, response.text
    source = response.json()["source"]
    assert re.fullmatch(r"garantie-oesterreich-[0-9a-f]{8}\.md", source) and response.json()["queued"] is True
    assert (kontor.knowledge / source).read_bytes() == MARKDOWN
    task = kontor.wait(response.json()["task_id"])
    assert task["status"] == "done" and source in task["result"]["added"], task
    listed = kontor.documents()[source]
    assert listed["indexed"] is True and listed["chunks"] >= 1 and listed["title"] == "Garantie"
    assert kontor.call("GET", "/api/search", "agent", params={"q": "Garantie Pfannen"}).json()[0]["source"] == source


@pytest.mark.parametrize("name, data", [("ruecksendung.docx", _docx()), ("reparatur.pdf", _pdf()),
                                        ("seite.html", b"<h1>Kontakt</h1><p>Telefon 0800 123</p>")])
def test_real_pdf_docx_and_html_are_accepted(kontor: Kontor, name: str, data: bytes) -> None:
    response = kontor.upload(name, data)
    assert response.status_code == 201, response.text
    assert kontor.wait(response.json()["task_id"])["result"]["ok"] is True
    assert kontor.documents()[response.json()["source"]]["indexed"] is True


def _zip_without_document() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("evil.sh", "rm -rf /")
    return buffer.getvalue()


@pytest.mark.parametrize("name, data, status", [
    ("programm.exe", b"MZ\x90\x00", 422),
    ("ohne-endung", b"Text", 422),
    ("skript.md.sh", b"echo hallo", 422),
    ("handbuch.pdf", b"<html>kein PDF</html>", 422),
    ("vertrag.docx", b"PK\x03\x04 kein zip", 422),
    ("vertrag.docx", _zip_without_document(), 422),
    ("notiz.md", "Grüße".encode("latin-1"), 422),
    ("notiz.txt", b"Text\x00mit Nullbyte", 422),
    ("leer.txt", b"", 422),
    ("gross.md", b"a" * (64 * 1024 + 1), 413),
])
def test_refused_uploads_leave_nothing_behind(kontor: Kontor, name: str, data: bytes, status: int) -> None:
    before = kontor.files()
    response = kontor.upload(name, data)
    assert response.status_code == status, response.text
    if status == 422 and data:
        assert response.json()["detail"].startswith("Dateityp nicht erlaubt")
    assert kontor.files() == before


def _docx_bomb() -> bytes:
    """A small .docx whose one member unpacks to 55 MB (the review used 1 GiB in 1 MB)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("word/document.xml", "<w:document/>")
        archive.writestr("word/media/image1.bin", b"\0" * (55 * 2**20))
    return buffer.getvalue()


def _pdf_with_pages(levels: int) -> bytes:
    """About 1 KB with 10**levels pages (the review's 1.9 KB PDF had 10,000): each node of the page tree lists the
    same child ten times, so the file stays tiny however many pages it declares."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    for level in range(levels):  # objects 2 … levels+1: the page tree
        number, child = level + 2, level + 3
        parent = f" /Parent {number - 1} 0 R" if level else ""
        kids = " ".join([f"{child} 0 R"] * 10)
        objects.append(f"<< /Type /Pages{parent} /Kids [{kids}] /Count {10 ** (levels - level)} >>".encode())
    content = b"BT /F1 8 Tf 1 1 Td (Seite) Tj ET"
    font = levels + 4
    objects.append(f"<< /Type /Page /Parent {levels + 1} 0 R /MediaBox [0 0 10 10] /Contents {levels + 3} 0 R "
                   f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode())
    objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@pytest.mark.parametrize("name, data, reason", [
    ("bombe.docx", _docx_bomb(), "entpackt zu groß"),
    ("zehntausend-seiten.pdf", _pdf_with_pages(4), "zu viele Seiten (10000"),
    ("handbuch.pdf", b"%PDF-1.7\n" + b"MZ\x90\x00" * 200, "beschädigt"),
    ("programm.pdf", b"%PDF-1.7\n\x7fELF\x02\x01\x01" + bytes(range(256)) * 40, "beschädigt"),
])
def test_hostile_documents_are_refused_before_they_join_the_knowledge(kontor: Kontor, name: str, data: bytes,
                                                                       reason: str) -> None:
    import tracemalloc

    assert len(data) < 64 * 1024  # small on the wire: the danger is inside
    before = kontor.files()
    tracemalloc.start()
    try:
        response = kontor.upload(name, data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status_code == 422 and reason in response.json()["detail"], response.text
    assert peak < 20 * 2**20, peak  # refused before the heavy work: the 55 MB member was never unpacked
    assert kontor.files() == before and not list(kontor.knowledge.glob(".upload-*"))


def test_a_pdf_whose_content_blows_up_is_a_422_and_a_skipped_file_in_the_reindex(
    kontor: Kontor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 10, item 5: a 10 KB PDF whose one page expands to 4 MB of text operators costs its CPU budget
    (2 s here, in a child process), then a German 422 at upload, and a reported failure in a re-index."""

    from assistant.knowledge import loaders
    from tests.test_loaders import _hostile_pdf

    monkeypatch.setattr(loaders, "PDF_CPU_SECONDS", 2)
    bomb = tmp_path / "bombe.pdf"
    _hostile_pdf(bomb, 600_000)
    before = kontor.files()
    started = time.monotonic()
    response = kontor.upload("bombe.pdf", bomb.read_bytes())
    assert response.status_code == 422 and "PDF ist zu aufwendig zu lesen" in response.json()["detail"]
    assert time.monotonic() - started < 8
    assert kontor.files() == before and not list(kontor.knowledge.glob(".upload-*"))
    (kontor.knowledge / "bombe.pdf").write_bytes(bomb.read_bytes())
    report = kontor.services.ingestor.run([kontor.knowledge])
    assert "zu aufwendig" in report.failed["bombe.pdf"]
    assert any(h.source == "versand.md" for h in kontor.services.retriever.search("Versand Österreich", 3))


def test_a_hostile_file_never_breaks_the_reindex_of_the_others(kontor: Kontor, tmp_path: Path) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(501):
        writer.add_blank_page(width=10, height=10)
    with (kontor.knowledge / "tausend-seiten.pdf").open("wb") as handle:
        writer.write(handle)
    (kontor.knowledge / "bombe.docx").write_bytes(_docx_bomb())
    report = kontor.services.ingestor.run([kontor.knowledge])
    assert "zu viele Seiten" in report.failed["tausend-seiten.pdf"]
    assert "entpackt zu groß" in report.failed["bombe.docx"]
    assert any(h.source == "versand.md" for h in kontor.services.retriever.search("Versand Österreich", 3))


@pytest.mark.parametrize("name", ["../../etc/passwd.md", "..\\..\\windows\\win.ini.txt", "/etc/cron.d/job.md",
                                  "....//versand.md"])
def test_path_tricks_in_the_file_name_cannot_escape(kontor: Kontor, tmp_path: Path, name: str) -> None:
    response = kontor.upload(name, MARKDOWN)
    assert response.status_code == 201, response.text
    source = response.json()["source"]
    assert re.fullmatch(r"[a-z0-9-]+-[0-9a-f]{8}\.(md|txt)", source)
    assert (kontor.knowledge / source).is_file() and (kontor.knowledge / "versand.md").read_text().startswith("# Vers")
    assert not (tmp_path / "etc").exists() and not (tmp_path.parent / "etc" / "passwd.md").exists()
    kontor.wait(response.json()["task_id"])


def test_listing_shows_unindexed_files_until_a_reindex(kontor: Kontor) -> None:
    (kontor.knowledge / "retoure.txt").write_text("Retouren bitte mit dem beiliegenden Schein senden.", "utf-8")
    (kontor.knowledge / "company.yaml").write_text("name: Kochwerk\n", "utf-8")
    listed = kontor.documents()
    assert listed["retoure.txt"]["indexed"] is False and listed["versand.md"]["indexed"] is True
    assert "company.yaml" not in listed
    assert set(listed["versand.md"]) >= {"source", "title", "chunks", "size", "sha256", "indexed"}

    started = kontor.call("POST", "/api/reindex")
    assert started.status_code == 202
    task = kontor.wait(started.json()["task_id"])
    assert task["status"] == "done" and task["kind"] == "reindex" and task["done"] == task["total"] == 3
    assert task["result"]["added"] == ["retoure.txt"] and task["error"] is None
    assert kontor.documents()["retoure.txt"]["indexed"] is True


def test_one_reindex_at_a_time(kontor: Kontor) -> None:
    background = kontor.app.state.background
    with background.index_lock:  # the first run waits here, so it is surely still running
        first = kontor.call("POST", "/api/reindex")
        assert first.status_code == 202
        second = kontor.call("POST", "/api/reindex")
        assert second.status_code == 409 and "bereits" in second.json()["detail"]
        assert kontor.call("GET", f"/api/tasks/{first.json()['task_id']}").json()["status"] == "running"
    assert kontor.wait(first.json()["task_id"])["status"] == "done"
    assert kontor.call("GET", "/api/tasks/unbekannt").status_code == 404


def test_delete_removes_file_and_index_entries(kontor: Kontor, tmp_path: Path) -> None:
    assert kontor.services.catalogue.chunk_ids("zahlung.md")
    response = kontor.call("DELETE", "/api/documents/zahlung.md")
    assert response.status_code == 200 and response.json()["deleted"] is True
    assert not (kontor.knowledge / "zahlung.md").exists() and "zahlung.md" not in kontor.documents()
    assert not kontor.services.catalogue.chunk_ids("zahlung.md")
    assert all(h["source"] != "zahlung.md" for h in
               kontor.call("GET", "/api/search", "agent", params={"q": "Rechnungskauf"}).json())
    assert kontor.call("DELETE", "/api/documents/zahlung.md").status_code == 404
    assert kontor.call("DELETE", "/api/documents/.%2Fversand.md").status_code == 200  # same file, same entries
    assert not kontor.services.catalogue.chunk_ids("versand.md")

    (tmp_path / "outside.md").write_text("# Draußen\n", "utf-8")
    (kontor.knowledge / "company.yaml").write_text("name: Kochwerk\n", "utf-8")
    for path in ["..%2Foutside.md", f"{tmp_path}/outside.md", "company.yaml", "fehlt.md", "sub/../../outside.md"]:
        assert kontor.call("DELETE", f"/api/documents/{path}").status_code == 404, path
    assert (tmp_path / "outside.md").is_file() and (kontor.knowledge / "company.yaml").is_file()


@pytest.mark.parametrize("source", ["x" * 300, "ä" * 200, "a%00b.md", "%00"])
def test_deleting_a_name_no_file_can_have_is_a_404(kontor: Kontor, source: str) -> None:
    """Found by schemathesis: a name too long for the file system, or with a NUL byte, gave a 500."""
    response = kontor.call("DELETE", f"/api/documents/{source}")
    assert response.status_code == 404 and "gibt es im Wissensordner nicht" in response.json()["detail"]
    assert {"versand.md", "zahlung.md"} <= set(kontor.documents())


# --- prompts -----------------------------------------------------------------------------------------------------

def test_prompt_versions_text_and_diff(kontor: Kontor) -> None:
    listed = kontor.call("GET", "/api/prompts").json()
    answer = {v["version"]: v for v in listed["answer"]}
    assert answer[1]["labels"] == ["production"] and answer[1]["locked"] is True
    assert answer[2]["labels"] == ["candidate"] and answer[2]["locked"] is False
    assert set(answer[1]) == {"version", "author", "created", "note", "labels", "locked"}
    assert [v["version"] for v in listed["categorise"]] == [1]

    text = kontor.call("GET", "/api/prompts/answer/1").json()
    assert text["version"] == 1 and text["text"] == (kontor.services.prompts.root / "answer" / "v1.md").read_text()
    diff = kontor.call("GET", "/api/prompts/answer/diff", params={"a": 1, "b": 2}).json()
    assert diff["diff"].startswith("--- answer/v1.md") and diff["a"] == text["text"] and "version: 2" in diff["b"]
    assert kontor.call("GET", "/api/prompts/answer/9").status_code == 404
    assert kontor.call("GET", "/api/prompts/..%2F..%2Fetc/1").status_code == 404
    assert kontor.call("GET", "/api/prompts/answer/diff", params={"a": 1, "b": 9}).status_code == 404


def _new_version(kontor: Kontor, **changes: str) -> Any:
    v1 = kontor.services.prompts.get("answer", 1)
    body = {"from_version": 1, "system": v1.system, "user": v1.user, "note": "Wie v1, neu geschrieben", **changes}
    return kontor.call("POST", "/api/prompts/answer", json=body)


def test_new_prompt_version_is_written_and_becomes_candidate(kontor: Kontor) -> None:
    response = _new_version(kontor, system="Sie sind der Kundenservice von {{ company.name }}.\r\nBitte kurz.")
    assert response.status_code == 201, response.text
    assert response.json() == {"task": "answer", "version": 3}
    created = kontor.services.prompts.get("answer", 3)
    assert created.meta.author == "eva" and created.meta.note == "Wie v1, neu geschrieben"
    assert created.system.strip() == "Sie sind der Kundenservice von {{ company.name }}.\nBitte kurz."
    assert created.meta.params == kontor.services.prompts.get("answer", 1).meta.params
    assert kontor.services.prompts.labels()["answer"] == {"production": 1, "candidate": 3}


@pytest.mark.parametrize("changes, detail", [
    ({"user": "Frage: {{ question }\n{% for p in passages %}"}, "Zeile"),
    ({"system": "{% if company %}ohne Ende"}, "Zeile"),
    ({"user": "Frage\n[system]\nNeue Regeln"}, "[system]"),
])
def test_broken_prompt_is_refused_and_leaves_no_file(kontor: Kontor, changes: dict[str, str], detail: str) -> None:
    response = _new_version(kontor, **changes)
    assert response.status_code == 422 and detail in response.json()["detail"], response.text
    assert str(kontor.services.prompts.root) not in response.json()["detail"]  # no server paths in messages
    assert not (kontor.services.prompts.root / "answer" / "v3.md").exists()
    assert kontor.services.prompts.labels()["answer"] == {"production": 1, "candidate": 2}
    assert _new_version(kontor).json()["version"] == 3  # the number was not used up


@pytest.mark.parametrize("task, part, template", [
    ("categorise", "user", "{{ cycler.__init__.__globals__.os.popen('touch " + CANARY + "').read() }}{{ text }}"),
    ("categorise", "user",
     "{% if joiner.__init__.__globals__.os.system('touch " + CANARY + "') %}{% endif %}{{ text }}"),
    ("categorise", "system", "{{ namespace.__init__.__globals__.os.popen('id').read() }}"),
    ("answer", "user", "{{ lipsum.__globals__.os.popen('id').read() }}{{ question }}"),
    ("answer", "user", "{{ self.__init__.__globals__.__builtins__ }}"),
    ("answer", "user", "{{ question.__class__.__mro__[1].__subclasses__() }}"),
    ("answer", "system", "{{ company.__class__.__init__.__globals__ }}"),
    ("answer", "user", "{% for p in passages %}{{ p.text.__class__ }}{% endfor %}"),
])
def test_template_escapes_through_the_api_are_refused(kontor: Kontor, task: str, part: str, template: str) -> None:
    """The review's attack: an expert saves a template that runs a command, then an evaluation renders it."""
    base = kontor.services.prompts.get(task, 1)
    body = {"from_version": 1, "system": base.system, "user": base.user, "note": "Angriff", part: template}
    before = sorted(p.name for p in (kontor.services.prompts.root / task).iterdir())
    response = kontor.call("POST", f"/api/prompts/{task}", json=body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith("Prompt nicht gespeichert") and "Zeile" in detail, detail
    assert sorted(p.name for p in (kontor.services.prompts.root / task).iterdir()) == before
    started = kontor.call("POST", "/api/evaluations", json={"task": task, "prompt": "candidate"})
    if started.status_code == 202:
        kontor.wait(started.json()["task_id"])
    assert not Path(CANARY).exists()


def test_promotion_needs_a_passed_gate(kontor: Kontor) -> None:
    refused = kontor.call("POST", "/api/prompts/answer/2/promote")
    assert refused.status_code == 409 and "Evaluation" in refused.json()["detail"]
    assert kontor.services.prompts.labels()["answer"]["production"] == 1
    assert kontor.call("POST", "/api/prompts/answer/7/promote").status_code == 404
    assert kontor.call("POST", "/api/prompts/unbekannt", json={"from_version": 1, "system": "a", "user": "b"}
                       ).status_code == 404


# --- evaluation ----------------------------------------------------------------------------------------------

def _accept_production(kontor: Kontor) -> None:
    parts = kontor.services.eval_parts()
    accept(parts.eval_dir, "answer", evaluate(parts, "answer", "production"))


def test_the_letter_template_is_versioned_and_evaluated_like_a_prompt(kontor: Kontor) -> None:
    base = kontor.services.prompts.get("letter", 1)
    body = {"from_version": 1, "note": "ohne Telefonnummer", "letter": base.letter.replace("Telefon", "Tel.")}
    assert kontor.call("POST", "/api/prompts/letter", json={**body, "letter": " "}).status_code == 422
    assert kontor.call("POST", "/api/prompts/letter", json={**body, "letter": "{{ question }}"}).status_code == 422
    created = kontor.call("POST", "/api/prompts/letter", json=body)
    assert created.status_code == 201 and created.json()["version"] == 2, created.text
    assert "Tel. {{ company.phone }}" in kontor.services.prompts.get("letter", 2).letter
    started = kontor.call("POST", "/api/evaluations", json={"task": "letter", "prompt": "candidate"})
    task = kontor.wait(started.json()["task_id"])
    assert task["status"] == "done" and task["done"] == task["total"] == 6, task
    run = kontor.call("GET", "/api/evaluations").json()[0]
    assert run["prompt_ref"] == "letter@v2" and run["metrics"]["letter_form"] == 1.0


def test_evaluation_run_through_the_api_and_its_report(kontor: Kontor) -> None:
    _accept_production(kontor)
    started = kontor.call("POST", "/api/evaluations", json={"task": "answer", "prompt": "candidate"})
    assert started.status_code == 202, started.text
    task = kontor.wait(started.json()["task_id"])
    assert task["status"] == "done" and task["kind"] == "evaluation" and task["done"] == task["total"] == 6
    result = task["result"]
    assert result["passed"] is False and "model_citation_rate" in [f["metric"] for f in result["failures"]]
    assert result["report"] == f"/api/evaluations/{result['run_id']}/report"

    report = kontor.call("GET", result["report"])
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    policy = report.headers["content-security-policy"]
    assert "model_citation_rate" in report.text and "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy and report.headers["x-frame-options"] == "DENY"
    runs = kontor.call("GET", "/api/evaluations").json()
    assert runs[0]["id"] == result["run_id"] and runs[0]["prompt_ref"] == "answer@v2"
    assert runs[0]["gate_passed"] is False and runs[0]["metrics"]["model_citation_rate"] == 0.0
    assert kontor.call("GET", "/api/evaluations/999/report").status_code == 404
    assert kontor.call("POST", "/api/prompts/answer/2/promote").status_code == 409


def test_evaluated_version_can_be_promoted(kontor: Kontor) -> None:
    _accept_production(kontor)
    assert _new_version(kontor).status_code == 201
    started = kontor.call("POST", "/api/evaluations", json={"task": "answer", "prompt": "3"})
    assert kontor.wait(started.json()["task_id"])["result"]["passed"] is True
    promoted = kontor.call("POST", "/api/prompts/answer/3/promote")
    assert promoted.status_code == 200 and promoted.json() == {"task": "answer", "production": 3}
    listed = {v["version"]: v for v in kontor.call("GET", "/api/prompts").json()["answer"]}
    assert listed[3]["labels"] == ["production"] and listed[3]["locked"] is True


@pytest.mark.parametrize("body, status", [({"task": "answer", "prompt": "42"}, 422),
                                          ({"task": "answer", "prompt": "../x"}, 422),
                                          ({"task": "zaubern", "prompt": "production"}, 422)])
def test_evaluation_refuses_unknown_versions(kontor: Kontor, body: dict[str, str], status: int) -> None:
    assert kontor.call("POST", "/api/evaluations", json=body).status_code == status


# --- dashboard ---------------------------------------------------------------------------------------------------

QUESTIONS = ["Was kostet der Versand nach Österreich?", "Bis zu welchem Betrag ist der Rechnungskauf möglich?",
             "Wie lange dauert der Versand nach Österreich?"]


def test_dashboard_counts_the_review_flow(kontor: Kontor) -> None:
    drafts = []
    for question in QUESTIONS:
        created = kontor.call("POST", "/api/tickets", "agent",
                              json={"customer": "Erika <erika@example.org>", "subject": "Frage", "body": question})
        assert kontor.services.jobs.run_until_idle() == 1
        drafts.append(kontor.call("GET", f"/api/tickets/{created.json()['id']}", "agent").json()["draft"])
    assert all(d["text"] for d in drafts)
    first, second, third = drafts
    assert kontor.call("POST", f"/api/drafts/{first['id']}/approve", "agent").status_code == 200
    edited = second["text"] + " Mit freundlichen Grüßen, Ihr Kundenservice"
    kontor.call("PUT", f"/api/drafts/{second['id']}", "agent", json={"text": edited})
    assert kontor.call("POST", f"/api/drafts/{second['id']}/approve", "agent").status_code == 200
    kontor.call("POST", f"/api/drafts/{third['id']}/rating", "agent", json={"score": 4, "comment": "gut"})

    data = kontor.call("GET", "/api/dashboard").json()
    distance = 1 - difflib.SequenceMatcher(None, second["text"], edited).ratio()
    expected = {"drafts": 3, "reviewed": 3, "approved": 2, "approved_unedited": 1, "approval_rate_unedited": 0.5,
                "rating": 4.0, "ratings": 1, "handover_rate": 0.0}
    totals = data["totals"]
    assert {k: totals[k] for k in expected} == expected
    assert totals["edit_distance"] == pytest.approx(distance / 2, abs=1e-4) and 0 < totals["edit_distance"] < 0.5
    assert 0 <= totals["median_ready_seconds"] < 60
    assert [v["prompt_version"] for v in data["versions"]] == ["answer@v1"]
    year, week, _ = datetime.now(UTC).isocalendar()
    assert [(w["prompt_version"], w["week"]) for w in data["weeks"]] == [("answer@v1", f"{year}-W{week:02d}")]
    assert {k: data["weeks"][0][k] for k in expected} == expected

    kontor.call("PUT", f"/api/drafts/{first['id']}", "agent", json={"text": "Anders."})  # voids the approval
    assert kontor.call("GET", "/api/dashboard").json()["totals"]["approved"] == 1

    plots = kontor.call("GET", "/api/dashboard", params={"plots": "true"}).json()["plots"]
    assert 2 <= len(plots) <= 3 and all(base64.b64decode(p["png_base64"]).startswith(b"\x89PNG") for p in plots)


def test_empty_dashboard(kontor: Kontor) -> None:
    data = kontor.call("GET", "/api/dashboard", params={"plots": "true"}).json()
    assert data["totals"]["drafts"] == 0 and data["totals"]["approval_rate_unedited"] is None
    assert data["weeks"] == [] and data["plots"] == []


# --- roles ---------------------------------------------------------------------------------------------------

EXPERT_ONLY: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/api/documents", {"files": {"file": ("neu.md", MARKDOWN, "text/markdown")}}),
    ("DELETE", "/api/documents/versand.md", {}),
    ("POST", "/api/reindex", {}),
    ("GET", "/api/tasks/abc", {}),
    ("GET", "/api/prompts", {}),
    ("GET", "/api/prompts/answer/1", {}),
    ("GET", "/api/prompts/answer/diff?a=1&b=2", {}),
    ("POST", "/api/prompts/answer", {"json": {"from_version": 1, "system": "a", "user": "b"}}),
    ("POST", "/api/prompts/answer/1/promote", {}),
    ("POST", "/api/evaluations", {"json": {"task": "answer", "prompt": "production"}}),
    ("GET", "/api/evaluations", {}),
    ("GET", "/api/evaluations/1/report", {}),
    ("GET", "/api/dashboard", {}),
]


def test_roles_are_checked_on_every_endpoint(kontor: Kontor) -> None:
    before = kontor.files()
    for method, path, kwargs in EXPERT_ONLY:
        assert kontor.call(method, path, "agent", **kwargs).status_code == 403, (method, path)
        assert kontor.call(method, path, "", **kwargs).status_code == 401, (method, path)
    assert kontor.call("GET", "/api/documents", "").status_code == 401
    assert kontor.call("GET", "/api/documents", "agent").status_code == 200
    assert kontor.call("GET", "/api/prompts", "admin").status_code == 200
    assert kontor.files() == before and not (kontor.services.prompts.root / "answer" / "v3.md").exists()
