"""Issue 13, the department's pages: a new prompt version starts from production (or the chosen one), the task and
version lists agree, the comparison and the report speak to a non-programmer, a running evaluation stays visible
with its progress and the time left, and a knowledge document can be opened, previewed, downloaded safely and
replaced."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import cast

import pytest
from markupsafe import escape
from sqlalchemy import select

from assistant.evaluate.evaluation import accept, evaluate
from assistant.llm import LLM
from assistant.prompts import TASK_NAMES, TASKS
from assistant.store.tables import AuditEntry
from assistant.web.routes.evaluations import time_left, without_paths
from tests.fakes import GatedLLM
from tests.harness import ExpertKontor, html_page


@pytest.fixture
def expert(tmp_path: Path, knowledge: Path) -> ExpertKontor:
    return ExpertKontor(tmp_path, knowledge)


class _Text(HTMLParser):
    """What a reader sees: the text outside tags, scripts and styles."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._skip += tag in ("style", "script", "template", "textarea")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("style", "script", "template", "textarea")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _visible(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    return " ".join(" ".join(parser.parts).split())


def _section(page: str, task: str) -> str:
    start = page.index(f'id="aufgabe-{task}"')
    end = page.find("</section>", start)
    return page[start:end]


# --- prompts -------------------------------------------------------------------------------------------------------

def test_a_new_version_starts_from_production_not_from_the_newest_candidate(expert: ExpertKontor) -> None:
    """The review: the form offered the newest file (the candidate v2) as the text of the next version."""
    v1, v2 = expert.services.prompts.get("answer", 1), expert.services.prompts.get("answer", 2)
    status, page = html_page(expert, "/prompts", "eva")
    answer = _section(page, "answer")
    assert status == 200 and 'data-from="1"' in answer and "Ausgangsversion: v1 – Produktion" in answer
    assert str(escape(v1.system.strip())) in answer and "Antworte kurz." not in answer
    assert "<details class=\"new-version\" >" in answer or "open" not in answer.split("<summary>")[0]

    # the expert chose v2 in the form
    _, chosen = html_page(expert, "/prompts?aufgabe=answer&von=2#aufgabe-answer", "eva")
    answer = _section(chosen, "answer")
    assert 'data-from="2"' in answer and "Ausgangsversion: v2 – Kandidat" in answer and "Antworte kurz." in answer
    assert str(escape(v2.user.strip())) in answer and "open" in answer.split("<summary>")[0]
    assert 'data-from="1"' in _section(chosen, "categorise")  # the other tasks keep production
    _, unknown = html_page(expert, "/prompts?aufgabe=answer&von=9", "eva")
    assert 'data-from="1"' in _section(unknown, "answer")

    for part in ("system", "user"):  # every input has its label
        assert f'<label for="{part}-answer">' in answer and f'id="{part}-answer"' in answer
    assert '<label for="note-answer">' in answer and '<label for="base-answer">' in answer


def test_the_task_list_and_the_version_list_agree(expert: ExpertKontor) -> None:
    _, prompts = html_page(expert, "/prompts", "eva")
    _, evaluation = html_page(expert, "/auswertung", "eva")
    headings = re.findall(r'<section class="card" id="aufgabe-(\w+)">\s*<h2>([^<]+)</h2>', prompts)
    options = re.findall(r'<option value="(\w+)">([^<]+)</option>', evaluation.split('id="eval-task"')[1]
                         .split("</select>")[0])
    assert headings == options == [(task, TASK_NAMES[task]) for task in TASKS]
    for task in TASKS:  # the version list of each task, with the same German labels on both pages
        versions = re.search(rf'<template data-versions-of="{task}">(.*?)</template>', evaluation, re.S)
        assert versions, task
        shown = re.findall(r"<option value=\"(\w+)\"[^>]*>([^<]+)</option>", versions.group(1))
        numbers = [v.meta.version for v in expert.services.prompts.versions(task)]
        assert [label.split(" – ")[0] for _, label in shown] == [f"v{n}" for n in reversed(numbers)]
        assert f"v{numbers[0]} – Produktion" in [label for _, label in shown]
    answer = re.search(r'<template data-versions-of="answer">(.*?)</template>', evaluation, re.S).group(1)  # type: ignore[union-attr]
    assert re.search(r'<option value="candidate" selected>v2 – Kandidat</option>', answer)
    assert '<option value="production" >v1 – Produktion</option>' in answer
    assert re.search(r'<select id="eval-prompt" name="prompt"><option value="candidate" selected>', evaluation)
    for page in (prompts, evaluation):
        text = _visible(page)
        assert "production" not in text and "candidate" not in text and "categorise" not in text
    assert "Produktion" in _visible(prompts) and "Kandidat" in _visible(prompts)


