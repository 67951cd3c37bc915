"""Dead ends at intake (issue 13, item 4): the attachments of an imported mail are kept (limits, type by content,
generated names, listed and downloadable, never inline, never for the model); an over-long mail is stored and
drafted from its beginning; a sender that cannot be parsed is corrected and the answer sent."""

from __future__ import annotations

import re
import stat
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from assistant.domain import Draft
from assistant.tickets.attachments import sniff
from assistant.tickets.intake import NO_TEXT
from tests.harness import Kontor

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x01" * 40
PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n"
HTML = b"<html><body><script>alert(1)</script>Rechnung</body></html>"


def mail(folder: Path, body: str, files: list[tuple[str, bytes, str]] = (), sender: str = "Erika Muster "
         "<erika@example.org>", name: str = "mail.eml", message_id: str = "<m1@example.org>",
         subject: str = "Pfanne beschädigt") -> Path:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "kundenservice@kochwerk-lindner.de"
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message.set_content(body)
    for filename, data, kind in files:
        maintype, subtype = kind.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    path = folder / name
    path.write_bytes(message.as_bytes())
    return path


def imported(kontor: Kontor, path: Path) -> int:
    done = kontor.services.intake.import_eml(path)
    assert done.outcome == "ticket" and done.ticket_id is not None
    return done.ticket_id


def test_the_attachments_of_an_imported_mail_are_kept_listed_and_downloadable(kontor: Kontor,
                                                                               tmp_path: Path) -> None:
    path = mail(tmp_path, "Guten Tag, die Pfanne kam zerkratzt an. Foto anbei.\nWas kostet der Versand nach "
                "Österreich und wie lange dauert er?", [("../../foto\u202e.png", PNG, "image/png"), ("Rechnung.pdf",
                PDF, "application/pdf"), ("seite.html", HTML, "text/html")], subject="Versand nach Österreich")
    ticket_id = imported(kontor, path)
    listed = kontor.call("GET", f"/api/tickets/{ticket_id}/attachments")
    assert listed.status_code == 200, listed.text
    rows = listed.json()
    assert [(r["name"], r["content_type"], r["size"]) for r in rows] == [
        ("foto.png", "image/png", len(PNG)), ("Rechnung.pdf", "application/pdf", len(PDF)),
        ("seite.html", "text/plain; charset=utf-8", len(HTML))]  # by content: a download is never text/html
    folder = kontor.settings.home / "attachments"
    stored = sorted(folder.iterdir())
    assert len(stored) == 3 and not any("foto" in p.name or "." in p.name for p in stored)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in stored)

    for row, data in zip(rows, (PNG, PDF, HTML), strict=True):
        got = kontor.call("GET", f"/api/attachments/{row['id']}")
        assert got.status_code == 200 and got.content == data
        assert got.headers["content-type"] == row["content_type"]
        assert got.headers["content-disposition"].startswith("attachment;")
        assert got.headers["x-content-type-options"] == "nosniff"
    disposition = kontor.call("GET", f"/api/attachments/{rows[0]['id']}").headers["content-disposition"]
    assert "filename*=UTF-8''foto.png" in disposition and "/" not in disposition
    assert kontor.call("GET", f"/api/attachments/{rows[0]['id']}", role="").status_code == 401
    assert kontor.call("GET", "/api/attachments/999").status_code == 404

    assert kontor.services.jobs.run_until_idle() == 1
    history = kontor.services.llm.history  # type: ignore[attr-defined]
    assert history, "the model was not asked: nothing to check"
    prompts = "\n".join(m["content"] for messages in history for m in messages)
    assert "Versand nach Österreich" in prompts  # the mail's text, as the model reads it …
    for attachment in ("alert(1)", "<script>", "PDF-1.4", "endobj", "IHDR", "PNG", "foto.png", "foto\u202e",
                       "Rechnung.pdf", "seite.html"):  # … and none of its attachments, by content or by name
        assert attachment not in prompts, attachment
    page = _page(kontor, f"/tickets/{ticket_id}")
    assert f'href="/api/attachments/{rows[0]["id"]}"' in page and "foto.png" in page and "<script>alert" not in page


def _page(kontor: Kontor, path: str) -> str:
    """A page as the agent's browser gets it."""
    browser = TestClient(kontor.app)
    assert browser.post("/api/session", json={"name": "anna", "password": "anna-passwort-123"}).status_code == 200
    page = browser.get(path)
    assert page.status_code == 200, page.text
    return page.text


