"""Issue 13, the review desk: what the ticket page and the API say about a draft (who wrote it, where it went, its
place in the queue), undoing a category correction, the reviewer's verdict on a hand-over, German error pages
and one German line for every CLI error. The browser side is in tests/test_e2e_browser.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sqlalchemy import update

from assistant.config import PROJECT_ROOT
from assistant.store.tables import DraftRow
from assistant.tickets.intake import MAX_MAIL_CHARS
from tests.harness import QUESTION, Kontor, html_page
from tests.test_attachments import Recording


def _examples(kontor: Kontor) -> int:
    return sum(kontor.services.examples.counts().values())


# --- item 3: a category correction is an explicit act that can be undone ---------------------------------------

def test_undo_of_a_category_correction_restores_it_and_withdraws_the_example(lite: Kontor) -> None:
    ticket = lite.drafted_ticket()
    before, learned = ticket["category"], _examples(lite)
    target = "rechnung_zahlung" if before != "rechnung_zahlung" else "lieferverzug"
    changed = lite.call("PUT", f"/api/tickets/{ticket['id']}/category", json={"category": target})
    assert changed.status_code == 200 and changed.json()["category"] == target
    assert _examples(lite) == learned + 1
    undone = lite.call("POST", f"/api/tickets/{ticket['id']}/category/undo")
    assert undone.status_code == 200, undone.text
    assert undone.json()["category"] == before
    assert _examples(lite) == learned  # the example it created is gone
    assert [e["action"] for e in lite.audit(ticket["id"])][-2:] == ["recategorised", "recategorise_undone"]
    again = lite.call("POST", f"/api/tickets/{ticket['id']}/category/undo")
    assert again.status_code == 409 and "rückgängig" in again.json()["detail"].lower()


def test_undo_of_a_relabel_gives_the_example_its_old_label(lite: Kontor) -> None:
    ticket = lite.drafted_ticket()
    first, second = "rechnung_zahlung", "kundenkonto"
    assert lite.call("PUT", f"/api/tickets/{ticket['id']}/category", json={"category": first}).status_code == 200
    assert lite.call("PUT", f"/api/tickets/{ticket['id']}/category", json={"category": second}).status_code == 200
    assert lite.call("POST", f"/api/tickets/{ticket['id']}/category/undo").json()["category"] == first
    assert lite.services.examples.counts() .get(first) == 1 and not lite.services.examples.counts().get(second)


# --- item 5: a ticket waiting to be drafted shows its place in the queue ----------------------------------------

def test_a_waiting_ticket_shows_its_position_in_the_queue(lite: Kontor) -> None:
    ids = [lite.call("POST", "/api/tickets", json=QUESTION).json()["id"] for _ in range(3)]
    status, html = html_page(lite, f"/tickets/{ids[2]}")
    assert status == 200 and "Position 3 in der Warteschlange" in html
    assert lite.call("GET", f"/api/tickets/{ids[2]}").json()["queue_position"] == 3
    lite.services.jobs.run_until_idle()
    assert lite.call("GET", f"/api/tickets/{ids[2]}").json()["queue_position"] is None
    assert lite.call("POST", f"/api/tickets/{ids[0]}/draft").status_code == 202  # "Neu entwerfen"
    status, html = html_page(lite, f"/tickets/{ids[0]}")
    assert "Neuer Entwurf wird erstellt" in html and "Position 1 in der Warteschlange" in html


# --- item 6: the label says who wrote the text; a sent answer says where and when it went -----------------------

def test_the_draft_is_labelled_by_who_wrote_it_and_the_sent_answer_is_confirmed(lite: Kontor) -> None:
    machine = lite.drafted_ticket()
    _, html = html_page(lite, f"/tickets/{machine['id']}")
    assert "KI-Entwurf – bitte prüfen" in html and "Modell" in html

    edited = lite.drafted_ticket()
    draft_id = edited["draft"]["id"]
    edit = lite.call("PUT", f"/api/drafts/{draft_id}", json={"text": edited["draft"]["text"] + "\nPS"})
    assert edit.status_code == 200
    assert lite.call("POST", f"/api/drafts/{draft_id}/approve").status_code == 200
    sent = lite.call("POST", f"/api/drafts/{draft_id}/send", json={"confirm": []}).json()
    _, html = html_page(lite, f"/tickets/{edited['id']}")
    assert "KI-Entwurf, bearbeitet von anna" in html and "KI-Entwurf – bitte prüfen" not in html
    assert 'id="sent-confirmation"' in html and "erika@example.org" in html and sent["message_id"].strip("<>") in html
    assert lite.call("GET", f"/api/tickets/{edited['id']}").json()["draft"]["written_by"] == {
        "kind": "edited", "name": "anna"}

    by_hand = lite.drafted_ticket()
    draft_id = by_hand["draft"]["id"]
    assert lite.call("POST", f"/api/drafts/{draft_id}/reject", json={"comment": ""}).status_code == 200
    hand = lite.call("PUT", f"/api/drafts/{draft_id}", json={"text": "Guten Tag,\n\nvon Hand.\n\nGruß"})
    assert hand.status_code == 200
    assert lite.call("POST", f"/api/drafts/{draft_id}/approve").status_code == 200
    assert lite.call("POST", f"/api/drafts/{draft_id}/send", json={"confirm": []}).status_code == 200
    _, html = html_page(lite, f"/tickets/{by_hand['id']}")
    assert "Von Hand geschrieben von anna" in html
    assert "KI-Entwurf" not in html and "Modell" not in html


# --- item 7: a person's answer ends the hand-over; the reviewer says whether it was needed ----------------------

@pytest.fixture
def cases(tmp_path: Path, knowledge: Path) -> Kontor:
    (tmp_path / "eval" / "cases").mkdir(parents=True)
    return Kontor(tmp_path, knowledge, eval_dir=tmp_path / "eval")


def _handed_over(kontor: Kontor) -> dict[str, object]:
    ticket = kontor.drafted_ticket()
    with kontor.services.database.session() as session:
        session.execute(update(DraftRow).where(DraftRow.id == ticket["draft"]["id"]).values(handover=True))
    return ticket


def test_a_hand_over_answered_by_a_person_says_so(cases: Kontor) -> None:
    ticket = _handed_over(cases)
    _, html = html_page(cases, f"/tickets/{ticket['id']}")
    assert "Übergabe an eine Person" in html
    draft_id = ticket["draft"]["id"]  # type: ignore[index]
    cases.call("PUT", f"/api/drafts/{draft_id}", json={"text": "Guten Tag,\n\ndas klären wir so.\n\nGruß"})
    assert cases.call("POST", f"/api/drafts/{draft_id}/approve").status_code == 200
    _, html = html_page(cases, f"/tickets/{ticket['id']}")
    assert "Übergabe an eine Person" not in html and "Von anna beantwortet" in html


@pytest.mark.parametrize(("needed", "expected"), [(False, False), (True, True)])
def test_the_eval_case_takes_the_reviewers_verdict_on_the_hand_over(cases: Kontor, needed: bool,
                                                                    expected: bool) -> None:
    ticket = _handed_over(cases)
    draft_id = ticket["draft"]["id"]  # type: ignore[index]
    rated = cases.call("POST", f"/api/drafts/{draft_id}/rating",
                       json={"score": 4, "comment": "", "handover_needed": needed})
    assert rated.status_code == 200, rated.text
    assert cases.call("POST", f"/api/drafts/{draft_id}/approve").status_code == 200
    made = cases.call("POST", f"/api/tickets/{ticket['id']}/eval-case", role="expert")
    assert made.status_code == 201, made.text
    case = yaml.safe_load((cases.settings.eval_dir / "cases" / f"{made.json()['case']}.yaml").read_text("utf-8"))
    assert case["expectations"]["handover"] is expected


# --- item 8: German error pages for browsers, JSON for the API, one German line on the command line -------------

def test_error_pages_are_german_html_with_navigation(lite: Kontor) -> None:
    for path, says in (("/tickets/999", "Ticket 999 gibt es nicht"), ("/tickets/abc", "Seite nicht gefunden"),
                       ("/gibtsnicht", "Seite nicht gefunden")):
        status, html = html_page(lite, path)
        assert status == 404, path
        assert says in html and '<nav' in html and 'href="/posteingang"' in html, path
        assert '"detail"' not in html and "Not Found" not in html
    api = lite.client.get("/api/tickets/999", headers={"Accept": "text/html"})
    assert api.status_code == 404 and api.json() == {"detail": "Ticket 999 gibt es nicht"}
    assert lite.client.get("/api/gibtsnicht", headers={"Accept": "text/html"}).json() == {"detail": "Not Found"}
    assert lite.client.get("/tickets/abc").headers["content-type"].startswith("application/json")  # no HTML asked


@pytest.mark.parametrize(("args", "says"), [
    (("search", "-k", "0", "Versand"), "muss mindestens 1 sein"),
    (("search", "-k", "zwei", "Versand"), "ganze Zahl"),
    (("tickets", "show", "99999"), "Unbekannter Befehl"),
    (("prompts", "show", "answer"), "fehlt"),
    (("search", "--gibtsnicht", "Versand"), "Unbekannte Option"),
])
def test_every_cli_error_is_one_german_line(tmp_path: Path, args: tuple[str, ...], says: str) -> None:
    result = subprocess.run([sys.executable, "-m", "assistant", *args], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1",
                                                         "KONTOR_HOME": str(tmp_path / "home")})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and lines[0].startswith("Fehler:"), result.stderr
    assert "Traceback" not in result.stderr and "Error" not in result.stderr


# --- German labels ---------------------------------------------------------------------------------------------

def test_the_ticket_page_names_the_category_method_and_channel_in_german(lite: Kontor) -> None:
    ticket = lite.drafted_ticket()
    lite.call("PUT", f"/api/tickets/{ticket['id']}/category", json={"category": "lieferverzug"})
    status, page = html_page(lite, f"/tickets/{ticket['id']}")
    assert status == 200
    assert "von einer Person)" in page and "Kanal Schnittstelle" in page
    assert "sicher, person)" not in page and "Kanal api" not in page


# --- the inbox: views, search, paging ---------------------------------------------------------------------------

def test_the_inbox_searches_pages_and_opens_the_view_to_review(kontor: Kontor) -> None:
    first = kontor.drafted_ticket()  # drafted: waits for review
    second = kontor.drafted_ticket({"customer": "Hans Müller <hans@example.org>", "subject": "Rechnung 100_% falsch",
                                  "body": "Die Rechnung nennt den falschen Betrag."})
    for number in range(53):  # not drafted: status new
        kontor.call("POST", "/api/tickets", json={"customer": f"Kunde {number} <k{number}@example.org>",
                                                "subject": f"Anfrage {number}", "body": "Eine Frage zum Versand."})
    status, page = html_page(kontor, "/posteingang")
    assert status == 200 and "55 Tickets · Seite 1 von 2" in page and 'rel="next"' in page
    status, page = html_page(kontor, "/posteingang?ansicht=alle&seite=2")
    assert "Seite 2 von 2" in page and page.count('href="/tickets/') == 5 and 'rel="prev"' in page

    status, page = html_page(kontor, "/posteingang?ansicht=zu-pruefen")
    assert "2 Tickets" in page  # the two drafted ones, oldest first
    assert page.index(f'href="/tickets/{first["id"]}"') < page.index(f'href="/tickets/{second["id"]}"')
    assert 'href="/posteingang?ansicht=zu-pruefen"' in page  # the badge opens this view

    for query, expected in ((f"%23{second['id']}", second["id"]), ("müller", second["id"]),
                            ("falschen betrag", second["id"]), ("100_%25", second["id"])):
        status, page = html_page(kontor, f"/posteingang?q={query}")
        assert status == 200 and "1 Ticket" in page and f'href="/tickets/{expected}"' in page, query
    status, page = html_page(kontor, "/posteingang?q=e%25e")  # a literal %, not "e, anything, e"
    assert "0 Tickets" in page and "Keine Tickets für diese Auswahl" in page
    status, _ = html_page(kontor, "/posteingang?seite=0")
    assert status == 422


def test_the_ticket_page_shows_the_customers_earlier_tickets(lite: Kontor) -> None:
    earlier = lite.drafted_ticket({**QUESTION, "subject": "Frühere Frage zur Lieferung"})
    other = lite.drafted_ticket({"customer": "Otto <otto@example.net>", "subject": "Fremde Anfrage",
                                 "body": "Was kostet der Versand nach Österreich?"})
    current = lite.drafted_ticket({**QUESTION, "customer": "Erika Muster <ERIKA@example.org>"})
    status, page = html_page(lite, f"/tickets/{current['id']}")
    assert status == 200 and "Weitere Anfragen dieses Kunden (1)" in page
    assert f'href="/tickets/{earlier["id"]}"' in page and "Fremde Anfrage" not in page
    assert f'href="/tickets/{other["id"]}"' not in page


def test_the_customers_earlier_answers_are_beside_the_ticket_collapsed_and_as_text(lite: Kontor) -> None:
    """Issue 13, customer history: "earlier tickets and replies of the same address beside the ticket" – the page
    listed the earlier tickets only; now each shows the answers delivered on it, collapsed, as text."""
    earlier = lite.drafted_ticket({**QUESTION, "subject": "Frühere Frage zur Lieferung"})
    draft_id = earlier["draft"]["id"]
    reply = "Guten Tag,\n\n<b>Ihre</b> Pfanne kommt am Montag.\n\nMit freundlichen Grüßen\nAnna"
    assert lite.call("PUT", f"/api/drafts/{draft_id}", json={"text": reply}).status_code == 200
    assert lite.call("POST", f"/api/drafts/{draft_id}/approve").status_code == 200
    assert lite.call("POST", f"/api/drafts/{draft_id}/send", json={"confirm": []}).json()["status"] == "delivered"
    unanswered = lite.drafted_ticket({**QUESTION, "subject": "Noch offen"})
    lite.drafted_ticket({"customer": "Otto <otto@example.net>", "subject": "Fremde Anfrage",
                         "body": "Was kostet der Versand nach Österreich?"})
    current = lite.drafted_ticket({**QUESTION, "customer": "Erika Muster <ERIKA@example.org>"})

    found = lite.call("GET", f"/api/tickets/{current['id']}/history")
    assert found.status_code == 200, found.text
    got = found.json()
    assert [(t["id"], t["status"]) for t in got] == [(unanswered["id"], "drafted"), (earlier["id"], "sent")]
    assert got[0]["replies"] == [] and got[1]["subject"] == "Frühere Frage zur Lieferung"
    [sent] = got[1]["replies"]
    assert sent["to"] == "erika@example.org" and sent["body"].replace("\r\n", "\n").strip() == reply
    assert lite.call("GET", "/api/tickets/999/history").status_code == 404
    assert lite.call("GET", f"/api/tickets/{current['id']}/history", role="").status_code == 401

    status, page = html_page(lite, f"/tickets/{current['id']}")
    assert status == 200 and "Weitere Anfragen dieses Kunden (2)" in page
    shown = page[page.index('id="customer-history"'):page.index('class="recipient"')]
    assert page.count('<details class="earlier-reply">') == 1
    assert '<summary>Unsere Antwort an erika@example.org · <time datetime="' in shown
    assert "&lt;b&gt;Ihre&lt;/b&gt; Pfanne kommt am Montag." in shown and "<b>Ihre</b>" not in page
    status, page = html_page(lite, f"/tickets/{earlier['id']}")  # from the earlier ticket: the later ones
    assert "Weitere Anfragen dieses Kunden (2)" in page and "earlier-reply" not in page


# --- a long text typed in or posted: kept whole and drafted from its beginning, like a long mail -------------------

def test_a_long_text_typed_in_is_kept_whole_and_drafted_from_its_beginning(lite: Kontor) -> None:
    """Issue 13, item 4: a text over the drafting limit was refused with 413 – a mail is kept, so is this."""
    body = "Was kostet der Versand nach Österreich? " + "Bla bla. " * 3_400 + "Das Ende des Textes."
    created = lite.call("POST", "/api/tickets", json={"customer": "Erika Muster <erika@example.org>",
                                                       "subject": "Anruf: Versand", "body": body, "channel": "phone"})
    assert created.status_code == 201, created.text
    answerer = Recording()
    lite.services.answerer = lambda *_: answerer  # type: ignore[method-assign,assignment]
    assert lite.services.jobs.run_until_idle() == 1
    view = lite.call("GET", f"/api/tickets/{created.json()['id']}").json()
    assert view["body"] == body and len(body) > 30_000
    limit = lite.settings.web.max_ticket_chars
    assert answerer.bodies == [body[:limit]] and "Das Ende des Textes" not in answerer.bodies[0]
    note = "Die Nachricht ist sehr lang – der Entwurf beruht auf den ersten 20.000 Zeichen."
    assert note in view["draft"]["notes"]
    status, page = html_page(lite, f"/tickets/{view['id']}")
    assert status == 200 and note in page and "Das Ende des Textes." in page  # the whole text on the page
    assert f"Sehr lange Nachricht: {len(body) // 1000}.{len(body) % 1000:03d} Zeichen, vollständig gespeichert" in page
    _, inbox = html_page(lite, "/posteingang")
    assert 'id="new-body"' in inbox and 'maxlength="20000"' not in inbox
    assert 'data-max-chars="1000000"' in inbox and "Ein Text über 20.000 Zeichen wird ganz gespeichert" in inbox


def test_a_text_up_to_the_hard_cap_is_kept_and_one_over_it_is_refused_in_german(lite: Kontor, tmp_path: Path,
                                                                               knowledge: Path) -> None:
    ticket = {"customer": "erika@example.org", "subject": "Brief", "channel": "letter"}
    kept = lite.call("POST", "/api/tickets", json={**ticket, "body": "Brief. " * 141_000})  # 987,000 characters
    assert kept.status_code == 201 and len(kept.json()["body"]) == len(("Brief. " * 141_000).strip())
    over = lite.call("POST", "/api/tickets", json={**ticket, "body": "x" * (MAX_MAIL_CHARS + 1)})
    assert over.status_code == 413 and over.headers["content-type"] == "application/json"
    assert over.json()["detail"] == "Anfrage zu groß (höchstens 1000000 Bytes)"
    roomy = Kontor(tmp_path / "roomy", knowledge, max_request_bytes=3_000_000)  # the text's own cap answers
    over = roomy.call("POST", "/api/tickets", json={**ticket, "body": "x" * (MAX_MAIL_CHARS + 1)})
    assert over.status_code == 422 and "„body“ im Inhalt" in over.json()["detail"], over.json()["detail"]
    assert "1000000 Zeichen" in over.json()["detail"]


def test_the_next_ticket_to_review_is_one_click_away(lite: Kontor) -> None:
    first, second = lite.drafted_ticket(), lite.drafted_ticket()
    status, page = html_page(lite, f"/tickets/{first['id']}")
    assert f'class="next-ticket" href="/tickets/{second["id"]}"' in page
    status, page = html_page(lite, f"/tickets/{second['id']}")
    assert f'class="next-ticket" href="/tickets/{first["id"]}"' in page  # the oldest other one waiting
    lite.call("POST", f"/api/drafts/{first['draft']['id']}/approve")
    status, page = html_page(lite, f"/tickets/{second['id']}")
    assert "next-ticket" not in page  # nothing else waits for review
    status, page = html_page(lite, "/login")
    assert 'id="name" name="name" autocomplete="username" required maxlength="100" autofocus' in page
