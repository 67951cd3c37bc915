"""Issues 13 and 14 on the ticket page: internal notes (never sent, never read by the model as the customer's text),
the conversation in order (first message, answers, follow-ups, notes) with a reply's quoted history collapsed, a
bounced answer in German, and the shared mailbox's last fetch and error on the Übersicht. The browser side is in
tests/test_e2e_browser.py."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import select

from assistant.answer import Answerer
from assistant.answer.drafter import Conversation
from assistant.answer.question import TokenSink
from assistant.domain import Draft
from assistant.jobs import JobStatus
from assistant.store.tables import Job, MailboxState, OutboxMessage, Ticket
from assistant.tickets.bounces import record_bounce
from assistant.tickets.drafting import Drafting
from assistant.tickets.threads import MAX_NOTE_CHARS, join, latest_customer_text
from assistant.web.rendering import split_quote
from tests.harness import Kontor, html_page

SECRET = "Kunde rief an: Rabatt 20 % intern zugesagt, nicht weitergeben"
FOLLOW_UP = ("Danke! Und wann kommt das Paket an?\n\nViele Grüße\nErika Muster\n\n"
             "Am 04.12.2026 um 10:00 schrieb Kochwerk Lindner <kundenservice@kochwerk-lindner.de>:\n"
             "> Guten Tag Frau Muster,\n> der Versand kostet 5,90 €.")


def _send(kontor: Kontor, draft_id: int) -> dict[str, object]:
    assert kontor.call("POST", f"/api/drafts/{draft_id}/approve").status_code == 200
    sent = kontor.call("POST", f"/api/drafts/{draft_id}/send")
    assert sent.status_code == 200 and sent.json()["status"] == "delivered", sent.text
    return sent.json()  # type: ignore[no-any-return]


# --- notes --------------------------------------------------------------------------------------------------

def test_a_note_is_stored_listed_and_audited_but_never_sent(kontor: Kontor) -> None:
    ticket = kontor.drafted_ticket()
    answer = kontor.call("POST", f"/api/tickets/{ticket['id']}/notes", json={"text": f"  {SECRET}\n"})
    assert answer.status_code == 201, answer.text
    note = answer.json()
    assert (note["kind"], note["author"], note["body"], note["ticket_id"]) == ("note", "anna", SECRET, ticket["id"])
    assert datetime.fromisoformat(note["at"]) <= datetime.now(UTC)

    said = kontor.call("GET", f"/api/tickets/{ticket['id']}/conversation").json()
    assert [(e["kind"], e["author"]) for e in said] == [("customer", ticket["customer"]), ("note", "anna")]
    assert said[0]["body"] == ticket["body"] and said[1]["body"] == SECRET

    added = [e for e in kontor.audit(ticket["id"]) if e["action"] == "note_added"]
    assert len(added) == 1 and added[0]["actor"] == "anna"
    assert "Rabatt" not in json.dumps(kontor.audit(ticket["id"]))  # the log says that, not what

    with kontor.services.database.session() as session:  # what a new draft answers: the customer's text
        row = session.get(Ticket, ticket["id"])
        assert row is not None
        assert latest_customer_text(session, row) == (ticket["body"], False)

    _send(kontor, ticket["draft"]["id"])
    [message] = kontor.outbox_rows()
    assert "Rabatt" not in message.body
    assert all("Rabatt" not in path.read_text(encoding="utf-8", errors="replace") for path in kontor.outbox_files())


def test_a_note_is_never_read_by_the_model(lite: Kontor) -> None:
    ticket = lite.drafted_ticket()
    assert lite.call("POST", f"/api/tickets/{ticket['id']}/notes", json={"text": SECRET}).status_code == 201
    llm = lite.services.llm
    seen = len(llm.history)  # type: ignore[attr-defined]
    assert lite.call("POST", f"/api/tickets/{ticket['id']}/draft").status_code == 202  # "Neu entwerfen"
    assert lite.services.jobs.run_until_idle() == 1
    prompts = "\n".join(str(m) for messages in llm.history[seen:] for m in messages)  # type: ignore[attr-defined]
    assert "Versand nach Österreich" in prompts and "Rabatt" not in prompts


@pytest.mark.parametrize(("text", "says"), [
    ("", "mindestens"), ("   \n ", "Die Notiz ist leer"), ("x" * (MAX_NOTE_CHARS + 1), "höchstens"),
])
def test_an_empty_or_too_long_note_is_refused_in_german(lite: Kontor, text: str, says: str) -> None:
    ticket = lite.drafted_ticket()
    answer = lite.call("POST", f"/api/tickets/{ticket['id']}/notes", json={"text": text})
    assert answer.status_code == 422 and says in answer.json()["detail"], answer.text
    assert [e["kind"] for e in lite.call("GET", f"/api/tickets/{ticket['id']}/conversation").json()] == ["customer"]


def test_a_note_on_an_unknown_ticket_is_a_404_and_needs_a_login(lite: Kontor) -> None:
    missing = lite.call("POST", "/api/tickets/999/notes", json={"text": "Hallo"})
    assert missing.status_code == 404 and "Ticket 999 gibt es nicht" in missing.json()["detail"]
    assert lite.call("GET", "/api/tickets/999/conversation").status_code == 404
    assert lite.call("POST", "/api/tickets/1/notes", role="", json={"text": "Hallo"}).status_code == 401


def test_a_note_by_session_needs_the_csrf_token(lite: Kontor) -> None:
    ticket = lite.drafted_ticket()
    status, html = html_page(lite, f"/tickets/{ticket['id']}")
    assert status == 200
    url = f"/api/tickets/{ticket['id']}/notes"
    assert lite.client.post(url, json={"text": "ohne Token"}).status_code == 403
    csrf = html.split('<meta name="csrf-token" content="', 1)[1].split('"', 1)[0]  # as the page's script sends it
    answer = lite.client.post(url, json={"text": "mit Token"}, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 201 and answer.json()["author"] == "anna"


# --- the conversation ---------------------------------------------------------------------------------------

def test_the_conversation_is_in_order_with_the_follow_up_and_its_quote_collapsed(kontor: Kontor) -> None:
    ticket = kontor.drafted_ticket()
    sent = _send(kontor, ticket["draft"]["id"])
    with kontor.services.database.session() as session:
        join(session, ticket["id"], "Erika Muster <erika@example.org>", FOLLOW_UP, "<folge-1@example.org>")
    assert kontor.call("POST", f"/api/tickets/{ticket['id']}/notes", json={"text": "Paket ist unterwegs"}).status_code \
        == 201

    said = kontor.call("GET", f"/api/tickets/{ticket['id']}/conversation").json()
    assert [e["kind"] for e in said] == ["customer", "answer", "customer", "note"]
    assert said[1]["author"] == sent["to"] == "erika@example.org" and said[2]["body"] == FOLLOW_UP
    assert [datetime.fromisoformat(e["at"]) for e in said[1:]] == sorted(datetime.fromisoformat(e["at"])
                                                                         for e in said[1:])

    status, html = html_page(kontor, f"/tickets/{ticket['id']}")
    assert status == 200
    marks = ["Antwort an <span class=\"entry-author\">erika@example.org</span>", "<strong>Kunde</strong>",
             "Danke! Und wann kommt das Paket an?", "Zitierter Verlauf", "schrieb Kochwerk Lindner",
             "Notiz von <span class=\"entry-author\">anna</span>", "Intern – wird nicht gesendet",
             "Paket ist unterwegs"]
    places = [html.index(mark) for mark in marks]
    assert places == sorted(places), list(zip(marks, places, strict=True))
    assert 'class="entry entry-note"' in html and "<details class=\"quoted\">" in html
    assert " Uhr</time>" in html  # a German date and time


def test_a_ticket_with_only_its_first_message_looks_as_before(lite: Kontor) -> None:
    ticket = lite.drafted_ticket()
    status, html = html_page(lite, f"/tickets/{ticket['id']}")
    assert status == 200 and f'<div class="message-body">{ticket["body"]}</div>' in html
    assert '<ol class="conversation" id="conversation" aria-label="Verlauf"></ol>' in html  # empty: hidden by CSS
    assert 'class="entry ' not in html.split('<template id="note-entry">')[0]
    assert '<label for="note-text">Interne Notiz</label>' in html and "Notiz speichern" in html


def test_the_ticket_page_shows_a_note_as_text(lite: Kontor) -> None:
    ticket = lite.drafted_ticket()
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    assert lite.call("POST", f"/api/tickets/{ticket['id']}/notes", json={"text": attack}).status_code == 201
    _, html = html_page(lite, f"/tickets/{ticket['id']}")
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script>alert" not in html and "<img src=x" not in html


def test_split_quote_keeps_the_newest_text_and_collapses_the_history() -> None:
    latest, quoted = split_quote(FOLLOW_UP)
    assert latest == "Danke! Und wann kommt das Paket an?\n\nViele Grüße\nErika Muster"
    assert quoted.startswith("Am 04.12.2026 um 10:00 schrieb") and quoted.endswith("5,90 €.")
    assert split_quote("Neu\n\n> alt\n>\n> älter\n") == ("Neu", "> alt\n>\n> älter")
    wrapped = "Ok\n\nAm Do., 4. Dez. 2026 um 10:00 Uhr schrieb Kontor <\nservice@example.org>:\n\n> Hallo"
    assert split_quote(wrapped)[0] == "Ok"
    assert split_quote("Hallo\n-----Ursprüngliche Nachricht-----\nVon: x") == ("Hallo", "-----Ursprüngliche "
                                                                                "Nachricht-----\nVon: x")
    for whole in ("> nur\n> Zitat", "Kein Zitat", "> a\nAntwort\n> b\nnoch",
                  "Hallo\nAm Montag, 3. Mai schrieb ich Ihnen:\n- a\n- b"):  # no attribution followed by ">"
        assert split_quote(whole) == (whole, "")


# --- a follow-up's draft: the conversation as context ----------------------------------------------------------

@dataclass
class RecordingAnswerer:
    """The real answerer, recording what each draft is given: the drafter's side of the seam."""

    real: Answerer
    given: list[dict[str, Any]] = field(default_factory=list)

    def reply(self, subject: str, body: str, customer: str | None = None, agent: str | None = None,
              on_token: TokenSink | None = None, conversation: Conversation | None = None) -> Draft:
        self.given.append({"subject": subject, "body": body, "conversation": conversation})
        return self.real.reply(subject, body, customer, agent, on_token, conversation)