def _with_temperature(expert: ExpertKontor, number: int, temperature: str) -> None:
    root = expert.services.prompts.root / "answer"
    text = (root / "v1.md").read_text(encoding="utf-8")
    text = text.replace("version: 1", f"version: {number}").replace("temperature: 0.0", f"temperature: {temperature}")
    text = text.replace("max_tokens: 160", "max_tokens: 120").replace("befolgst du nicht.", "befolgst du niemals.")
    (root / f"v{number}.md").write_text(text, encoding="utf-8")


def test_the_comparison_shows_the_texts_and_names_changed_settings_in_german(expert: ExpertKontor) -> None:
    _with_temperature(expert, 3, "0.2")
    compared = expert.call("GET", "/api/prompts/answer/compare", params={"a": 1, "b": 3}).json()
    assert compared["settings"] == ["Höchstlänge der Antwort (Tokens): 160 → 120", "Modell-Temperatur: 0 → 0,2"]
    assert [p["name"] for p in compared["parts"]] == ["system", "user"]
    system = compared["parts"][0]
    assert [r["kind"] for r in system["rows"]].count("changed") == 1 and "---" not in system["a"]
    changed = next(r for r in system["rows"] if r["kind"] == "changed")
    assert "befolgst du nicht." in changed["a"] and "befolgst du niemals." in changed["b"]
    assert {r["kind"] for r in compared["parts"][1]["rows"]} == {"same"}

    status, page = html_page(expert, "/prompts/answer/vergleich?a=1&b=3", "eva")
    text = _visible(page)
    assert status == 200 and "Modell-Temperatur: 0 → 0,2" in text and "Systemteil" in text and "Nutzerteil" in text
    for noise in ("version:", "author:", "params:", "temperature:", "[system]", "---"):
        assert noise not in text, noise
    assert '<tr class="changed"><td class="old">' in page and "Nutzerteil – unverändert" in text
    assert "Antwortentwurf: v1 – Produktion und v3" in text
    _, same = html_page(expert, "/prompts/answer/vergleich?a=1&b=2", "eva")
    assert "Modell-Einstellungen Unverändert." in _visible(same)
    assert expert.call("GET", "/api/prompts/answer/compare", params={"a": 1, "b": 9}).status_code == 404
    assert expert.call("GET", "/api/prompts/answer/compare", params={"a": 1, "b": 2}, role="agent").status_code == 403
    _, listing = html_page(expert, "/prompts", "eva")
    assert 'action="/prompts/answer/vergleich"' in listing and '<label for="compare-a-answer">' in listing


# --- evaluation ------------------------------------------------------------------------------------------------------



def _accept_production(kontor: ExpertKontor) -> None:
    parts = kontor.services.eval_parts()
    accept(parts.eval_dir, "answer", evaluate(parts, "answer", "production"))


def test_time_left_in_german() -> None:
    assert time_left(0, 6, 10) == "Restzeit wird geschätzt …"
    assert time_left(3, 6, 30) == "noch weniger als 1 Min."
    assert time_left(2, 6, 90) == "noch etwa 3 Min."
    assert time_left(1, 100, 120) == "noch etwa 3 Std. 18 Min."
    assert time_left(6, 6, 100) == "noch weniger als 1 Min."


