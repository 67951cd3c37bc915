"""The web interface in a real browser (Debian's chromium driven by Playwright) against `kontor serve` on
loopback with the embedded model: the agent's day and the expert's prompt work, end to end.

Screenshots of the main pages go to a temporary folder, or to ``KONTOR_SCREENSHOTS`` (the README shows the
ones in docs/screenshots, taken with ``KONTOR_SCREENSHOTS=docs/screenshots``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest

from assistant.config import PROJECT_ROOT
from tests.browser import needs_browser
from tests.servers import free_port, start_kontor

PASSWORDS = {"anna": "anna-passwort-123", "eva": "eva-passwort-123", "adam": "adam-passwort-123",
             "otto": "otto-passwort-123"}
pytestmark = needs_browser


def _kontor(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run([sys.executable, "-m", "assistant", *args], env=env, cwd=PROJECT_ROOT, input=stdin,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("e2e")
    shutil.copytree(PROJECT_ROOT / "prompts", root / "prompts")
    (root / "eval" / "cases").mkdir(parents=True)
    for name in ("answer-001.yaml", "answer-021.yaml", "categorise-001.yaml"):
        shutil.copy(PROJECT_ROOT / "eval" / "cases" / name, root / "eval" / "cases" / name)
    tickets = root / "tickets"
    tickets.mkdir()
    for name in ("01.eml", "12.eml"):
        shutil.copy(PROJECT_ROOT / "demo" / "tickets" / name, tickets / name)
    env = {**os.environ, "KONTOR_HOME": str(root / "home"), "KONTOR_PROMPTS_DIR": str(root / "prompts"),
           "KONTOR_EVAL_DIR": str(root / "eval"), "HF_HUB_OFFLINE": "1"}
    _kontor(env, "ingest")
    for name, role in (("anna", "agent"), ("eva", "expert"), ("adam", "admin"), ("otto", "agent")):
        _kontor(env, "users", "add", name, "--role", role, "--password-stdin", stdin=PASSWORDS[name] + "\n")
    _kontor(env, "tokens", "create", "otto", "--label", "ottos-skript")
    _kontor(env, "eval", "accept", "--task", "answer")
    _kontor(env, "tickets", "import", str(tickets))
    port = free_port()
    process = start_kontor(env, port)
    base = f"http://127.0.0.1:{port}"
    try:
        yield base, root
    finally:
        process.terminate()
        process.wait(timeout=60)




def _login(browser: object, base: str, name: str, on_dialog: Any = None) -> object:
    page = browser.new_page(viewport={"width": 1280, "height": 860})  # type: ignore[attr-defined]
    page.on("dialog", on_dialog or (lambda dialog: pytest.fail(f"unexpected dialog: {dialog.message}")))
    page.goto(f"{base}/posteingang")
    assert "/login" in page.url
    page.fill("#name", name)
    page.fill("#password", PASSWORDS[name])
    page.click("button[type=submit]")
    page.wait_for_selector("h1:text('Posteingang')")
    return page


def _new_ticket(page: object, base: str, customer: str, subject: str, body: str) -> int:
    """A ticket posted through the API with the page's session and CSRF token; opened once drafted."""
    csrf = page.get_attribute("meta[name=csrf-token]", "content")  # type: ignore[attr-defined]
    response = page.request.post(f"{base}/api/tickets", headers={"X-CSRF-Token": csrf}, data={  # type: ignore[attr-defined]
        "customer": customer, "subject": subject, "body": body})
    assert response.status == 201, response.text()
    ticket_id: int = response.json()["id"]
    _drafted(page, base, ticket_id)
    return ticket_id


def _drafted(page: object, base: str, ticket_id: int) -> None:
    """Wait for the draft through the API (the page of a ticket being drafted reloads itself when it is done,
    which would race with looking at it), then open the ticket page."""
    for _ in range(240):
        response = page.request.get(f"{base}/api/tickets/{ticket_id}")  # type: ignore[attr-defined]
        if response.status == 200 and response.json()["draft"] is not None:
            page.goto(f"{base}/tickets/{ticket_id}")  # type: ignore[attr-defined]
            page.wait_for_selector("#draft-text")  # type: ignore[attr-defined]
            return
        time.sleep(1)
    raise AssertionError("draft not ready in 4 minutes")


def test_agent_corrects_edits_approves_and_sends(server: tuple[str, Path], browser: object, shots: Path) -> None:
    base, root = server
    page = _login(browser, base, "anna")
    _drafted(page, base, 1)
    page.goto(f"{base}/posteingang")
    assert page.locator("table.list tbody tr").count() == 2
    page.screenshot(path=str(shots / "posteingang.png"), full_page=True)

    page.goto(f"{base}/tickets/1")
    assert page.inner_text(".draft-card h2") == "KI-Entwurf – bitte prüfen"
    _assert_outline(page, _draft(page, base, 1))
    page.select_option("#category", "lieferverzug")
    page.click("button[data-action=recategorise]")
    page.wait_for_selector("#message:has-text('als Beispiel gelernt')")
    letter = page.input_value("#draft-text")
    closing = "\nMit freundlichen Grüßen"
    final = letter.replace(closing, "\nGern beraten wir Sie auch am Telefon.\n" + closing, 1)
    assert final != letter  # the draft is a whole letter: the agent adds a line before the closing
    page.fill("#draft-text", final)
    page.click("button[data-action=approve]")
    page.wait_for_selector("#ticket-status:has-text('Freigegeben')")
    page.click("button[data-action=send]")
    page.wait_for_selector("#ticket-status:has-text('Gesendet')")

    [mail] = list((root / "home" / "outbox" / "new").iterdir())
    message = BytesParser(policy=policy.default).parsebytes(mail.read_bytes())
    sent = final.replace("\r\n", "\n")
    assert message.get_content() == (sent if sent.endswith("\n") else sent + "\n")  # set_content ends the line
    assert message["To"].addresses[0].addr_spec == "erika.mustermann@example.org"
    confirmation = page.inner_text("#sent-confirmation")  # issue 13, item 6: where, when, which message
    assert "erika.mustermann@example.org" in confirmation and message["Message-ID"].strip("<>") in confirmation
    assert page.inner_text(".draft-card h2") == "KI-Entwurf, bearbeitet von anna"
    page.goto(f"{base}/wissen")
    page.screenshot(path=str(shots / "wissen.png"), full_page=True)