def _redraft_with(kontor: Kontor, ticket_id: int, answerer: RecordingAnswerer) -> dict[str, Any]:
    """Run the ticket's waiting draft job with a drafting stage that uses ``answerer``; the ticket as the API
    shows it afterwards."""
    services = kontor.services
    drafting = Drafting(services.database, lambda: services.categoriser, lambda: cast(Answerer, answerer),
                        services.live, kontor.settings.answer.max_question_chars)
    with services.database.session() as session:
        job = session.scalar(select(Job).where(Job.ticket_id == ticket_id, Job.status == JobStatus.QUEUED)
                             .order_by(Job.id.desc()))
        assert job is not None
        session.expunge(job)
    drafting.run(job)
    return kontor.call("GET", f"/api/tickets/{ticket_id}").json()  # type: ignore[no-any-return]


def test_a_follow_ups_draft_gets_the_earlier_messages_as_context_not_as_questions(lite: Kontor) -> None:
    ticket = lite.drafted_ticket()  # "was kostet der Versand nach Österreich und wie lange dauert er?"
    assert "5,90 €" in ticket["draft"]["text"]
    _send(lite, ticket["draft"]["id"])
    [sent] = lite.outbox_rows()
    follow_up = "Danke! Und wie lange dauert das genau?\n\nViele Grüße\nErika Muster"  # no quote of our answer
    with lite.services.database.session() as session:
        join(session, ticket["id"], "Erika Muster <erika@example.org>", follow_up, "<folge-2@example.org>")
    assert lite.call("POST", f"/api/tickets/{ticket['id']}/notes", json={"text": SECRET}).status_code == 201
    recorder = RecordingAnswerer(lite.services.answerer())

    view = _redraft_with(lite, ticket["id"], recorder)

    [given] = recorder.given
    assert given["body"] == follow_up  # the questions come from the newest message alone
    assert given["conversation"] == Conversation(customer=(ticket["body"],), told=(sent.body,))  # no note
    questions = [s["question"] for s in view["draft"]["sections"]]
    assert questions and all("Österreich" not in q and "kostet" not in q for q in questions), questions
    assert any("dauert das" in q for q in questions)
    # the answer we sent said "5,90 € und dauert 3–5 Werktage": the new draft does not say it again
    assert "5,90" not in view["draft"]["text"] and "3–5 Werktage" not in view["draft"]["text"]
    assert any("neueste Nachricht" in note for note in view["draft"]["notes"])