def test_messages_for_the_page_name_files_without_the_servers_folders(expert: ExpertKontor) -> None:
    assert without_paths("/srv/kontor/prompts/answer/v4.md: YAML-Kopf ungültig") == "v4.md: YAML-Kopf ungültig"
    assert without_paths("Fakten 2/3 · siehe https://example.org/a/b") == "Fakten 2/3 · siehe https://example.org/a/b"
    (expert.services.prompts.root / "answer" / "v3.md").write_text("---\nversion: drei\n---\n", encoding="utf-8")
    refused = expert.call("POST", "/api/evaluations", json={"task": "answer", "prompt": "3"})
    assert refused.status_code == 422 and refused.json()["detail"].startswith("v3.md: YAML-Kopf ungültig")
    assert str(expert.services.prompts.root) not in refused.text


def test_a_running_evaluation_stays_visible_when_the_page_is_opened_again(expert: ExpertKontor) -> None:
    """The review: the progress lived only in the page that started the run; opened again, the page forgot it."""
    _accept_production(expert)
    model = GatedLLM()
    expert.services.override("llm", cast(LLM, model))
    try:
        started = expert.call("POST", "/api/evaluations", json={"task": "answer", "prompt": "candidate"})
        assert started.status_code == 202, started.text
        task_id = started.json()["task_id"]
        assert model.called.wait(30)

        # another client: the browser's session, not the API token
        status, page = html_page(expert, "/auswertung", "eva")
        assert status == 200 and f'data-task-id="{task_id}"' in page
        text = _visible(page)
        assert "Laufende Evaluation : Antwortentwurf v2" in text and "0 von 6 Fällen" in text
        assert "Restzeit wird geschätzt" in text and "zweimal" in text
        assert re.search(r'<button type="submit" class="primary" disabled>Evaluation starten', page)

        task = expert.app.state.background.tasks.get(task_id)
        task.done, task.started_at = 2, datetime.now(UTC) - timedelta(seconds=120)  # two of six took two minutes
        running = expert.call("GET", "/api/evaluations/running").json()
        assert (running["task_id"], running["done"], running["total"], running["cases"]) == (task_id, 2, 6, 3)
        assert running["remaining"] == "noch etwa 4 Min." and running["title"] == "Antwortentwurf v2"
        assert running["status"] == "running" and running["verdict"] is None
        assert "2 von 6 Fällen · noch etwa 4 Min." in _visible(html_page(expert, "/auswertung", "eva")[1])
    finally:
        model.gate.set()
    task_view = expert.wait(task_id)
    assert task_view["status"] == "done", task_view
    done = expert.call("GET", f"/api/evaluations/tasks/{task_id}").json()
    assert done["status"] == "done" and done["passed"] is False and done["remaining"] is None
    assert done["verdict"].startswith("Schranke (Freigabeprüfung) nicht bestanden: Quellenangaben durch das Modell")
    assert "model_citation_rate" not in done["verdict"] and done["report"].endswith("/report")
    assert expert.call("GET", "/api/evaluations/running").json() is None
    _, after = html_page(expert, "/auswertung", "eva")
    assert 'id="eval-running" data-task-id="" hidden' in after and "Antwortentwurf v2" in _visible(after)
    assert expert.call("GET", "/api/evaluations/tasks/unbekannt").status_code == 404
    assert expert.call("GET", "/api/evaluations/running", role="agent").status_code == 403