def test_attachments_over_the_limits_are_left_out_and_the_agent_is_told(tmp_path: Path, knowledge: Path) -> None:
    kontor = Kontor(tmp_path, knowledge, max_attachments=2, max_attachment_bytes=2048,
                    max_attachments_bytes=2000)
    files = [("gross.pdf", PDF + b"x" * 3000, "application/pdf"), ("eins.png", PNG, "image/png"),
             ("zwei.txt", b"a" * 2000, "text/plain"), ("drei.png", PNG, "image/png"),
             ("vier.png", PNG, "image/png")]
    ticket_id = imported(kontor, mail(tmp_path, "Was kostet der Versand nach Österreich? Fotos anbei.", files))
    rows = kontor.call("GET", f"/api/tickets/{ticket_id}/attachments").json()
    kept = [r["name"] for r in rows if r["downloadable"]]
    left = {r["name"]: r["left_out"] for r in rows if not r["downloadable"]}
    assert kept == ["eins.png", "drei.png"]
    assert left == {"gross.pdf": "größer als 2 KB", "zwei.txt": "alle Anhänge zusammen größer als 2 KB",
                    "vier.png": "mehr als 2 Anhänge"}
    assert len(list((kontor.settings.home / "attachments").iterdir())) == 2
    left_id = next(r["id"] for r in rows if not r["downloadable"])
    assert kontor.call("GET", f"/api/attachments/{left_id}").status_code == 404
    kontor.services.jobs.run_until_idle()
    notes = kontor.call("GET", f"/api/tickets/{ticket_id}").json()["draft"]["notes"]
    note = next(n for n in notes if n.startswith("Anhänge nicht übernommen"))
    assert all(name in note for name in left)


def test_sniffing_by_content() -> None:
    assert sniff(b"GIF89a...") == "image/gif"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff(b"\xff\xd8\xff\xe0JFIF") == "image/jpeg"
    assert sniff(b"PK\x03\x04" + b"\x00" * 26 + b"word/document.xml").endswith("wordprocessingml.document")
    assert sniff(b"PK\x03\x04" + b"\x00" * 40) == "application/zip"
    assert sniff(b"MZ\x90\x00\x03\x00\x00\x00") == "application/octet-stream"
    assert sniff(HTML) == "text/plain; charset=utf-8"
    assert sniff(b"") == "application/octet-stream"