def test_the_earlier_messages_give_a_short_follow_up_its_topic(lite: Kontor) -> None:
    answerer = lite.services.answerer()
    earlier = Conversation(customer=("Guten Tag,\nwas kostet der Versand nach Österreich?\nGrüße\nErika Muster",))

    alone = answerer.reply("Bestellung", "Und wie lange dauert das?")
    with_context = answerer.reply("Bestellung", "Und wie lange dauert das?", conversation=earlier)

    assert alone.handover  # "das" without the conversation: nothing to go by
    assert not with_context.handover and "3–5 Werktage" in with_context.answer
    assert [s.question for s in with_context.sections] == ["Und wie lange dauert das?"]  # not the earlier one


def test_our_earlier_answer_is_not_repeated_and_a_bounced_one_does_not_count(lite: Kontor) -> None:
    answerer = lite.services.answerer()
    question = "Was kostet der Versand nach Österreich?"
    letter = ("Guten Tag,\n\nder Versand nach Österreich kostet 5,90 € und dauert 3–5 Werktage.\n\n"
              "Mit freundlichen Grüßen")
    assert "5,90 €" in answerer.reply("Versand", question).answer
    assert "5,90 €" not in answerer.reply("Versand", question, conversation=Conversation(told=(letter,))).answer

    ticket = lite.drafted_ticket()
    _send(lite, ticket["draft"]["id"])
    [sent] = lite.outbox_rows()
    assert record_bounce(lite.services.database, sent.message_id, "550 5.1.1 user unknown") == ticket["id"]
    with lite.services.database.session() as session:
        join(session, ticket["id"], "Erika Muster <erika@example.org>", "Hallo? Was kostet der Versand nach "
             "Österreich?", "<folge-3@example.org>")
        assert session.get(OutboxMessage, sent.id).status == "bounced"  # type: ignore[union-attr]
    recorder = RecordingAnswerer(lite.services.answerer())
    view = _redraft_with(lite, ticket["id"], recorder)
    assert recorder.given[0]["conversation"] == Conversation(customer=(ticket["body"],), told=())
    assert "5,90 €" in view["draft"]["text"]  # the customer never got it: said (again)


