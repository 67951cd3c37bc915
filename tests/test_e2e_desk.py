"""Issue 13 in a real browser (Debian's chromium driven by Playwright) against the app served by uvicorn on
loopback: the dead ends of imported mails (a sender to correct, attachments, an over-long text), a long text typed
in, the inbox's search, pages and views, the customer's earlier answers beside a ticket, and the department's pages
(a new prompt version, a running evaluation, replacing a document, the audit log).

One server for the module: the test harness (tests/harness.py, ``ExpertKontor``) with its scripted citing model,
so a draft or an evaluation takes milliseconds; drafting jobs run when a test says so (``_run_jobs``). Screenshots
go to a temporary folder, or to ``KONTOR_SCREENSHOTS`` (as in tests/test_e2e_browser.py)."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, NamedTuple, cast

import pytest
from PIL import Image
from playwright import sync_api as playwright_api
from sqlalchemy import select

from assistant.evaluate.evaluation import accept, evaluate
from assistant.llm import LLM
from assistant.prompts import parse_prompt_file
from assistant.store.tables import Ticket, User
from tests.browser import needs_browser
from tests.fakes import CitingLLM, GatedLLM
from tests.harness import ExpertKontor
from tests.servers import serving

pytestmark = needs_browser

Page = playwright_api.Page
PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n"
HTML = b"<html><body><script>alert(1)</script>Rechnung</body></html>"


class Desk(NamedTuple):
    kontor: ExpertKontor
    base: str


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    """The harness's app behind a real uvicorn on loopback, shared by the module."""
    root = tmp_path_factory.mktemp("e2e-desk")
    knowledge = root / "knowledge"
    knowledge.mkdir()
    (knowledge / "versand.md").write_text(
        "# Versand\n\n## Kosten\n\nDer Versand nach Österreich kostet 5,90 € und dauert 3–5 Werktage.\n\n"
        "## Lieferzeit\n\nBestellungen bis 14 Uhr verlassen das Lager am selben Tag.\n", encoding="utf-8")
    (knowledge / "zahlung.md").write_text(
        "# Zahlung\n\nSie können per PayPal, Kreditkarte oder auf Rechnung bezahlen. Der Rechnungskauf ist bis "
        "1.500 € möglich.\n", encoding="utf-8")
    kontor = ExpertKontor(root, knowledge)
    with serving(kontor.app) as base:
        yield Desk(kontor, base)




def _login(browser: playwright_api.Browser, base: str, name: str) -> Page:
    """A browser of its own (own cookies), logged in through the login page; any dialog fails the test."""
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.on("dialog", lambda dialog: pytest.fail(f"unexpected dialog: {dialog.message}"))
    page.goto(f"{base}/posteingang")
    assert "/login" in page.url
    page.fill("#name", name)
    page.fill("#password", f"{name}-passwort-123")
    page.click("button[type=submit]")
    page.wait_for_selector("h1:text('Posteingang')")
    return page


def _run_jobs(kontor: ExpertKontor) -> None:
    """Draft what waits (the server runs no worker: the test decides when)."""
    kontor.services.jobs.run_until_idle()


def _mail(folder: Path, body: str, files: list[tuple[str, bytes, str]] | None = None,
          sender: str = "Erika Muster <erika@example.org>", subject: str = "Versand nach Österreich") -> Path:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "kundenservice@example.org", subject
    message["Message-ID"] = f"<{time.monotonic_ns()}@example.org>"
    message.set_content(body)
    for filename, data, kind in files or []:
        maintype, subtype = kind.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    path = folder / f"{time.monotonic_ns()}.eml"
    path.write_bytes(message.as_bytes())
    return path


def _imported(kontor: ExpertKontor, path: Path) -> int:
    done = kontor.services.intake.import_eml(path)
    assert done.ticket_id is not None, done
    _run_jobs(kontor)
    return done.ticket_id