def test_customer_script_is_shown_as_text(server: tuple[str, Path], browser: object) -> None:
    base, _ = server
    page = _login(browser, base, "anna")
    _drafted(page, base, 2)
    assert "<script>alert" in page.inner_text(".message-body")  # visible as text …
    assert page.locator(".message-body script").count() == 0  # … never as an element
    assert "<b>Dringend</b>" in page.inner_text("h1")


def test_each_paragraph_shows_its_question_and_sources(server: tuple[str, Path], browser: object,
                                                       shots: Path) -> None:
    """A mail with two questions the documents answer and one they do not: the agent sees each paragraph with
    its question and its sources beside it, the unanswered one as a hand-over; the letter itself has no [n]."""
    base, _ = server
    page = _login(browser, base, "anna")
    body = ("Guten Tag,\n\nwas kostet der Versand nach Österreich? Wie lange ist ein Geschenkgutschein gültig? "
            "Haben Sie außerdem Parkplätze für Wohnmobile an Ihrem Lager?\n\nViele Grüße\nJonas Weber")
    ticket_id = _new_ticket(page, base, "Jonas Weber <jonas.weber@example.org>", "Versand und Gutschein", body)
    draft = _draft(page, base, ticket_id)
    handed = [i for i, s in enumerate(draft["sections"]) if s["handover"]]
    answered = [i for i, s in enumerate(draft["sections"]) if not s["handover"]]
    assert len(draft["sections"]) == 3 and handed == [2] and answered == [0, 1], draft["sections"]
    _assert_outline(page, draft)

    handover = page.locator("ol.sections > li").nth(2)
    assert "section-handover" in (handover.get_attribute("class") or "")
    assert "Übergabe an Kollegen" in handover.inner_text()
    assert "Keine sichere Quelle – bitte selbst beantworten oder weitergeben" in handover.locator(".warn").inner_text()
    assert "Fragen ohne sicheren Beleg" in page.inner_text(".hints")
    page.screenshot(path=str(shots / "ticket.png"), full_page=True)

    body_box = page.locator("ol.sections > li .section-body").first.bounding_box()
    sources_box = page.locator("ol.sections > li .section-sources").first.bounding_box()
    assert sources_box["x"] >= body_box["x"] + body_box["width"] - 1  # beside the paragraph on a wide screen …
    assert sources_box["y"] < body_box["y"] + body_box["height"]
    page.set_viewport_size({"width": 420, "height": 860})
    body_box = page.locator("ol.sections > li .section-body").first.bounding_box()
    sources_box = page.locator("ol.sections > li .section-sources").first.bounding_box()
    assert sources_box["y"] >= body_box["y"] + body_box["height"] - 1  # … below it on a narrow one


def _draft(page: object, base: str, ticket_id: int) -> dict[str, Any]:
    response = page.request.get(f"{base}/api/tickets/{ticket_id}")  # type: ignore[attr-defined]
    assert response.status == 200
    draft: dict[str, Any] = response.json()["draft"]
    return draft


def _assert_outline(page: object, draft: dict[str, Any]) -> None:
    """The page shows each section's question, its paragraph and, beside it, the file and quote of each of its
    citations; the letter in the textarea (what is sent) has no [n] markers and no old [n]-link preview."""
    assert draft["sections"], "the draft has no sections"
    letter = page.input_value("#draft-text")  # type: ignore[attr-defined]
    assert letter == draft["text"] and not re.search(r"\[\d+\]", letter)
    assert page.locator(".preview").count() == 0  # type: ignore[attr-defined]
    items = page.locator(".outline ol.sections > li")  # type: ignore[attr-defined]
    assert items.count() == len(draft["sections"])
    cites = {c["n"]: c for c in draft["citations"]}
    for i, section in enumerate(draft["sections"]):
        item = items.nth(i)
        assert _flat(item.locator(".question").inner_text()) == _flat(section["question"])
        if section["text"]:
            assert _flat(item.locator(".paragraph").inner_text()) == _flat(section["text"])
        sources = _flat(item.locator(".section-sources").inner_text())
        for n in section["citations"]:
            assert _flat(cites[n]["source"]) in sources and _flat(cites[n]["quote"]) in sources
        if not section["handover"]:
            assert section["citations"], section
            assert item.locator(".warn").count() == 0


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_agent_cannot_reach_expert_pages(server: tuple[str, Path], browser: object) -> None:
    base, _ = server
    page = _login(browser, base, "anna")
    for path in ("/prompts", "/auswertung", "/uebersicht"):
        response = page.goto(f"{base}{path}")
        assert response.status == 403 and "Kein Zugriff" in page.inner_text("h1")
    assert page.request.get(f"{base}/api/audit").status == 403
    assert page.locator("nav a[href='/prompts']").count() == 0