def test_the_report_speaks_to_the_department(expert: ExpertKontor) -> None:
    _accept_production(expert)
    started = expert.call("POST", "/api/evaluations", json={"task": "answer", "prompt": "candidate"})
    result = expert.wait(started.json()["task_id"])["result"]
    page = expert.call("GET", result["report"]).text
    text = _visible(page)
    assert "Quellenangaben durch das Modell" in text and "Richtige Quelle unter den ersten 5" in text
    for metric in ("model_citation_rate", "hit_at_5", "fact_coverage", "letter_form", "echo_rate", "mrr"):
        assert metric not in text, metric
    assert 'data-metric="model_citation_rate"' in page  # the id stays for programs, out of sight
    assert "Versand – Was kostet der Versand nach Österreich?" in text  # the customer's question beside its case
    assert "Maßstab: der angenommene Basiswert (answer.json)" in text
    assert str(expert.settings.eval_dir) not in page and "/tmp" not in text
    assert "Geprüfte Version v2" in text and "v1 (Produktion)" in text

    ratings = re.search(r'<table id="ratings">(.*?)</table>', page, re.S).group(1)  # type: ignore[union-attr]
    assert re.findall(r"<th[^>]*>([^<]+)</th>", ratings) == ["Prompt-Version", "Anzahl Bewertungen",
                                                            "Durchschnitt (1–5)"]
    assert '<th class="n">Anzahl Bewertungen</th>' in ratings  # numbers and their headings on the same side
    assert re.search(r"<td>v1 <small>\(Produktion\)</small></td>\s*<td class=\"n\">1</td><td class=\"n\">4,00</td>",
                     ratings)

    categorised = evaluate(expert.services.eval_parts(), "categorise", "production", gate=True)
    assert categorised.run_id is not None
    page = expert.call("GET", f"/api/evaluations/{categorised.run_id}/report").text
    text = _visible(page)
    assert "Lieferverzug" in text and "Rechnung und Zahlung" in text and "Auswertung: Kategorisierung" in text
    assert "lieferverzug" not in text and "rechnung_zahlung" not in text
    assert "noch keinen angenommenen Basiswert" in text and str(expert.settings.eval_dir) not in page


# --- knowledge documents ----------------------------------------------------------------------------------------------

HOSTILE = "# Garantie\n\nAuf alle Pfannen gewähren wir 5 Jahre Garantie.\n\n<script>alert('x')</script> <b>fett</b>\n"


def _uploaded(kontor: ExpertKontor, name: str, data: bytes) -> str:
    response = kontor.upload(name, data)
    assert response.status_code == 201, response.text
    assert kontor.wait(response.json()["task_id"])["status"] == "done"
    return str(response.json()["source"])


def _chunks(kontor: ExpertKontor, source: str) -> list[str]:
    return [c.text for c in kontor.services.catalogue.all_chunks() if c.source == source]


def test_a_document_opens_with_its_escaped_text_and_who_uploaded_it(expert: ExpertKontor) -> None:
    source = _uploaded(expert, "Garantie.md", HOSTILE.encode())
    detail = expert.call("GET", f"/api/documents/{source}", role="agent").json()
    assert detail["uploaded_by"] == "eva" and detail["events"][0]["label"] == "hochgeladen"
    assert detail["events"][0]["original"] == "Garantie.md" and detail["indexed"] and detail["chunks"] >= 1
    assert "5 Jahre Garantie" in detail["preview"] and detail["download"] == f"/api/documents/{source}/file"

    status, page = html_page(expert, f"/wissen/dokument?quelle={source}", "anna")  # agents may read documents
    assert status == 200 and "<script>alert" not in page and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    text = _visible(page)
    assert "Hochgeladen von eva am" in text and "Uhr" in text and "5 Jahre Garantie" in text
    assert "Neue Fassung hochladen" not in text  # replacing is the department's
    _, listing = html_page(expert, "/wissen", "anna")
    assert f'href="/wissen/dokument?quelle={source}"' in listing and "eva," in _visible(listing)
    assert "im Wissensordner abgelegt" in _visible(listing)  # the files put there by hand

    long = "# Lang\n\n" + "\n\n".join(f"Absatz {i}: " + "Text " * 60 for i in range(80))
    detail = expert.call("GET", f"/api/documents/{_uploaded(expert, 'lang.md', long.encode())}").json()
    assert detail["preview_truncated"] and 4_900 < len(detail["preview"]) < 5_300
    assert html_page(expert, "/wissen/dokument?quelle=gibt-es-nicht.md", "eva")[0] == 404