def _sent_to(kontor: ExpertKontor, address: str) -> list[str]:
    mails = [BytesParser(policy=policy.default).parsebytes(p.read_bytes()) for p in kontor.outbox_files()]
    return [m.get_content() for m in mails if m["To"].addresses[0].addr_spec == address]


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 60, 40)).save(buffer, "PNG")
    return buffer.getvalue()


# --- item 4, the dead ends of an imported mail --------------------------------------------------------------------

def test_an_agent_corrects_a_broken_sender_then_approves_and_sends(desk: Desk, browser: playwright_api.Browser,
                                                                   shots: Path, tmp_path: Path) -> None:
    """A mail whose sender cannot be parsed could be approved but never sent, and not fixed."""
    kontor, base = desk
    ticket_id = _imported(kontor, _mail(tmp_path, "Guten Tag, was kostet der Versand nach Österreich?",
                                        sender="Max Mustermann <max@@example>"))
    page = _login(browser, base, "anna")
    page.goto(f"{base}/tickets/{ticket_id}")
    assert "keine gültige E-Mail-Adresse" in page.inner_text("form.recipient")
    page.click("button[data-action=approve]")  # refused with the reason, nothing approved
    page.wait_for_selector("#message.error:has-text('Empfängeradresse eintragen')")
    page.screenshot(path=str(shots / "empfaenger-fehlt.png"), full_page=True)

    page.fill("#recipient-email", "max@example.org")
    with page.expect_navigation():  # saved, then the page shows the ticket as it is now
        page.click("form.recipient button[type=submit]")
    assert page.input_value("#recipient-email") == "max@example.org"
    assert "keine gültige E-Mail-Adresse" not in page.inner_text("form.recipient")
    page.click("button[data-action=approve]")
    page.wait_for_selector("#ticket-status:has-text('Freigegeben')")
    page.click("button[data-action=send]")
    page.wait_for_selector("#ticket-status:has-text('Gesendet')")
    assert "Gesendet an max@example.org" in page.inner_text("#sent-confirmation")
    assert len(_sent_to(kontor, "max@example.org")) == 1
    page.close()


def test_an_imported_mails_attachments_are_listed_and_download_as_files(desk: Desk, browser: playwright_api.Browser,
                                                                         shots: Path, tmp_path: Path) -> None:
    """The agent read "Foto anbei" and saw nothing: now the files are listed, a picture as Kontor's thumbnail, and
    every file is a download – an HTML file too, even when the link is opened without the download attribute."""
    kontor, base = desk
    png = _png()
    ticket_id = _imported(kontor, _mail(tmp_path, "Guten Tag, die Pfanne kam zerkratzt an. Foto und Rechnung anbei.",
                                        [("foto.png", png, "image/png"), ("Rechnung.pdf", PDF, "application/pdf"),
                                         ("seite.html", HTML, "text/html")], subject="Pfanne beschädigt"))
    page = _login(browser, base, "anna")
    page.goto(f"{base}/tickets/{ticket_id}")
    files = page.locator("section.attachments")
    assert files.locator("h2").inner_text() == "Anhänge (3)"
    listed = files.inner_text()
    assert all(name in listed for name in ("foto.png", "Rechnung.pdf", "seite.html")), listed
    thumbnail = files.locator("img")
    assert thumbnail.get_attribute("src", timeout=1000).endswith("/thumbnail")  # type: ignore[union-attr]
    page.wait_for_function("document.querySelector('section.attachments img').naturalWidth > 0")
    assert page.locator("iframe, object, embed").count() == 0 and "alert(1)" not in page.content()
    files.screenshot(path=str(shots / "anhaenge.png"))

    link = files.locator("a:text-is('seite.html')")
    with page.expect_download() as started:
        link.click()
    assert started.value.suggested_filename == "seite.html"
    assert Path(started.value.path()).read_bytes() == HTML
    page.evaluate("document.querySelectorAll('section.attachments a').forEach(a => a.removeAttribute('download'))")
    with page.expect_download() as started:  # the server says "attachment": never a page of its own
        link.click()
    assert started.value.suggested_filename == "seite.html" and f"/tickets/{ticket_id}" in page.url
    got = page.request.get(f"{base}{link.get_attribute('href')}")
    assert got.headers["content-disposition"].startswith("attachment;")
    assert got.headers["content-type"] == "text/plain; charset=utf-8" and got.headers["x-content-type-options"]
    with page.expect_download() as started:
        files.locator("a:text-is('Rechnung.pdf')").click()
    assert Path(started.value.path()).read_bytes() == PDF
    page.close()