def test_expert_writes_a_prompt_version_and_evaluates_it(server: tuple[str, Path], browser: object,
                                                         shots: Path) -> None:
    base, root = server
    page = _login(browser, base, "eva")
    page.goto(f"{base}/prompts")
    section = page.locator("section.card", has=page.locator("h2:has-text('Antwortentwurf')"))
    section.locator("details.new-version summary").click()
    section.locator("input[name=note]").fill("Kürzere Einleitung")
    section.locator("form[data-action-submit=new-prompt] button[type=submit]").click()
    page.wait_for_selector("#message:has-text('angelegt')")
    page.wait_for_timeout(1000)
    page.screenshot(path=str(shots / "prompts.png"), full_page=True)
    created = sorted((root / "prompts" / "answer").glob("v*.md"))[-1]
    assert "Kürzere Einleitung" in created.read_text(encoding="utf-8")

    page.goto(f"{base}/auswertung")
    page.select_option("select[name=task]", "answer")
    page.select_option("select[name=prompt]", "candidate")
    page.click("#eval-form button[type=submit]")
    page.wait_for_selector("#eval-result a", timeout=600_000)
    assert "Schranke" in page.inner_text("#eval-result")
    page.screenshot(path=str(shots / "auswertung.png"), full_page=True)
    with page.context.expect_page() as opened:
        page.click("#eval-result a")
    report = opened.value
    report.wait_for_load_state()
    assert "answer@v" in report.content() and "data:image/png;base64," in report.content()
    report.screenshot(path=str(shots / "bericht.png"), full_page=True)
    page.goto(f"{base}/uebersicht")
    page.screenshot(path=str(shots / "uebersicht.png"), full_page=True)


def test_a_promise_is_sent_only_after_the_second_click_that_names_it(server: tuple[str, Path],
                                                                    browser: object) -> None:
    base, _ = server
    answers = iter([False, True])  # first "Abbrechen", then "OK"
    seen: list[str] = []

    def dialog(d: Any) -> None:
        seen.append(d.message)
        d.accept() if next(answers) else d.dismiss()

    page = _login(browser, base, "anna", on_dialog=dialog)
    ticket_id = _new_ticket(page, base, "Petra Lang <petra.lang@example.org>", "Gutschein",
                            "Guten Tag, wie lange ist ein Geschenkgutschein gültig?\n\nViele Grüße\nPetra Lang")
    promise = "Als Entschuldigung erhalten Sie einen Gutschein über 20 €.\n\nMit freundlichen Grüßen"
    text = page.input_value("#draft-text").replace("Mit freundlichen Grüßen", promise)  # type: ignore[attr-defined]
    page.fill("#draft-text", text)  # type: ignore[attr-defined]
    page.click("button[data-action=save]")  # type: ignore[attr-defined]
    page.wait_for_selector("#message:has-text('Gespeichert')")  # type: ignore[attr-defined]
    page.reload()  # type: ignore[attr-defined]
    assert "Gutschein über 20 €" in page.inner_text("section.flags")  # type: ignore[attr-defined]
    page.click("button[data-action=approve]")  # type: ignore[attr-defined]
    page.wait_for_selector("#ticket-status:has-text('Freigegeben')")  # type: ignore[attr-defined]
    page.click("button[data-action=send]")  # type: ignore[attr-defined]
    page.wait_for_selector("#message:has-text('Nicht gesendet')")  # type: ignore[attr-defined]
    assert "Rabatt oder Gutschein" in seen[0] and "Gutschein über 20 €" in seen[0]
    status = page.request.get(f"{base}/api/tickets/{ticket_id}").json()["status"]  # type: ignore[attr-defined]
    assert status == "approved"  # nothing was sent
    page.click("button[data-action=send]")  # type: ignore[attr-defined]
    page.wait_for_selector("#ticket-status:has-text('Gesendet')")  # type: ignore[attr-defined]
    assert len(seen) == 2


def test_a_correction_after_approval_is_never_lost(server: tuple[str, Path], browser: object) -> None:
    """Issue 13: Freigeben, then change the text, then Senden sent the old approved text and lost the correction."""
    base, root = server
    page = _login(browser, base, "anna")
    ticket_id = _new_ticket(page, base, "Lea Roth <lea.roth@example.org>", "Versand",
                            "Guten Tag, was kostet der Versand nach Österreich?\n\nViele Grüße\nLea Roth")
    page.click("button[data-action=approve]")  # type: ignore[attr-defined]
    page.wait_for_selector("#ticket-status:has-text('Freigegeben')")  # type: ignore[attr-defined]
    corrected = page.input_value("#draft-text") + "\n\nPS: Korrektur nach der Freigabe."  # type: ignore[attr-defined]
    page.fill("#draft-text", corrected)  # type: ignore[attr-defined]
    page.click("button[data-action=send]")  # type: ignore[attr-defined]
    page.wait_for_selector("#message:has-text('erneut freigeben')")  # type: ignore[attr-defined]
    ticket = page.request.get(f"{base}/api/tickets/{ticket_id}").json()  # type: ignore[attr-defined]
    assert ticket["status"] == "drafted" and ticket["draft"]["text"] == corrected and ticket["outbox"] is None
    page.click("button[data-action=approve]")  # type: ignore[attr-defined]
    page.wait_for_selector("#ticket-status:has-text('Freigegeben')")  # type: ignore[attr-defined]
    page.click("button[data-action=send]")  # type: ignore[attr-defined]
    page.wait_for_selector("#ticket-status:has-text('Gesendet')")  # type: ignore[attr-defined]
    sent = [BytesParser(policy=policy.default).parsebytes(p.read_bytes()) for p in
            (root / "home" / "outbox" / "new").iterdir()]
    assert any("Korrektur nach der Freigabe" in mail.get_content() for mail in sent)