def test_the_original_file_is_always_a_download(expert: ExpertKontor) -> None:
    markdown = _uploaded(expert, "Garantie.md", HOSTILE.encode())
    page = b"<html><body><h1>Versand</h1><p>Versand in 2 Tagen.</p><script>alert(1)</script></body></html>"
    webpage = _uploaded(expert, "Seite.html", page)
    got = expert.call("GET", f"/api/documents/{markdown}/file", role="agent")
    assert got.status_code == 200 and got.content == HOSTILE.encode()
    assert got.headers["content-disposition"] == f'attachment; filename="{markdown.rsplit("/", 1)[-1]}"'
    assert got.headers["content-type"].startswith("text/plain")
    got = expert.call("GET", f"/api/documents/{webpage}/file", role="agent")
    assert got.content == page and got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert got.headers["content-security-policy"].startswith("sandbox") and got.headers["x-content-type-options"]
    (expert.knowledge / ".geheim.md").write_text("# Geheim\n\nnicht zeigen\n", encoding="utf-8")
    for source in ("categories.yaml", "company.yaml", ".geheim.md", "../home/kontor.db", "%2E%2E/%2E%2E/etc/passwd",
                   "gibt-es-nicht.md"):
        assert expert.call("GET", f"/api/documents/{source}/file").status_code == 404, source
        assert expert.call("GET", f"/api/documents/{source}").status_code == 404, source
    assert expert.call("GET", f"/api/documents/{markdown}/file", role="").status_code == 401


def _pdf(text: str) -> bytes:
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(72, 720, text)
    page.save()
    return buffer.getvalue()


def test_replacing_a_document_swaps_its_passages_and_is_audited(expert: ExpertKontor) -> None:
    source = _uploaded(expert, "Garantie.md", HOSTILE.encode())
    newer = b"# Garantie\n\nAuf alle Pfannen gew\xc3\xa4hren wir jetzt 7 Jahre Garantie.\n"
    replaced = expert.call("PUT", f"/api/documents/{source}", files={"file": ("Garantie neu.md", newer)})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["source"] == source and replaced.json()["previous_sha256"] != replaced.json()["sha256"]
    assert expert.wait(replaced.json()["task_id"])["status"] == "done"
    assert (expert.knowledge / source).read_bytes() == newer and sorted(expert.documents()) == sorted(
        [source, "versand.md", "zahlung.md"])
    assert any("7 Jahre" in c for c in _chunks(expert, source)) and not any("5 Jahre" in c for c in _chunks(expert,
                                                                                                          source))
    with expert.services.database.session() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "document_replaced")).one()
    assert entry.actor == "eva" and entry.detail["source"] == source and entry.detail["original"] == "Garantie neu.md"
    detail = expert.call("GET", f"/api/documents/{source}").json()
    assert [e["label"] for e in detail["events"]] == ["hochgeladen", "ersetzt"] and detail["uploaded_by"] == "eva"
    text = _visible(html_page(expert, f"/wissen/dokument?quelle={source}", "eva")[1])
    assert "Ersetzt von eva am" in text and "7 Jahre Garantie" in text and "Neue Fassung hochladen" in text
    assert expert.call("PUT", f"/api/documents/{source}", "agent", files={"file": ("x.md", newer)}).status_code == 403


def test_a_replacement_that_does_not_parse_keeps_the_old_version(expert: ExpertKontor) -> None:
    source = _uploaded(expert, "Reparatur.pdf", _pdf("Reparaturen dauern zehn Werktage."))
    before, chunks = (expert.knowledge / source).read_bytes(), _chunks(expert, source)
    for name, data, status in (("kaputt.pdf", b"%PDF-1.4\nkaputt", 422), ("neu.md", b"# Neu\n\nText\n", 422),
                               ("leer.pdf", b"", 422), ("gross.pdf", b"%PDF-" + b"x" * 70_000, 413)):
        refused = expert.call("PUT", f"/api/documents/{source}", files={"file": (name, data)})
        assert refused.status_code == status, (name, refused.text)
        assert str(expert.knowledge) not in refused.json()["detail"]
    assert "selben Typ hochladen (.pdf)" in expert.call("PUT", f"/api/documents/{source}",
                                              files={"file": ("neu.md", b"# Neu\n\nText\n")}).json()["detail"]
    assert (expert.knowledge / source).read_bytes() == before and _chunks(expert, source) == chunks
    assert sorted(p.name for p in expert.knowledge.iterdir() if p.name.startswith(".upload")) == []
    with expert.services.database.session() as session:
        assert not session.scalars(select(AuditEntry).where(AuditEntry.action == "document_replaced")).all()
    assert expert.call("PUT", "/api/documents/gibt-es-nicht.pdf",
                       files={"file": ("x.pdf", _pdf("x"))}).status_code == 404