LONG = ("Guten Tag,\n\nwas kostet der Versand nach Österreich?\n\n" + "Dazu noch eine lange Geschichte. " * 1_000
        + "\n\nDas steht ganz am Ende.\n\nViele Grüße\nErika Muster")


def test_an_over_long_mail_is_kept_whole_and_drafted_from_its_beginning(desk: Desk, browser: playwright_api.Browser,
                                                                        shots: Path, tmp_path: Path) -> None:
    """A 30,000-character mail was refused whole."""
    kontor, base = desk
    assert len(LONG) > 30_000
    ticket_id = _imported(kontor, _mail(tmp_path, LONG))
    page = _login(browser, base, "anna")
    page.goto(f"{base}/tickets/{ticket_id}")
    assert "Die Nachricht ist sehr lang – der Entwurf beruht auf den ersten 20.000 Zeichen." in page.inner_text(
        ".hints")
    size = len(page.request.get(f"{base}/api/tickets/{ticket_id}").json()["body"])  # as read from the mail
    assert page.inner_text("#long-message").startswith(
        f"Sehr lange Nachricht: {size // 1000}.{size % 1000:03d} Zeichen, vollständig gespeichert")
    body = page.locator(".message-body").first.inner_text()
    assert body.rstrip().endswith("Das steht ganz am Ende.\n\nViele Grüße\nErika Muster") and len(body) > 30_000
    page.screenshot(path=str(shots / "lange-nachricht.png"))
    page.close()


def test_a_long_text_typed_in_is_kept_and_one_over_the_hard_cap_is_refused_in_german(
        desk: Desk, browser: playwright_api.Browser) -> None:
    """A text over the drafting limit typed into the form was cut off by the field (20,000) and refused by the API."""
    kontor, base = desk
    page = _login(browser, base, "anna")
    page.click("summary:text('Neues Ticket anlegen')")
    assert "Ein Text über 20.000 Zeichen wird ganz gespeichert" in page.inner_text("#new-body-hint")
    page.fill("#new-name", "Gisela Brandt")
    page.fill("#new-email", "gisela.brandt@example.org")
    page.select_option("#new-channel", "letter")
    page.fill("#new-subject", "Brief: Versand nach Österreich")
    page.fill("#new-body", LONG)
    page.click("button:text('Ticket anlegen')")
    page.wait_for_url(re.compile(r"/tickets/\d+$"))
    ticket_id = int(page.url.rsplit("/", 1)[1])
    _run_jobs(kontor)
    page.reload()
    page.wait_for_selector("#draft-text")
    assert page.locator("#long-message").is_visible()
    assert "der Entwurf beruht auf den ersten 20.000 Zeichen" in page.inner_text(".hints")
    assert page.request.get(f"{base}/api/tickets/{ticket_id}").json()["body"] == LONG.strip()

    page.goto(f"{base}/posteingang")
    page.click("summary:text('Neues Ticket anlegen')")
    page.fill("#new-name", "Gisela Brandt")
    page.fill("#new-subject", "Zu lang")
    page.fill("#new-body", "x" * 1_000_001)
    page.click("button:text('Ticket anlegen')")
    page.wait_for_selector("#message.error")
    assert page.inner_text("#message") == ("Der Text ist zu lang für ein Ticket: 1.000.001 Zeichen, höchstens "
                                           "1.000.000. Bitte kürzen Sie ihn auf das Anliegen des Kunden.")
    assert "/posteingang" in page.url
    page.fill("#new-body", "ä" * 600_000)  # few characters, but more bytes than a request may carry
    page.click("button:text('Ticket anlegen')")
    page.wait_for_selector("#message.error:has-text('zu groß für ein Ticket')")
    page.close()


