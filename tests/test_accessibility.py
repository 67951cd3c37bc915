"""Issue 13: every page can be used with a screen reader and by keyboard. Each role opens every page it may see
(with the things that change a page: a ticket with a draft, a customer's follow-up, an internal note and
attachments, an earlier ticket of the same customer, a text module, an evaluation run, the 403 and 404 pages), and
each page must have ``<html lang="de">``, a ``<title>``, one ``<h1>``, unique ids, a label for every field, a name
for every button and an ``alt`` for every image."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest
from bs4 import BeautifulSoup, Tag
from fastapi.testclient import TestClient

from assistant.evaluate.evaluation import accept, evaluate
from assistant.tickets.threads import join
from tests.harness import QUESTION, ExpertKontor, logged_in

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde\x00\x00"
       b"\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82")
PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n"
UNLABELLED_TYPES = {"hidden", "submit", "button", "reset", "image"}
AGENT_PAGES = ["/posteingang", "/posteingang?ansicht=zu-pruefen", "/posteingang?q=Versand&seite=1",
               "/tickets/{sent}", "/tickets/{drafted}", "/tickets/{waiting}", "/wissen",
               "/wissen/dokument?quelle=versand.md", "/konto", "/tickets/999999", "/gibt-es-nicht"]
EXPERT_PAGES = ["/prompts", "/prompts?aufgabe=answer&von=2", "/prompts/answer/vergleich?a=1&b=2", "/auswertung",
                "/uebersicht", "/textbausteine"]
ADMIN_PAGES = ["/verwaltung", "/verwaltung/protokoll", "/verwaltung/protokoll?action=approved"]
PAGES = AGENT_PAGES + EXPERT_PAGES + ADMIN_PAGES  # each role opens them all: a page it may not see is the 403 page


@pytest.fixture
def office(tmp_path: Path) -> tuple[ExpertKontor, dict[str, int]]:
    """One office with something on every page: a sent ticket with attachments, a follow-up and a note; a second
    ticket of the same customer with its draft; one still waiting for its draft; a text module; two evaluations."""
    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    (knowledge / "versand.md").write_text("# Versand\n\n## Kosten\n\nDer Versand nach Österreich kostet 5,90 € und "
                                          "dauert 3–5 Werktage.\n", encoding="utf-8")
    kontor = ExpertKontor(tmp_path, knowledge)
    sent = _imported(kontor, tmp_path / "mail.eml")
    assert kontor.services.jobs.run_until_idle() == 1
    draft = kontor.call("GET", f"/api/tickets/{sent}", "agent").json()["draft"]
    assert kontor.call("POST", f"/api/drafts/{draft['id']}/approve", "agent").status_code == 200
    assert kontor.call("POST", f"/api/drafts/{draft['id']}/send", "agent").json()["status"] == "delivered"
    with kontor.services.database.session() as session:
        join(session, sent, "Erika Muster <erika@example.org>", "Danke! Und wann kommt das Paket?\n\n"
             "Am 04.12.2026 um 10:00 schrieb Kundenservice <kundenservice@example.org>:\n> Guten Tag", "<f1@x>")
    assert kontor.services.jobs.run_until_idle() == 1  # the follow-up's new draft
    assert kontor.call("POST", f"/api/tickets/{sent}/notes", "agent", json={"text": "Rückruf am Montag"}).status_code \
        == 201
    assert kontor.call("POST", "/api/text-modules", "expert", json={
        "title": "Gruß", "body": "Mit freundlichen Grüßen\n{agent}", "category": None}).status_code == 201
    drafted = kontor.drafted_ticket({**QUESTION, "subject": "Noch eine Frage"})["id"]
    waiting = kontor.call("POST", "/api/tickets", "agent", json={**QUESTION, "subject": "Wartet"}).json()["id"]
    parts = kontor.services.eval_parts()
    accept(parts.eval_dir, "answer", evaluate(parts, "answer", "production"))
    evaluate(parts, "answer", "candidate", gate=True)
    return kontor, {"sent": sent, "drafted": drafted, "waiting": waiting}


def _imported(kontor: ExpertKontor, path: Path) -> int:
    message = EmailMessage()
    message["From"] = "Erika Muster <erika@example.org>"
    message["To"] = "kundenservice@example.org"
    message["Subject"] = "Versand nach Österreich"
    message["Message-ID"] = "<m1@example.org>"
    message.set_content("Guten Tag, was kostet der Versand nach Österreich? Foto und Rechnung anbei.")
    message.add_attachment(PNG, maintype="image", subtype="png", filename="foto.png")
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="Rechnung.pdf")
    path.write_bytes(message.as_bytes())
    done = kontor.services.intake.import_eml(path)
    assert done.ticket_id is not None
    return done.ticket_id


def problems(html: str) -> list[str]:
    """What keeps a page from a screen reader or a keyboard: each problem one line."""
    page = BeautifulSoup(html, "html.parser")
    found = []
    root = page.find("html")
    if not isinstance(root, Tag) or root.get("lang") != "de":
        found.append('no <html lang="de">')
    title = page.find("title")
    if title is None or not title.get_text(strip=True):
        found.append("no <title>")
    if len(page.find_all("h1")) != 1:
        found.append(f"{len(page.find_all('h1'))} <h1> instead of one")
    ids = [str(e["id"]) for e in page.find_all(id=True)]
    found += [f"id {i!r} used more than once" for i in sorted({i for i in ids if ids.count(i) > 1})]
    for field in page.find_all(["input", "select", "textarea"]):
        if field.name == "input" and str(field.get("type", "text")).lower() in UNLABELLED_TYPES:
            continue
        if not _labelled(page, field):
            found.append(f"field without a label: {_short(field)}")
    for label in page.find_all("label", attrs={"for": True}):
        if page.find(id=label["for"]) is None:
            found.append(f"label for a missing field: {_short(label)}")
    for button in page.find_all("button"):
        if not button.get_text(strip=True) and not str(button.get("aria-label", "")).strip():
            found.append(f"button without a name: {_short(button)}")
    for image in page.find_all("img"):
        if not str(image.get("alt", "")).strip():
            found.append(f"image without alt: {_short(image)}")
    return found


def _labelled(page: BeautifulSoup, field: Tag) -> bool:
    if str(field.get("aria-label", "")).strip():
        return True
    named_by = str(field.get("aria-labelledby", "")).split()
    if named_by and all(page.find(id=i) is not None and page.find(id=i).get_text(strip=True)  # type: ignore[union-attr]
                        for i in named_by):
        return True
    if field.get("id") and page.find("label", attrs={"for": field["id"]}) is not None:
        return True
    return field.find_parent("label") is not None


def _short(tag: Tag) -> str:
    text = str(tag)
    return text if len(text) < 160 else text[:157] + "…"




def test_every_page_of_every_role_is_labelled(office: tuple[ExpertKontor, dict[str, int]]) -> None:
    kontor, tickets = office
    report = {}
    for name in ("anna", "eva", "adam"):
        browser = logged_in(kontor, name)
        for path in PAGES:
            response = browser.get(path.format(**tickets), headers={"Accept": "text/html"})
            assert response.headers["content-type"].startswith("text/html"), path
            assert response.status_code in (200, 403, 404), (name, path, response.status_code)
            found = problems(response.text)
            if found:
                report[f"{path} ({name})"] = found
    assert not report, "\n".join(f"{path}:\n  " + "\n  ".join(found) for path, found in report.items())


def test_the_pages_show_what_they_were_meant_to(office: tuple[ExpertKontor, dict[str, int]]) -> None:
    """The check above looked at the full pages: the ticket with its attachments, follow-up and note, the
    picker of text modules, the rating, the waiting draft, the run and the filters of the log."""
    kontor, tickets = office
    agent, expert, admin = (logged_in(kontor, name) for name in ("anna", "eva", "adam"))
    sent = agent.get(f"/tickets/{tickets['sent']}").text
    assert 'alt="foto.png"' in sent and "Rechnung.pdf" in sent and "Rückruf am Montag" in sent
    assert "Danke! Und wann kommt das Paket?" in sent
    drafted = agent.get(f"/tickets/{tickets['drafted']}").text
    assert 'id="text-module"' in drafted and 'name="score"' in drafted and "Weitere Anfragen" in drafted
    assert 'id="live-progress"' in agent.get(f"/tickets/{tickets['waiting']}").text
    assert 'data-action-submit="new-ticket"' in agent.get("/posteingang").text
    assert "Bericht öffnen" in expert.get("/auswertung").text
    assert 'id="upload-file"' in expert.get("/wissen").text and 'id="tm-title"' in expert.get("/textbausteine").text
    assert 'id="audit-action"' in admin.get("/verwaltung/protokoll").text
    assert agent.get("/prompts", headers={"Accept": "text/html"}).status_code == 403
    login = TestClient(kontor.app).get("/login")
    assert login.status_code == 200 and not problems(login.text)


def test_the_check_finds_what_it_looks_for() -> None:
    page = ('<!doctype html><html><head></head><body><h1>a</h1><h1>b</h1><input name="x"><select id="s"></select>'
            '<label for="t">T</label><textarea id="t"></textarea><label>Wrapped <input name="y"></label>'
            '<input type="hidden" name="z"><input aria-label="Suche"><button></button><button aria-label="Zu">'
            '</button><img src="x.png"><p id="d">1</p><p id="d">2</p><label for="nope">?</label></body></html>')
    assert problems(page) == [
        'no <html lang="de">', "no <title>", "2 <h1> instead of one", "id 'd' used more than once",
        'field without a label: <input name="x"/>', 'field without a label: <select id="s"></select>',
        'label for a missing field: <label for="nope">?</label>', "button without a name: <button></button>",
        'image without alt: <img src="x.png"/>']