class Recording:
    """An answerer that keeps what it was given."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    def reply(self, subject: str, body: str, customer: str | None = None, **_: Any) -> Draft:
        self.bodies.append(body)
        return Draft(answer="Guten Tag,\n\nvielen Dank.\n\nIhr Team", citations=[], handover=False,
                     method="generated", prompt_version="test", model="fake", model_sha256="0" * 64,
                     timings_ms={})


def test_a_very_long_mail_is_stored_whole_and_drafted_from_its_beginning(lite: Kontor, tmp_path: Path) -> None:
    body = "Was kostet der Versand nach Österreich? " + "Bla bla. " * 3_400  # ~30,600 characters
    ticket_id = imported(lite, mail(tmp_path, body))
    answerer = Recording()
    lite.services.answerer = lambda *_: answerer  # type: ignore[method-assign]
    assert lite.services.jobs.run_until_idle() == 1
    view = lite.call("GET", f"/api/tickets/{ticket_id}").json()
    assert view["body"] == body.strip() and len(view["body"]) > 30_000
    limit = lite.settings.web.max_ticket_chars
    assert answerer.bodies == [body.strip()[:limit]]
    assert "Die Nachricht ist sehr lang – der Entwurf beruht auf den ersten 20.000 Zeichen." in view["draft"]["notes"]
    # a text typed in or posted to the API is kept the same way (tests/test_review_desk.py)


def test_a_mail_over_the_hard_cap_is_cut_and_says_so(lite: Kontor, tmp_path: Path) -> None:
    body = "Was kostet der Versand nach Österreich?\n" + "x" * 1_000_100
    ticket_id = imported(lite, mail(tmp_path, body))
    view = lite.call("GET", f"/api/tickets/{ticket_id}").json()
    assert view["body"].startswith("Was kostet") and len(view["body"]) <= 1_000_000
    assert re.search(r"\[Die Nachricht hatte 1\.000\.14\d Zeichen; gespeichert sind die ersten 999\.\d{3}, der "
                     r"Rest wurde gekürzt\.\]$", view["body"])


@pytest.mark.parametrize("sender", ["Max Mustermann <max@@example>", "kaputt", "undisclosed-recipients:;"])
def test_an_imported_mail_with_a_broken_sender_is_corrected_and_sent(lite: Kontor, tmp_path: Path,
                                                                     sender: str) -> None:
    ticket_id = imported(lite, mail(tmp_path, "Was kostet der Versand nach Österreich?", sender=sender))
    lite.services.jobs.run_until_idle()
    ticket = lite.call("GET", f"/api/tickets/{ticket_id}").json()
    assert ticket["customer_email"] is None
    draft = ticket["draft"]["id"]
    refused = lite.call("POST", f"/api/drafts/{draft}/approve")
    assert refused.status_code == 409 and refused.json()["field"] == "recipient"
    page = _page(lite, f"/tickets/{ticket_id}")
    assert 'id="recipient-email"' in page and "keine gültige E-Mail-Adresse" in page
    corrected = lite.call("PUT", f"/api/tickets/{ticket_id}/recipient", json={"email": "max@example.org"})
    assert corrected.json()["customer_email"] == "max@example.org"
    assert lite.call("POST", f"/api/drafts/{draft}/approve").status_code == 200
    sent = lite.call("POST", f"/api/drafts/{draft}/send")
    if sent.status_code == 409 and "unconfirmed" in sent.json():
        sent = lite.call("POST", f"/api/drafts/{draft}/send", json={"confirm": sent.json()["unconfirmed"]})
    assert sent.json()["status"] == "delivered" and sent.json()["to"] == "max@example.org"
    to = next(line for line in lite.outbox_files()[0].read_bytes().splitlines() if line.startswith(b"To:"))
    assert to.endswith((b" max@example.org", b"<max@example.org>"))


def test_the_folder_import_keeps_attachments(lite: Kontor, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    mail(inbox, "Foto anbei, die Pfanne ist zerkratzt.", [("IMG_0001.JPG", b"\xff\xd8\xff\xe0 jpeg", "image/jpeg")],
         name="a.eml", message_id="<a@example.org>")
    mail(inbox, "\x00\x01\x02\x03" * 40, [("x.png", PNG, "image/png")], name="b.eml", message_id="<b@example.org>")
    report = lite.services.intake.import_dir(inbox)
    assert len(report.imported) == 1 and list(report.failed) == ["b.eml"]  # binary text: refused, its files too
    rows = lite.call("GET", f"/api/tickets/{report.imported[0]}/attachments").json()
    assert [(r["name"], r["content_type"]) for r in rows] == [("IMG_0001.JPG", "image/jpeg")]
    assert len(list((lite.settings.home / "attachments").iterdir())) == 1
    received = next(e for e in lite.audit(report.imported[0]) if e["action"] == "received")
    assert received["detail"]["attachments"] == 1 and "IMG" not in str(received)  # counts, never names


def test_a_ticket_that_is_not_stored_leaves_no_attachment_file(lite: Kontor, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any) -> None:
        raise RuntimeError("Datenbank weg")

    monkeypatch.setattr("assistant.tickets.intake.jobs.enqueue", broken)  # fails after the files were written
    with pytest.raises(RuntimeError):
        lite.services.intake.import_eml(mail(tmp_path, "Foto anbei.", [("x.png", PNG, "image/png")]))
    assert list((lite.settings.home / "attachments").iterdir()) == []
    assert lite.call("GET", "/api/tickets").json() == []


def test_a_mail_of_attachments_alone_is_a_ticket_that_says_so(lite: Kontor, tmp_path: Path) -> None:
    message = EmailMessage()
    message["From"], message["Subject"], message["Message-ID"] = "erika@example.org", "Foto", "<f@example.org>"
    message.add_attachment(PNG, maintype="image", subtype="png", filename="foto.png")
    (tmp_path / "f.eml").write_bytes(message.as_bytes())
    ticket_id = imported(lite, tmp_path / "f.eml")
    assert lite.call("GET", f"/api/tickets/{ticket_id}").json()["body"] == NO_TEXT
    assert [a["name"] for a in lite.call("GET", f"/api/tickets/{ticket_id}/attachments").json()] == ["foto.png"]