# --- the inbox: search by words and number, pages, views ---------------------------------------------------------

def _rows(page: Page) -> list[str]:
    return page.locator("table.list tbody td.subject").all_inner_texts()


def test_the_inbox_searches_pages_and_shows_each_view(desk: Desk, browser: playwright_api.Browser,
                                                      shots: Path) -> None:
    kontor, base = desk
    now = datetime.now(UTC)
    with kontor.services.database.session() as session:
        anna = session.scalar(select(User.id).where(User.name == "anna"))

        def ticket(subject: str, status: str, age: timedelta, customer: str = "Kunde <kunde@example.org>",
                   assignee: int | None = None) -> Ticket:
            row = Ticket(customer=customer, customer_email=None, channel="email", subject=subject,
                         body="Eine Frage zur Zeltplane.", status=status, received_at=now - age,
                         updated_at=now - (age if status != "sent" else timedelta(minutes=5)), assignee_id=assignee)
            session.add(row)
            session.flush()
            return row

        old = ticket("Zeltplane alt", "drafted", timedelta(days=3))
        new = ticket("Zeltplane neu", "drafted", timedelta(hours=1))
        handed = ticket("Zeltplane übergeben", "needs_human", timedelta(days=2))
        sent = ticket("Zeltplane gesendet", "sent", timedelta(days=1))
        mine = ticket("Zeltplane meins", "new", timedelta(hours=5), assignee=anna)
        mueller = ticket("Zeltplane undicht", "new", timedelta(days=4), customer="Hans Müller <hans@example.org>")
        for n in range(49):
            ticket(f"Zeltplane Nr. {n}", "new", timedelta(days=5, minutes=n))
        ids = {"old": old.id, "new": new.id, "handed": handed.id, "sent": sent.id, "mine": mine.id,
               "mueller": mueller.id}

    page = _login(browser, base, "anna")
    page.fill("input[name=q]", "zeltplane")
    page.click("form.filters button[type=submit]")
    assert page.inner_text("#ticket-count") == "55 Tickets · Seite 1 von 2"
    assert len(_rows(page)) == 50 and _rows(page)[0] == "Zeltplane neu"  # "Alle": newest first
    page.screenshot(path=str(shots / "posteingang-suche.png"), full_page=True)
    page.click("nav.pager a[rel=next]")
    assert page.inner_text("#ticket-count") == "55 Tickets · Seite 2 von 2" and len(_rows(page)) == 5
    assert page.input_value("input[name=q]") == "zeltplane"  # the search stays on the next page
    page.click("nav.pager a[rel=prev]")
    assert "Seite 1 von 2" in page.inner_text("#ticket-count")

    for query, expected in (("müller zeltplane", ["Zeltplane undicht"]), (f"#{ids['handed']}", ["Zeltplane übergeben"]),
                            (str(ids["mine"]), ["Zeltplane meins"]), ("zeltplane gibt-es-nicht", [])):
        page.fill("input[name=q]", query)
        page.click("form.filters button[type=submit]")
        assert _rows(page) == expected, query
    assert "Keine Tickets für diese Auswahl" in page.inner_text("main")

    def view(label: str) -> list[str]:
        page.click(f"nav.views a:text-is('{label}')")
        assert page.get_attribute(f"nav.views a:text-is('{label}')", "aria-current") == "page"
        page.fill("input[name=q]", "zeltplane")  # within the view
        page.click("form.filters button[type=submit]")
        return [s for s in _rows(page) if not s.startswith("Zeltplane Nr.")]

    assert view("Zu prüfen") == ["Zeltplane alt", "Zeltplane übergeben", "Zeltplane neu"]  # oldest first
    assert view("Übergeben") == ["Zeltplane übergeben"]
    assert view("Heute gesendet") == ["Zeltplane gesendet"]
    assert view("Meine") == ["Zeltplane meins"]
    assert view("Nicht zugewiesen") == ["Zeltplane undicht"]  # oldest first: 49 five days old, then this one
    assert page.inner_text("#ticket-count") == "53 Tickets · Seite 1 von 2"  # neither "meins" nor "gesendet"
    page.click("nav.pager a[rel=next]")
    assert _rows(page) == ["Zeltplane alt", "Zeltplane übergeben", "Zeltplane neu"]
    page.close()