def test_an_agent_takes_a_waiting_message_back_from_the_outbox(server: tuple[str, Path], browser: object) -> None:
    """Issue 10, item 8: a message the outbox cannot deliver locked its ticket for ever. Here the outbox cannot
    write (a file where the maildir keeps its tmp folder – the tests run as root, so file modes would not stop
    it); the agent takes the message back, corrects the text, approves and sends: the corrected text goes out
    exactly once, the first text never."""
    base, root = server
    page = _login(browser, base, "anna")
    ticket_id = _new_ticket(page, base, "Jan Kühn <jan.kuehn@example.org>", "Versand",
                            "Guten Tag, was kostet der Versand nach Österreich?\n\nViele Grüße\nJan Kühn")
    first = page.input_value("#draft-text")  # type: ignore[attr-defined]
    tmp = root / "home" / "outbox" / "tmp"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.write_text("kein Ordner", encoding="utf-8")
    try:
        page.click("button[data-action=approve]")  # type: ignore[attr-defined]
        page.wait_for_selector("#ticket-status:has-text('Freigegeben')")  # type: ignore[attr-defined]
        page.click("button[data-action=send]")  # type: ignore[attr-defined]
        page.wait_for_selector("#message:has-text('Noch nicht zugestellt')")  # type: ignore[attr-defined]
        page.reload()  # type: ignore[attr-defined]
        assert page.get_attribute("#draft-text", "readonly") is not None  # type: ignore[attr-defined]
        assert "wartet auf Zustellung" in page.inner_text("#outbox-state")  # type: ignore[attr-defined]
        page.click("button[data-action=cancel-send]")  # type: ignore[attr-defined]
        page.wait_for_selector("#ticket-status:has-text('Entwurf bereit')")  # type: ignore[attr-defined]
    finally:
        tmp.unlink()
        tmp.mkdir(mode=0o700)
    assert page.get_attribute("#draft-text", "readonly") is None  # type: ignore[attr-defined]
    assert page.locator("#outbox-state").count() == 0  # type: ignore[attr-defined]
    corrected = first + "\n\nPS: Korrigiert, nachdem die Antwort im Postausgang hing."
    page.fill("#draft-text", corrected)  # type: ignore[attr-defined]
    page.click("button[data-action=approve]")  # type: ignore[attr-defined]
    page.wait_for_selector("#ticket-status:has-text('Freigegeben')")  # type: ignore[attr-defined]
    page.click("button[data-action=send]")  # type: ignore[attr-defined]
    page.wait_for_selector("#ticket-status:has-text('Gesendet')")  # type: ignore[attr-defined]
    mails = [BytesParser(policy=policy.default).parsebytes(p.read_bytes()) for p in
             (root / "home" / "outbox" / "new").iterdir()]
    to_jan = [m.get_content() for m in mails if m["To"].addresses[0].addr_spec == "jan.kuehn@example.org"]
    assert to_jan == [corrected.replace("\r\n", "\n") + "\n"]
    ticket = page.request.get(f"{base}/api/tickets/{ticket_id}").json()  # type: ignore[attr-defined]
    assert ticket["status"] == "sent" and ticket["outbox"]["status"] == "delivered"


def test_an_admin_revokes_a_token_disables_a_user_and_sets_a_password(server: tuple[str, Path],
                                                                       browser: object) -> None:
    base, _ = server
    otto = _login(browser, base, "otto")
    admin = _login(browser, base, "adam", on_dialog=lambda dialog: dialog.accept())  # the confirm questions
    admin.goto(f"{base}/verwaltung")  # type: ignore[attr-defined]
    token = admin.locator("#tokens tr", has_text="ottos-skript")  # type: ignore[attr-defined]
    assert "gültig" in token.inner_text()
    token.locator("button[data-action=revoke-token]").click()
    admin.wait_for_selector("#tokens tr:has-text('ottos-skript') .token-status:has-text('widerrufen')")  # type: ignore[attr-defined]

    row = "#users tr[data-user=otto]"
    admin.click(f"{row} button[data-action=user-disable]")  # type: ignore[attr-defined]
    admin.wait_for_selector(f"{row} .user-status:has-text('deaktiviert')")  # type: ignore[attr-defined]
    otto.goto(f"{base}/posteingang")  # type: ignore[attr-defined]
    assert "/login" in otto.url  # type: ignore[attr-defined]
    admin.click(f"{row} button[data-action=user-enable]")  # type: ignore[attr-defined]
    admin.wait_for_selector(f"{row} .user-status .pill-drafted")  # type: ignore[attr-defined]  # not has-text('aktiv'): "deaktiviert"
    admin.fill(f"{row} input[name=password]", "otto-neues-passwort-1")  # type: ignore[attr-defined]
    admin.fill(f"{row} input[name=repeat]", "otto-neues-passwort-1")  # type: ignore[attr-defined]
    admin.click(f"{row} form button[type=submit]")  # type: ignore[attr-defined]
    admin.wait_for_selector("#message:has-text('Passwort gesetzt')")  # type: ignore[attr-defined]

    otto.fill("#name", "otto")  # type: ignore[attr-defined]
    otto.fill("#password", "otto-neues-passwort-1")  # type: ignore[attr-defined]
    otto.click("button[type=submit]")  # type: ignore[attr-defined]
    otto.wait_for_selector("h1:text('Posteingang')")  # type: ignore[attr-defined]
    assert admin.locator("nav a[href='/verwaltung']").count() == 1  # type: ignore[attr-defined]
    assert otto.locator("nav a[href='/verwaltung']").count() == 0  # type: ignore[attr-defined]


def test_a_user_ends_all_other_sessions(server: tuple[str, Path], browser: object) -> None:
    base, _ = server
    desk, laptop = _login(browser, base, "eva"), _login(browser, base, "eva")
    desk.click("a[href='/konto']")  # type: ignore[attr-defined]
    desk.click("button[data-action=end-other-sessions]")  # type: ignore[attr-defined]
    desk.wait_for_selector("#message:has-text('andere Sitzung')")  # type: ignore[attr-defined]
    laptop.goto(f"{base}/posteingang")  # type: ignore[attr-defined]
    assert "/login" in laptop.url  # type: ignore[attr-defined]
    desk.goto(f"{base}/posteingang")  # type: ignore[attr-defined]
    assert "/posteingang" in desk.url  # type: ignore[attr-defined]