# --- a bounced answer -----------------------------------------------------------------------------------------

def test_a_bounced_answer_is_unzustellbar_with_its_reason_and_can_be_sent_again(lite: Kontor) -> None:
    ticket = lite.drafted_ticket()
    sent = _send(lite, ticket["draft"]["id"])
    assert record_bounce(lite.services.database, str(sent["message_id"]), "550 5.1.1 user unknown") == ticket["id"]
    status, html = html_page(lite, f"/tickets/{ticket['id']}")
    assert status == 200 and 'id="outbox-bounced"' in html
    box = html.split('id="outbox-bounced"', 1)[1].split("</p>", 1)[0]
    assert "Postausgang: unzustellbar" in box and "550 5.1.1 user unknown" in box and "erika@example.org" in box
    assert 'id="sent-confirmation"' not in html
    area = html.split('<textarea id="draft-text"', 1)[1].split(">", 1)[0]
    assert "readonly" not in area  # the agent corrects and approves again
    assert "Antwort an <span class=\"entry-author\">erika@example.org</span>" in html  # it was sent, and came back


# --- the shared mailbox on the Übersicht ---------------------------------------------------------------------

def test_the_overview_shows_the_last_fetch_and_the_mailbox_error(tmp_path: Path, knowledge: Path) -> None:
    kontor = Kontor(tmp_path, knowledge, imap_host="127.0.0.1", imap_security="none", imap_port=1143,
                    imap_user="service")
    assert kontor.settings.imap.configured
    _, html = html_page(kontor, "/uebersicht", "eva")
    assert "Postfach: noch nie abgeholt" in html and 'id="mailbox-error"' not in html

    now = datetime.now(UTC)
    with kontor.services.database.session() as session:
        session.add(MailboxState(mailbox=kontor.services.fetcher.mailbox, last_success_at=now - timedelta(hours=2),
                                 last_error="Verbindung zu 127.0.0.1:1143 abgelehnt <test>", last_error_at=now,
                                 failures=3, imported=12))
    status, html = html_page(kontor, "/uebersicht", "eva")
    assert status == 200 and "Postfach: zuletzt abgeholt" in html and "12 E-Mails übernommen" in html
    box = html.split('id="mailbox-error"', 1)[1].split("</div>", 1)[0]
    assert 'role="alert"' in box and "Verbindung zu 127.0.0.1:1143 abgelehnt &lt;test&gt;" in box
    assert "3 Versuche in Folge" in box

    with kontor.services.database.session() as session:  # fetched again since: the error is history
        state = session.get(MailboxState, kontor.services.fetcher.mailbox)
        assert state is not None
        state.last_success_at, state.failures = now + timedelta(minutes=1), 0
    _, html = html_page(kontor, "/uebersicht", "eva")
    assert "Postfach: zuletzt abgeholt" in html and 'id="mailbox-error"' not in html


def test_the_overview_says_nothing_about_a_mailbox_when_none_is_set_up(lite: Kontor) -> None:
    status, html = html_page(lite, "/uebersicht", "eva")
    assert status == 200 and "Postfach" not in html