# --- the customer's history: earlier tickets and the answers they got --------------------------------------------

def test_the_customers_earlier_answer_is_beside_the_ticket_collapsed_and_as_text(
        desk: Desk, browser: playwright_api.Browser, shots: Path) -> None:
    kontor, base = desk
    customer = "Ida Ohm <ida.ohm@example.org>"

    def drafted(subject: str) -> dict[str, Any]:
        created = kontor.call("POST", "/api/tickets", "agent", json={
            "customer": customer, "subject": subject, "body": "Was kostet der Versand nach Österreich?"})
        assert created.status_code == 201, created.text
        _run_jobs(kontor)
        return cast(dict[str, Any], kontor.call("GET", f"/api/tickets/{created.json()['id']}", "agent").json())

    earlier = drafted("Versandkosten")
    reply = "Guten Tag Frau Ohm,\n\n<b>Ihre</b> Pfanne kommt am Montag.\n\nMit freundlichen Grüßen\nAnna"
    draft_id = earlier["draft"]["id"]
    assert kontor.call("PUT", f"/api/drafts/{draft_id}", "agent", json={"text": reply}).status_code == 200
    assert kontor.call("POST", f"/api/drafts/{draft_id}/approve", "agent").status_code == 200
    assert kontor.call("POST", f"/api/drafts/{draft_id}/send", "agent", json={"confirm": []}).status_code == 200
    current = drafted("Noch eine Frage")

    page = _login(browser, base, "anna")
    page.goto(f"{base}/tickets/{current['id']}")
    history = page.locator("#customer-history")
    assert history.locator("summary").first.inner_text() == "Weitere Anfragen dieses Kunden (1)"
    history.locator("summary").first.click()
    item = history.locator(f"li.earlier[data-ticket='{earlier['id']}']")
    assert f"#{earlier['id']} Versandkosten" in item.inner_text() and "Gesendet" in item.inner_text()
    answer = item.locator("details.earlier-reply")
    assert answer.get_attribute("open") is None and answer.locator(".entry-text").is_hidden()  # collapsed
    assert answer.locator("summary").inner_text().startswith("Unsere Antwort an ida.ohm@example.org · ")
    answer.locator("summary").click()
    text = answer.locator(".entry-text")
    assert text.is_visible() and "<b>Ihre</b> Pfanne kommt am Montag." in text.inner_text()  # as text …
    assert text.locator("b").count() == 0  # … never as markup
    history.screenshot(path=str(shots / "kundenverlauf.png"))
    page.close()


# --- the department's pages ------------------------------------------------------------------------------------

def test_a_new_prompt_version_starts_from_production(desk: Desk, browser: playwright_api.Browser) -> None:
    """The form offered the newest file (the candidate v2, "Antworte kurz.") as the text of the next version."""
    kontor, base = desk
    root = kontor.services.prompts.root / "answer"
    production = parse_prompt_file(root / "v1.md")
    page = _login(browser, base, "eva")
    page.goto(f"{base}/prompts")
    section = page.locator("#aufgabe-answer")
    summary = section.locator("details.new-version summary")
    assert "Ausgangsversion: v1 – Produktion" in summary.inner_text()
    summary.click()
    assert page.input_value("#system-answer") == production.system.strip()
    assert "Antworte kurz." not in page.input_value("#system-answer")
    page.fill("#system-answer", production.system.strip() + "\nSchreibe freundlich.")
    page.fill("#note-answer", "Freundlicher Ton")
    section.locator("form[data-action-submit=new-prompt] button[type=submit]").click()
    page.wait_for_selector("#message:has-text('angelegt')")
    created = parse_prompt_file(max(root.glob("v*.md"), key=lambda p: int(p.stem[1:])))
    assert created.meta.version == 3 and created.meta.note == "Freundlicher Ton"
    assert created.system.strip() == production.system.strip() + "\nSchreibe freundlich."
    assert created.user.strip() == production.user.strip() and "Antworte kurz." not in created.system

    # the department compares production with the new version: the prompt's text side by side, no file noise
    page.goto(f"{base}/prompts")
    page.select_option("#compare-a-answer", "1")
    page.select_option("#compare-b-answer", "3")
    page.locator("#aufgabe-answer").get_by_role("button", name="Unterschiede zeigen").click()
    page.wait_for_url("**/prompts/answer/vergleich?a=1&b=3")
    text = page.inner_text("main")
    assert "Systemteil" in text and "Schreibe freundlich." in text
    assert page.locator("tr:not(.same)", has_text="Schreibe freundlich.").count() == 1  # marked as new
    for noise in ("---", "version:", "/tmp", "temperature"):
        assert noise not in text, noise
    page.close()