def test_unsaved_edits_are_not_lost_when_leaving_and_the_outline_says_what_it_shows(
        server: tuple[str, Path], browser: object) -> None:
    """Issue 13, item 2: leaving the ticket page with an unsaved edit lost it without a word; after Speichern the
    outline still showed the draft before the change as if it were the text."""
    base, _ = server
    asked: list[str] = []

    def dialog(d: Any) -> None:
        asked.append(d.type)
        d.dismiss()  # "stay on the page"

    page = _login(browser, base, "anna", on_dialog=dialog)
    ticket_id = _new_ticket(page, base, "Ida Berg <ida.berg@example.org>", "Versand",
                            "Guten Tag, was kostet der Versand nach Österreich?\n\nViele Grüße\nIda Berg")
    assert page.locator("#outline-stale").is_hidden()  # type: ignore[attr-defined]
    page.click("#draft-text")  # type: ignore[attr-defined]
    page.keyboard.type(" Noch ein Satz.")  # type: ignore[attr-defined]
    page.click("a[href='/posteingang']")  # type: ignore[attr-defined]
    page.wait_for_timeout(500)  # type: ignore[attr-defined]
    assert asked == ["beforeunload"] and f"/tickets/{ticket_id}" in page.url  # type: ignore[attr-defined]
    page.click("button[data-action=save]")  # type: ignore[attr-defined]
    page.wait_for_selector("#message:has-text('Gespeichert')")  # type: ignore[attr-defined]
    assert "vor Ihrer Änderung" in page.inner_text("#outline-stale")  # type: ignore[attr-defined]
    page.reload()  # type: ignore[attr-defined]
    assert "vor Ihrer Änderung" in page.inner_text("#outline-stale")  # type: ignore[attr-defined]
    page.click("a[href='/posteingang']")  # type: ignore[attr-defined]
    page.wait_for_selector("h1:text('Posteingang')")  # type: ignore[attr-defined]
    assert asked == ["beforeunload"]  # saved: no question


def test_a_keystroke_on_the_category_changes_nothing_and_a_correction_can_be_undone(
        server: tuple[str, Path], browser: object) -> None:
    """Issue 13, item 3: ArrowDown on the focused category select relearned the category at once."""
    base, root = server
    page = _login(browser, base, "anna")
    ticket_id = _new_ticket(page, base, "Max Ott <max.ott@example.org>", "Rechnung",
                            "Guten Tag, meine Rechnung ist doppelt abgebucht worden.\n\nViele Grüße\nMax Ott")
    before = page.request.get(f"{base}/api/tickets/{ticket_id}").json()["category"]  # type: ignore[attr-defined]
    page.focus("#category")  # type: ignore[attr-defined]
    page.keyboard.press("ArrowDown")  # type: ignore[attr-defined]
    page.wait_for_timeout(1000)  # type: ignore[attr-defined]
    assert page.request.get(f"{base}/api/tickets/{ticket_id}").json()["category"] == before  # type: ignore[attr-defined]
    assert page.locator("#message").is_hidden()  # type: ignore[attr-defined]

    target = "kundenkonto" if before != "kundenkonto" else "sonstiges"
    page.select_option("#category", target)  # type: ignore[attr-defined]
    page.click("button[data-action=recategorise]")  # type: ignore[attr-defined]
    page.wait_for_selector("#message:has-text('als Beispiel gelernt')")  # type: ignore[attr-defined]
    assert page.request.get(f"{base}/api/tickets/{ticket_id}").json()["category"] == target  # type: ignore[attr-defined]
    page.click("#message button[data-action=undo-category]")  # type: ignore[attr-defined]
    page.wait_for_selector("#message:has-text('zurückgenommen')")  # type: ignore[attr-defined]
    assert page.request.get(f"{base}/api/tickets/{ticket_id}").json()["category"] == before  # type: ignore[attr-defined]
    assert page.input_value("#category") == before  # type: ignore[attr-defined]
    env = {**os.environ, "KONTOR_HOME": str(root / "home"), "HF_HUB_OFFLINE": "1"}
    assert "doppelt abgebucht" not in _kontor(env, "examples", "list", "--category", target)


def test_error_pages_are_german_with_the_navigation(server: tuple[str, Path], browser: object) -> None:
    """Issue 13, item 8: /tickets/999, /tickets/abc and unknown paths showed raw English JSON."""
    base, _ = server
    page = _login(browser, base, "anna")
    for path in ("/tickets/999", "/tickets/abc", "/gibtsnicht"):
        response = page.goto(f"{base}{path}")  # type: ignore[attr-defined]
        assert response.status == 404, path
        assert "nicht" in page.inner_text("h1").lower() and page.locator("nav a[href^='/posteingang']").count() >= 1
        assert "detail" not in page.inner_text("body") and "Not Found" not in page.inner_text("body")
    page.click("main a:has-text('Zum Posteingang')")  # type: ignore[attr-defined]
    page.wait_for_selector("h1:text('Posteingang')")  # type: ignore[attr-defined]