def test_a_running_evaluation_stays_visible_when_the_page_is_opened_again(
        desk: Desk, browser: playwright_api.Browser, shots: Path) -> None:
    kontor, base = desk
    parts = kontor.services.eval_parts()
    accept(parts.eval_dir, "answer", evaluate(parts, "answer", "production"))  # the baseline the gate compares with
    model = GatedLLM()
    kontor.services.override("llm", cast(LLM, model))
    try:
        page = _login(browser, base, "eva")
        page.goto(f"{base}/auswertung")
        page.select_option("#eval-task", "answer")
        page.select_option("#eval-prompt", "2")
        page.click("#eval-form button[type=submit]")
        assert model.called.wait(30), "the evaluation did not start"
        page.wait_for_selector("#eval-running:not([hidden])")
        page.close()  # the person leaves the page …

        again = _login(browser, base, "eva")  # … and opens it again, in a new browser
        again.goto(f"{base}/auswertung")
        running = again.locator("#eval-running")
        assert running.is_visible() and "Laufende Evaluation: Antwortentwurf v2" in running.inner_text()
        assert again.inner_text("#eval-count") == "0 von 6 Fällen"
        assert again.inner_text("#eval-remaining") == "Restzeit wird geschätzt …"
        assert again.locator("#eval-form button[type=submit]").is_disabled()
        again.screenshot(path=str(shots / "auswertung-laeuft.png"))
    finally:
        model.gate.set()
    again.wait_for_selector("#eval-result:not([hidden]) a:text('Bericht öffnen')")
    assert again.inner_text("#eval-state") == "Evaluation abgeschlossen"
    assert again.inner_text("#eval-count") == "6 von 6 Fällen" and "Schranke" in again.inner_text("#eval-result")
    assert again.locator("#eval-form button[type=submit]").is_enabled()
    kontor.services.override("llm", cast(LLM, CitingLLM()))
    again.close()


GUARANTEE = b"# Garantie\n\nAuf alle Pfannen gew\xc3\xa4hren wir 5 Jahre Garantie ab Kaufdatum.\n"
NEWER = b"# Garantie\n\nAuf alle Pfannen gew\xc3\xa4hren wir jetzt 7 Jahre Garantie ab Kaufdatum.\n"


def _file(name: str, data: bytes) -> playwright_api.FilePayload:
    return {"name": name, "mimeType": "text/markdown", "buffer": data}