def test_a_new_draft_shows_its_progress_and_says_when_it_is_the_same(server: tuple[str, Path],
                                                                      browser: object) -> None:
    """Issue 13, item 5: "Neu entwerfen" showed the old draft with no sign of work, and the same text again
    without a word."""
    base, _ = server
    page = _login(browser, base, "anna")
    ticket_id = _new_ticket(page, base, "Ute Kern <ute.kern@example.org>", "Versand",
                            "Guten Tag, was kostet der Versand nach Österreich?\n\nViele Grüße\nUte Kern")
    first = _draft(page, base, ticket_id)["id"]
    # Every version of the ticket page the browser gets is kept: a fast draft replaces the waiting page within a
    # second, too quickly to be sure to look at it while it is shown (CI failed that way once).
    pages: list[str] = []

    def keep(route: Any) -> None:
        response = route.fetch()
        pages.append(response.text())
        route.fulfill(response=response)

    page.route(re.compile(rf".*/tickets/{ticket_id}$"), keep)  # type: ignore[attr-defined]
    # A new ticket goes before a re-draft in the queue, so the re-draft waits for a moment with a position.
    csrf = page.get_attribute("meta[name=csrf-token]", "content")  # type: ignore[attr-defined]
    assert page.request.post(f"{base}/api/tickets", headers={"X-CSRF-Token": csrf}, data={  # type: ignore[attr-defined]
        "customer": "Uwe Berg <uwe.berg@example.org>", "subject": "Lieferzeit",
        "body": "Guten Tag, wie lange dauert die Lieferung?\n\nViele Grüße\nUwe Berg"}).status == 201
    page.click("button[data-action=regenerate]")  # type: ignore[attr-defined]
    page.wait_for_selector("#message:has-text('Entwurf')", timeout=240_000)  # type: ignore[attr-defined]
    page.unroute(re.compile(rf".*/tickets/{ticket_id}$"))  # type: ignore[attr-defined]
    waiting = [html for html in pages if "Neuer Entwurf wird erstellt" in html]
    assert waiting and "in der Warteschlange" in waiting[0], "the waiting page with its queue position never came"
    assert page.locator(".regenerating").count() == 0  # type: ignore[attr-defined]
    assert _draft(page, base, ticket_id)["id"] != first
    assert re.search(r"wortgleich|Neuer Entwurf erstellt", page.inner_text("#message"))  # type: ignore[attr-defined]


def test_a_hand_over_answered_by_hand_is_labelled_by_its_author_and_the_verdict_reaches_the_case(
        server: tuple[str, Path], browser: object) -> None:
    """Issue 13, items 6 and 7: a hand-written, sent answer still said "KI-Entwurf – bitte prüfen" with the model's
    name and "Übergabe an eine Person"; the evaluation case expected a hand-over the reviewer called unnecessary."""
    base, root = server
    page = _login(browser, base, "anna", on_dialog=lambda dialog: dialog.accept("Unterlagen passen nicht"))
    ticket_id = _new_ticket(page, base, "Rita Hahn <rita.hahn@example.org>", "Parkplatz",
                            "Guten Tag, haben Sie Parkplätze für Wohnmobile an Ihrem Lager?\n\nViele Grüße\nRita Hahn")
    assert _draft(page, base, ticket_id)["handover"]
    assert "Übergabe an eine Person" in page.inner_text(".draft-card")  # type: ignore[attr-defined]
    page.select_option("form.rating select[name=score]", "2")  # type: ignore[attr-defined]
    page.select_option("form.rating select[name=handover_needed]", "nein")  # type: ignore[attr-defined]
    page.click("form.rating button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_selector("#message:has-text('Bewertung gespeichert')")  # type: ignore[attr-defined]
    page.click("button[data-action=reject]")  # type: ignore[attr-defined]
    page.wait_for_selector("#ticket-status:has-text('Verworfen')")  # type: ignore[attr-defined]
    page.fill("#draft-text", "Guten Tag Frau Hahn,\n\nja, auf dem Hof gibt es zwei Plätze.\n\n"  # type: ignore[attr-defined]
              "Mit freundlichen Grüßen\nAnna")
    page.click("button[data-action=approve]")  # type: ignore[attr-defined]
    page.wait_for_selector("#ticket-status:has-text('Freigegeben')")  # type: ignore[attr-defined]
    page.click("button[data-action=send]")  # type: ignore[attr-defined]
    page.wait_for_selector("#ticket-status:has-text('Gesendet')")  # type: ignore[attr-defined]
    card = page.inner_text(".draft-card")  # type: ignore[attr-defined]
    assert page.inner_text(".draft-card h2") == "Von Hand geschrieben von anna"  # type: ignore[attr-defined]
    assert "Von anna beantwortet" in card and "Übergabe an eine Person" not in card
    assert "KI-Entwurf" not in card and "Modell" not in card
    assert "rita.hahn@example.org" in page.inner_text("#sent-confirmation")  # type: ignore[attr-defined]

    expert = _login(browser, base, "eva")
    expert.goto(f"{base}/tickets/{ticket_id}")  # type: ignore[attr-defined]
    expert.click("button[data-action=eval-case]")  # type: ignore[attr-defined]
    expert.wait_for_selector("#message:has-text('Evaluationsfall')")  # type: ignore[attr-defined]
    case = re.search(r"answer-\d+", expert.inner_text("#message")).group(0)  # type: ignore[attr-defined,union-attr]
    text = (root / "eval" / "cases" / f"{case}.yaml").read_text(encoding="utf-8")
    assert "handover: false" in text


def test_an_agent_types_in_a_phone_call_as_a_ticket(server: tuple[str, Path], browser: object) -> None:
    base, _ = server
    page: Any = _login(browser, base, "anna")
    page.click("summary:text('Neues Ticket anlegen')")
    page.fill("#new-name", "Gisela Brandt")
    page.fill("#new-email", "gisela.brandt@example.org")
    page.select_option("#new-channel", "phone")
    page.fill("#new-subject", "Anruf: Versand nach Österreich")
    page.fill("#new-body", "Frau Brandt fragt, was der Versand nach Österreich kostet.")
    page.click("button:text('Ticket anlegen')")
    page.wait_for_url(re.compile(r"/tickets/\d+$"))
    ticket_id = int(page.url.rsplit("/", 1)[1])
    assert page.inner_text("h1") == "Anruf: Versand nach Österreich"
    assert "Kanal Telefon" in page.inner_text(".ticket")
    view = page.request.get(f"{base}/api/tickets/{ticket_id}").json()
    assert (view["customer"], view["customer_email"], view["channel"]) == (
        "Gisela Brandt <gisela.brandt@example.org>", "gisela.brandt@example.org", "phone")
    _drafted(page, base, ticket_id)  # drafted like a mail
    assert "Gisela Brandt" in page.input_value("#draft-text")
    page.goto(f"{base}/posteingang")
    page.click("summary:text('Neues Ticket anlegen')")
    page.fill("#new-subject", "Ohne Kunde")
    page.fill("#new-body", "Text")
    page.click("button:text('Ticket anlegen')")
    page.wait_for_selector("#message.error")
    assert "Namen oder die E-Mail-Adresse" in page.inner_text("#message")
    page.close()


def test_an_agent_adds_an_internal_note_without_losing_an_unsaved_edit(server: tuple[str, Path],
                                                                      browser: object) -> None:
    """Issue 13: an internal note on the ticket page is saved without leaving the page (an unsaved edit of the
    draft stays, no "leave the page?" question), shows at once as internal, as text, and is never sent."""
    base, _ = server
    page: Any = _login(browser, base, "anna")  # any dialog fails the test
    _drafted(page, base, 2)
    before = _draft(page, base, 2)["text"]
    page.click("#draft-text")
    page.keyboard.type(" Noch ein Satz.")
    page.fill("#note-text", "Kundin rief an: <b>bitte</b> zurückrufen")
    page.click("button:text('Notiz speichern')")
    note = page.locator("#conversation .entry-note").last
    note.wait_for()
    text = note.inner_text()
    assert "Notiz von anna" in text and "Intern – wird nicht gesendet" in text
    assert "Kundin rief an: <b>bitte</b> zurückrufen" in text and note.locator("b").count() == 0
    assert re.search(r"\d\d\.\d\d\.\d{4}, \d\d:\d\d Uhr", text)
    assert " Noch ein Satz." in page.input_value("#draft-text") and page.input_value("#note-text") == ""
    assert "gespeichert" in page.inner_text("#note-state")
    said = page.request.get(f"{base}/api/tickets/2/conversation").json()
    assert said[-1]["kind"] == "note" and said[-1]["body"] == "Kundin rief an: <b>bitte</b> zurückrufen"
    assert _draft(page, base, 2)["text"] == before  # the note is not in the answer, the edit not yet saved
    page.close()


def test_an_agent_inserts_a_text_module_at_the_cursor(server: tuple[str, Path], browser: object) -> None:
    """Issue 13: the department writes a text module on its page; the agent inserts it into the answer at the
    cursor, its placeholders filled; the text counts as changed (leaving asks first, Speichern saves it) and
    nothing is saved or sent by inserting."""
    base, _ = server
    asked: list[str] = []

    def dialog(d: Any) -> None:
        asked.append(d.type)
        d.dismiss()  # "stay on the page"

    page: Any = _login(browser, base, "anna", on_dialog=dialog)
    ticket_id = _new_ticket(page, base, "Jonas Weber <jonas.weber@example.org>", "Lieferung",
                            "Guten Tag, meine Bestellung ist noch nicht da. Wann kommt sie?\n\nJonas Weber")
    category = page.request.get(f"{base}/api/tickets/{ticket_id}").json()["category"]

    expert: Any = _login(browser, base, "eva")
    expert.click("nav a:text('Textbausteine')")
    expert.wait_for_selector("h1:text('Textbausteine')")
    expert.fill("#tm-title", "Rückruf anbieten")
    expert.select_option("#tm-category", category)
    expert.fill("#tm-body", "Gern ruft {agent} Sie zurück, {kunde}.")
    expert.click("#text-module-form button[type=submit]")
    expert.wait_for_selector("#text-modules td.tm-title:text('Rückruf anbieten')")  # the list after the reload
    expert.close()

    page.reload()
    before = page.input_value("#draft-text")
    at = before.index("\n")  # the end of the salutation line
    page.evaluate("""(at) => { const area = document.getElementById('draft-text');
        window.inputs = 0; area.addEventListener('input', () => window.inputs++);
        area.focus(); area.setSelectionRange(at, at); }""", at)
    assert page.inner_text("#text-module optgroup:first-of-type option") == "Rückruf anbieten"
    page.select_option("#text-module", label="Rückruf anbieten")
    page.click("button[data-action=insert-text-module]")
    inserted = before[:at] + "Gern ruft anna Sie zurück, Jonas Weber." + before[at:]
    assert page.input_value("#draft-text") == inserted
    assert page.evaluate("window.inputs") == 1 and page.evaluate("unsaved()") is True
    assert _draft(page, base, ticket_id)["text"] == before  # inserting saves nothing

    page.click("a[href='/posteingang']")  # leaving with the unsaved insertion: the browser asks first
    page.wait_for_timeout(500)
    assert asked == ["beforeunload"] and f"/tickets/{ticket_id}" in page.url
    page.click("button[data-action=save]")
    page.wait_for_selector("#message:has-text('Gespeichert')")
    assert _draft(page, base, ticket_id)["text"] == inserted and page.evaluate("unsaved()") is False
    page.close()


def test_a_colleague_sees_who_else_has_the_ticket_open_before_editing(server: tuple[str, Path], browser: object,
                                                                      shots: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13, the collision warning: two agents in two browsers on one ticket. The second sees the first named
    as the page opens (before editing), then that the first is editing; the first takes the ticket without losing
    the edit; once the first has left the page, the warning is gone."""
    base, root = server
    env = {**os.environ, "KONTOR_HOME": str(root / "home"), "KONTOR_PROMPTS_DIR": str(root / "prompts"),
           "KONTOR_EVAL_DIR": str(root / "eval"), "HF_HUB_OFFLINE": "1"}
    _kontor(env, "users", "add", "berta", "--role", "agent", "--team", "Versandteam", "--password-stdin",
            stdin="berta-passwort-123\n")
    monkeypatch.setitem(PASSWORDS, "berta", "berta-passwort-123")
    anna: Any = _login(browser, base, "anna")  # a page of its own context each: two browsers
    _drafted(anna, base, 2)
    anna.wait_for_load_state("networkidle")  # her first heartbeat is in
    original = anna.input_value("#draft-text")

    berta: Any = _login(browser, base, "berta")
    berta.goto(f"{base}/tickets/2")
    warning = berta.locator("#presence")
    assert warning.is_visible() and "Auch geöffnet von: anna" in _flat(warning.inner_text())
    assert warning.get_attribute("role") == "status"

    with anna.expect_response(lambda r: r.url.endswith("/presence") and r.request.method == "POST"):
        anna.fill("#draft-text", original + "\nNachtrag")  # editing: said at once, not only with the next beat
    anna.wait_for_selector("#presence:has-text('berta')")  # and she sees berta
    berta.reload()
    assert "anna (bearbeitet gerade)" in berta.inner_text("#presence")
    berta.screenshot(path=str(shots / "kollision.png"))

    anna.click("button[data-action=take]")
    anna.wait_for_selector("#assignee-name:text('anna')")
    assert anna.input_value("#draft-text") == original + "\nNachtrag"  # the card changed, not the page
    assert anna.locator("button[data-action=take]").is_hidden()
    anna.locator(".assignment").screenshot(path=str(shots / "zustaendigkeit.png"))
    berta.reload()
    assert berta.inner_text("#assignment-line").startswith("Zuständig: anna")

    anna.fill("#draft-text", original)  # nothing unsaved: she leaves without being asked
    anna.goto(f"{base}/posteingang?ansicht=meine")
    assert anna.locator("table.list a[href='/tickets/2']").count() == 1
    for _ in range(20):  # the request sent as her page went
        berta.reload()
        if berta.locator("#presence").is_hidden():
            break
        berta.wait_for_timeout(250)
    assert berta.locator("#presence").is_hidden()
    berta.goto(f"{base}/posteingang")
    assert berta.locator("nav.views a:text('Mein Team')").count() == 1  # she has a team, anna has none
    assert anna.locator("nav.views a:text('Mein Team')").count() == 0
    anna.close()
    berta.close()


# --- the department's pages: a knowledge document opened, previewed and downloaded (issue 13) -------------------

def test_a_knowledge_document_opens_with_a_preview_and_a_safe_download(server: tuple[str, Path], browser: object,
                                                                        shots: Path) -> None:
    """Issue 13: the knowledge page lists documents but none could be opened. An agent opens one: the start of its
    text as text, who brought it, and the original file as a download only (an HTML document never as a page)."""
    base, _ = server
    page: Any = _login(browser, base, "anna")
    page.goto(f"{base}/wissen")
    page.click("a[href='/wissen/dokument?quelle=datenschutzerklaerung.html']")
    page.wait_for_selector("#document-preview")
    assert "personenbezogenen Daten" in page.inner_text("#document-preview")
    assert page.locator("#document-preview script, #document-preview a, #document-preview img").count() == 0
    assert "im Wissensordner abgelegt" in page.inner_text("#document-uploaded")
    assert page.locator("#replace-form").count() == 0  # replacing is the department's
    link = page.locator("a:text('Originaldatei herunterladen')")
    href = link.get_attribute("href")
    assert href == "/api/documents/datenschutzerklaerung.html/file" and link.get_attribute("download") is not None
    original = page.request.get(f"{base}{href}")
    assert original.body() == (PROJECT_ROOT / "knowledge" / "datenschutzerklaerung.html").read_bytes()
    assert original.headers["content-type"] == "application/octet-stream"
    assert original.headers["content-disposition"] == 'attachment; filename="datenschutzerklaerung.html"'
    with page.expect_download() as started:
        link.click()
    assert started.value.suggested_filename == "datenschutzerklaerung.html"
    page.close()

    expert: Any = _login(browser, base, "eva")
    expert.goto(f"{base}/wissen/dokument?quelle=faq.md")
    assert expert.locator("label[for=replace-file]").count() == 1 and expert.locator("#replace-file").count() == 1
    assert expert.locator("#document-preview h3").count() > 0  # the sections' headings
    expert.screenshot(path=str(shots / "dokument.png"), full_page=True)
    expert.close()


# --- a phone (issue 13): the inbox, a ticket and the knowledge page at 390 px ----------------------------------

def test_the_inbox_a_ticket_and_the_knowledge_work_on_a_phone(server: tuple[str, Path], browser: object,
                                                              shots: Path) -> None:
    """At 390 × 844 the page itself never scrolls sideways (a wide table scrolls in its own box), and the answer
    and the buttons to save, approve, send and reject are on the screen, not cut off at its edge."""
    base, _ = server
    width = 390
    pages: list[Any] = []
    for name in ("anna", "eva"):
        page: Any = _login(browser, base, name)
        page.set_viewport_size({"width": width, "height": 844})
        pages.append(page)
    agent, expert = pages
    _drafted(agent, base, 1)

    def fits(page: Any, selector: str) -> None:
        element = page.locator(selector).first
        element.scroll_into_view_if_needed()
        assert element.is_visible(), selector
        box = element.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (selector, box)

    for page, path, shot, shown in (
        (agent, "/posteingang", "mobil-posteingang.png", ["#ticket-count", "input[name=q]", "table.list a"]),
        (agent, "/tickets/1", "mobil-ticket.png", ["h1", "#draft-text", "button[data-action=save]",
                                                   "button[data-action=approve]", "button[data-action=send]",
                                                   "button[data-action=reject]", "#note-text"]),
        (agent, "/wissen", "mobil-wissen.png", ["h1", "table.documents a"]),
        (expert, "/wissen", "", ["#upload-file", "#upload-form button[type=submit]"]),
    ):
        page.goto(f"{base}{path}")
        page.wait_for_load_state("load")
        assert page.evaluate("document.documentElement.scrollWidth") <= width, path
        for selector in shown:
            fits(page, selector)
        if shot:
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(shots / shot), full_page=True)
    for page in pages:
        page.close()