def test_the_department_replaces_a_document_and_the_old_text_is_gone_from_search(
        desk: Desk, browser: playwright_api.Browser, shots: Path) -> None:
    kontor, base = desk
    page = _login(browser, base, "eva")
    page.goto(f"{base}/wissen")
    page.set_input_files("#upload-file", files=[_file("Garantie.md", GUARANTEE)])
    with page.expect_navigation(timeout=30_000):  # indexed, then the list again
        page.click("#upload-form button[type=submit]")
    page.click("table.documents a:text('Garantie')")
    page.wait_for_selector("#document-preview")
    source = page.get_attribute(".document-facts", "data-source")
    assert source and "5 Jahre Garantie" in page.inner_text("#document-preview")

    def found() -> list[str]:
        hits = page.request.get(f"{base}/api/search", params={"q": "Wie lange Garantie auf Pfannen", "k": "5"})
        assert hits.status == 200, hits.text()
        return [h["text"] for h in hits.json() if h["source"] == source]

    assert any("5 Jahre" in text for text in found())
    page.set_input_files("#replace-file", files=[_file("Garantie neu.md", NEWER)])
    with page.expect_navigation(timeout=30_000):  # replaced and indexed, then the page again
        page.click("#replace-form button[type=submit]")
    page.wait_for_selector("#document-preview")
    facts = page.inner_text(".document-facts")
    assert "Ersetzt" in facts and "von eva am" in facts and "Garantie neu.md" in facts
    assert "7 Jahre Garantie" in page.inner_text("#document-preview")
    assert "5 Jahre" not in page.inner_text("#document-preview")
    texts = found()
    assert any("7 Jahre" in text for text in texts) and not any("5 Jahre" in text for text in texts), texts
    assert (kontor.knowledge / source).read_bytes() == NEWER
    page.screenshot(path=str(shots / "dokument-ersetzt.png"), full_page=True)
    page.close()


def test_the_admin_filters_the_audit_log_and_downloads_it_as_csv(desk: Desk, browser: playwright_api.Browser,
                                                                 shots: Path) -> None:
    kontor, base = desk
    created = kontor.call("POST", "/api/tickets", "agent", json={
        "customer": "Olaf Kern", "subject": "Anruf", "body": "Bitte zurückrufen.", "channel": "phone"}).json()
    for address in ("olaf@example.org", "olaf.kern@example.org"):
        assert kontor.call("PUT", f"/api/tickets/{created['id']}/recipient", "agent",
                           json={"email": address}).status_code == 200

    page = _login(browser, base, "adam")
    page.goto(f"{base}/verwaltung/protokoll")
    page.select_option("#audit-action", "recipient_corrected")
    page.select_option("#audit-actor", "anna")
    page.fill("#audit-ticket", f"#{created['id']}")
    page.click("form.audit-filters button[type=submit]")
    assert page.inner_text("#audit-count").startswith("2 Einträge")
    rows = page.locator("#audit-entries tbody tr")
    assert rows.count() == 2
    for n in range(2):
        cells = rows.nth(n).locator("td").all_inner_texts()
        assert cells[2:5] == ["anna", "Empfänger geändert", f"#{created['id']}"], cells
    page.screenshot(path=str(shots / "protokoll.png"), full_page=True)

    with page.expect_download() as started:
        page.click("#audit-export")
    download = started.value
    assert re.fullmatch(r"kontor-audit-\d{4}-\d{2}-\d{2}\.csv", download.suggested_filename)
    text = Path(download.path()).read_bytes().decode("utf-8-sig")
    head, *lines = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert head[:6] == ["Nr.", "Zeitpunkt", "Person", "Aktion", "Kennung der Aktion", "Ticket"]
    assert len(lines) == 2 and all(line[2:6] == ["anna", "Empfänger geändert", "recipient_corrected",
                                                 str(created["id"])] for line in lines), lines
    assert [line[0] for line in lines] == [r.locator("td").first.inner_text() for r in rows.all()]  # as listed
    assert "olaf" not in text  # the audit log keeps no addresses, only their checksums

    page.click("a:text('Filter zurücksetzen')")
    assert int(page.inner_text("#audit-count").split()[0].replace(".", "")) > 2  # everything again
    page.close()


def test_the_login_starts_in_the_name_field_and_the_keyboard_focus_is_visible(
        desk: Desk, browser: playwright_api.Browser) -> None:
    _, base = desk
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.goto(f"{base}/login")
    assert page.evaluate("document.activeElement.id") == "name"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle + ' ' + "
                            "getComputedStyle(document.activeElement).outlineWidth")
    assert outline.split()[0] != "none" and float(outline.split()[1].removesuffix("px")) >= 2, outline
    page.close()
