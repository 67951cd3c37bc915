"""Proven answers learned from approvals (assistant/answer/learning.py) and reused per question
(assistant/answer/proven.py): through the real JSON API and workflow, with the scripted fakes."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from assistant import privacy
from assistant.answer.proven import ProvenIndex, stands_alone
from assistant.knowledge.catalogue import Catalogue
from assistant.store.tables import AuditEntry
from tests.fakes import FakeEmbedder
from tests.harness import Kontor

TWO_QUESTIONS = {
    "customer": "Renate Köhler <r.koehler@example.de>", "subject": "Bestellung nach Österreich",
    "body": "Guten Tag,\n\nwas kostet der Versand nach Österreich und wie lange dauert er? Kann ich die Bestellung "
            "per PayPal oder auf Rechnung bezahlen?\nVerkaufen Sie auch Fahrräder mit Elektromotor?\n\n"
            "Viele Grüße\nRenate Köhler",
}
PAYMENT = "Sie können per PayPal, Kreditkarte oder auf Rechnung bezahlen."
SHIPPING = "Der Versand nach Österreich kostet 5,90 € und dauert 3–5 Werktage."


@pytest.fixture
def lite(tmp_path: Path, knowledge: Path) -> Kontor:
    # the fake embedder is a bag of words: a paraphrase with one word more scores ~0.9, not e5's 0.95+
    return Kontor(tmp_path, knowledge, proven_threshold=0.85)


def _approve(kontor: Kontor, draft: dict[str, Any], text: str | None = None) -> None:
    if text is not None:
        assert kontor.call("PUT", f"/api/drafts/{draft['id']}", json={"text": text}).status_code == 200
    assert kontor.call("POST", f"/api/drafts/{draft['id']}/approve").status_code == 200


def _learned(kontor: Kontor) -> list[tuple[str, str]]:
    return [(p.question, p.answer) for p in kontor.services.catalogue.proven_answers()]


def test_an_approved_two_question_draft_teaches_both_answers_and_not_the_hand_over(lite: Kontor) -> None:
    ticket = lite.drafted_ticket(TWO_QUESTIONS)
    draft = ticket["draft"]
    assert [s["handover"] for s in draft["sections"]] == [False, False, True]
    _approve(lite, draft)
    [shipping, payment] = lite.services.catalogue.proven_answers()
    assert (shipping.question, shipping.answer) == (
        "was kostet der Versand nach Österreich und wie lange dauert er?", SHIPPING)
    assert (payment.question, payment.answer) == ("Kann ich die Bestellung per PayPal oder auf Rechnung bezahlen?",
                                                  PAYMENT)
    assert {p.ticket_id for p in (shipping, payment)} == {ticket["id"]}
    assert {p.draft_id for p in (shipping, payment)} == {draft["id"]} and payment.approved_by == "anna"
    assert payment.country_set() == {"Österreich"}
    [citation] = json.loads(payment.citations)
    assert citation["n"] == 1 and citation["source"] == "zahlung.md" and citation["quote"] in PAYMENT
    assert all("Fahrräder" not in p.question for p in (shipping, payment))  # the hand-over teaches nothing

    [entry] = [e for e in lite.audit(ticket["id"]) if e["action"] == "proven_learned"]
    assert entry["actor"] == "anna" and entry["detail"]["proven"] == [shipping.id, payment.id]
    assert entry["detail"]["skipped"] == {"handover": 1} and len(entry["detail"]["answer_sha256"]) == 2
    assert "PayPal" not in json.dumps(entry) and "Österreich" not in json.dumps(entry)  # ids and hashes only


def test_a_paraphrase_in_a_new_ticket_gets_the_proven_paragraph_while_the_other_question_is_drafted(
    lite: Kontor,
) -> None:
    first = lite.drafted_ticket(TWO_QUESTIONS)
    _approve(lite, first["draft"])
    payment = next(p for p in lite.services.catalogue.proven_answers() if "PayPal" in p.question)
    second = lite.drafted_ticket({
        "customer": "Max Brandl <max@example.at>", "subject": "Bestellung nach Österreich",
        "body": "Hallo,\n\nkann ich meine Bestellung mit PayPal oder auf Rechnung bezahlen? Und bis wann verlassen "
                "Bestellungen noch am selben Tag das Lager?\n\nGruß\nMax Brandl",
    })["draft"]
    proven, drafted = second["sections"]
    assert proven["method"] == "proven" and proven["text"] == PAYMENT and proven["citations"] == [1]
    assert drafted["method"] == "extractive" and "14 Uhr" in drafted["text"]
    assert f"\n{PAYMENT}\n" in second["text"] and "14 Uhr" in second["text"]
    assert f"Bewährte Antwort Nr. {payment.id} (gelernt aus Ticket {first['id']}), freigegeben von anna." \
        in second["notes"]
    assert second["citations"][0]["source"] == "zahlung.md"  # the agent sees the source beside the paragraph


def test_a_rejected_draft_teaches_nothing_and_a_reject_after_approval_withdraws(lite: Kontor) -> None:
    rejected = lite.drafted_ticket(TWO_QUESTIONS)["draft"]
    assert lite.call("POST", f"/api/drafts/{rejected['id']}/reject").status_code == 200
    assert _learned(lite) == []
    _approve(lite, rejected, rejected["text"].replace("Ihr Kundenservice", "Anna Berger"))  # written by hand
    assert _learned(lite) == []  # a rejected draft never teaches, not even through the text that replaced it

    ticket = lite.drafted_ticket({**TWO_QUESTIONS, "customer": "Eva Winter <eva@example.de>"})
    _approve(lite, ticket["draft"])
    assert len(_learned(lite)) == 2
    assert lite.call("POST", f"/api/drafts/{ticket['draft']['id']}/reject").status_code == 200
    assert _learned(lite) == []
    actions = [e["action"] for e in lite.audit(ticket["id"])]
    assert actions[-3:] == ["proven_learned", "proven_withdrawn", "rejected"]


def test_the_edited_paragraph_is_learned_as_approved_and_a_removed_one_not_at_all(lite: Kontor) -> None:
    draft = lite.drafted_ticket(TWO_QUESTIONS)["draft"]
    edited = "Sie können bei uns bequem per PayPal, Kreditkarte oder auf Rechnung (bis 1.500 €) bezahlen."
    text = draft["text"].replace(PAYMENT, edited).replace(f"{SHIPPING}\n\n", "")
    _approve(lite, draft, text)
    assert _learned(lite) == [("Kann ich die Bestellung per PayPal oder auf Rechnung bezahlen?", edited)]


def test_an_edit_after_approval_withdraws_and_the_next_approval_learns_the_new_text(lite: Kontor) -> None:
    draft = lite.drafted_ticket(TWO_QUESTIONS)["draft"]
    _approve(lite, draft)
    edited = "Bei uns zahlen Sie per PayPal, Kreditkarte oder auf Rechnung."
    _approve(lite, draft, draft["text"].replace(PAYMENT, edited))
    assert sorted(answer for _, answer in _learned(lite)) == [edited, SHIPPING]


def test_a_paragraph_with_personal_data_from_the_ticket_is_not_learned(
    lite: Kontor, caplog: pytest.LogCaptureFixture,
) -> None:
    draft = lite.drafted_ticket(TWO_QUESTIONS)["draft"]
    named = "Frau Köhler, Sie können per PayPal, Kreditkarte oder auf Rechnung bezahlen."
    with caplog.at_level(logging.INFO, logger="kontor.proven"):
        _approve(lite, draft, draft["text"].replace(PAYMENT, named))
    assert _learned(lite) == [("was kostet der Versand nach Österreich und wie lange dauert er?", SHIPPING)]
    [line] = [r.getMessage() for r in caplog.records if "personal data" in r.getMessage()]
    assert "(name)" in line and "Köhler" not in line  # the log says why, without the data


@pytest.mark.parametrize("extra", [
    "Ihre Zahlung erreicht uns unter r.koehler@example.de.",  # an address
    "Ihre Kundennummer 88412 haben wir vermerkt.",  # a number from the mail, not from the documents
])
def test_an_address_or_a_number_from_the_mail_is_not_learned(lite: Kontor, extra: str) -> None:
    body = TWO_QUESTIONS["body"].replace("Viele Grüße", "Kundennummer 88412\n\nViele Grüße")
    ticket = {**TWO_QUESTIONS, "body": body}
    draft = lite.drafted_ticket(ticket)["draft"]
    _approve(lite, draft, draft["text"].replace(PAYMENT, f"{PAYMENT} {extra}"))
    assert [answer for _, answer in _learned(lite)] == [SHIPPING]


def test_the_same_answer_to_the_same_question_is_stored_once(lite: Kontor) -> None:
    drafts = [lite.drafted_ticket({**TWO_QUESTIONS, "customer": customer})["draft"]  # both before any approval
              for customer in ("Eva Winter <eva@example.de>", "Jonas Berg <jonas@example.de>")]
    for draft in drafts:
        _approve(lite, draft)
    assert len(_learned(lite)) == 2 and {p.ticket_id for p in lite.services.catalogue.proven_answers()} == {
        drafts[0]["ticket_id"]}


def test_a_proven_paragraph_approved_unchanged_teaches_nothing_new(lite: Kontor) -> None:
    _approve(lite, lite.drafted_ticket(TWO_QUESTIONS)["draft"])
    again = lite.drafted_ticket({**TWO_QUESTIONS, "customer": "Eva Winter <eva@example.de>"})
    assert [s["method"] for s in again["draft"]["sections"]] == ["proven", "proven", "handover"]
    _approve(lite, again["draft"])
    assert len(_learned(lite)) == 2
    assert "proven_learned" not in [e["action"] for e in lite.audit(again["id"])]


def test_erasing_the_customer_removes_the_answers_learned_from_their_tickets(lite: Kontor) -> None:
    _approve(lite, lite.drafted_ticket(TWO_QUESTIONS)["draft"])
    other = {"customer": "Eva Winter <eva@example.de>", "subject": "Lieferung",
             "body": "Guten Tag,\n\nbis wann verlassen Bestellungen noch am selben Tag das Lager?\n\nEva Winter"}
    _approve(lite, lite.drafted_ticket(other)["draft"])
    assert len(_learned(lite)) == 3
    parts = lite.services.privacy_parts()
    found = privacy.find_customer(parts, "r.koehler@example.de")
    assert len(found.proven) == 2
    assert privacy.erase_customer(parts, "r.koehler@example.de", actor="adam").proven == 2
    assert [question for question, _ in _learned(lite)] == [
        "bis wann verlassen Bestellungen noch am selben Tag das Lager?"]
    with lite.services.database.session() as session:
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "customer_erased")) is not None


# --- reuse: only where it cannot be the wrong answer -------------------------------------------------------------

@pytest.fixture
def index(tmp_path: Path) -> ProvenIndex:
    return ProvenIndex(Catalogue(tmp_path / "catalogue.sqlite"), FakeEmbedder())


def _match(index: ProvenIndex, question: str, places: frozenset[str] = frozenset()) -> int | None:
    found = index.match(question, None, places, 0.85)
    return found[0].id if found else None


def test_a_question_that_points_back_into_its_mail_is_never_reused(index: ProvenIndex) -> None:
    index.catalogue.add_proven("Was kostet das?", "Der Kochkurs kostet 89 €.", "[]", "anna")
    assert _match(index, "Was kostet das?") is None
    assert not stands_alone("Gibt es dafür einen Mengenrabatt?")
    assert stands_alone("Kann ich die Rechnung mit PayPal bezahlen?")


def test_other_numbers_or_countries_are_another_question(index: ProvenIndex) -> None:
    pan = index.catalogue.add_proven("Passt der Deckel auf die Pfanne mit 28 cm?", "Ja.", "[]", "anna")
    austria = index.catalogue.add_proven("Wie lange dauert die Lieferung zu mir?", "3–5 Werktage.", "[]", "anna",
                                         countries=frozenset({"Österreich"}))
    assert _match(index, "Passt der Deckel auf die Pfanne mit 28 cm?") == pan
    assert _match(index, "Passt der Deckel auf die Pfanne mit 24 cm?") is None
    assert _match(index, "Wie lange dauert die Lieferung zu mir?", frozenset({"Österreich"})) == austria
    assert _match(index, "Wie lange dauert die Lieferung zu mir?", frozenset({"Schweiz"})) is None
    assert _match(index, "Wie lange dauert die Lieferung zu mir?", frozenset({"Deutschland"})) is None


def test_a_word_the_documents_use_in_one_question_only_makes_it_another_question(index: ProvenIndex) -> None:
    index.known = lambda term: term in {"samstag", "sonntag", "geoffn", "brotmess", "mess", "schleif"}
    saturday = index.catalogue.add_proven("Wann haben Sie samstags geöffnet?", "9 bis 14 Uhr.", "[]", "anna")
    knife = index.catalogue.add_proven("Könnt ihr auch mein Brotmesser schleifen?", "Ja, für 12 €.", "[]", "anna")
    anything = 0.0  # the similarity aside: the words decide here
    assert index.match("Wann haben Sie eigentlich samstags geöffnet?", None, frozenset(), anything)[0].id == saturday
    assert index.match("Wann haben Sie sonntags geöffnet?", None, frozenset(), anything) is None
    assert index.match("Könnt ihr auch mein Brotmesser schleifen?", None, frozenset(), anything)[0].id == knife
    # "Keramikmesser" is no word of the documents, but it holds one ("Messer"): another knife, another answer
    assert index.match("Könnt ihr auch mein Keramikmesser schleifen?", None, frozenset(), anything) is None


def test_an_old_catalogue_gets_the_new_columns_and_keeps_its_answers(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE proven_answers (id INTEGER PRIMARY KEY AUTOINCREMENT, question TEXT NOT NULL, "
                   "answer TEXT NOT NULL, citations TEXT NOT NULL, approved_by TEXT NOT NULL, "
                   "created_at TEXT NOT NULL)")
        db.execute("INSERT INTO proven_answers(question, answer, citations, approved_by, created_at) "
                   "VALUES ('Gibt es Geschenkgutscheine?', 'Ja, ab 10 €.', '[]', 'cli', '2026-01-01T00:00:00')")
    catalogue = Catalogue(path)
    [old] = catalogue.proven_answers()
    assert (old.question, old.ticket_id, old.draft_id, old.country_set()) == (
        "Gibt es Geschenkgutscheine?", None, None, frozenset())
    new = catalogue.add_proven("Wie lange gilt ein Gutschein?", "Drei Jahre.", "[]", "anna", ticket_id=7, draft_id=9)
    assert new is not None and catalogue.proven_of(tickets=[7]) == [new] == catalogue.proven_of(drafts=[9])


def test_proven_answers_are_listed_and_removed_on_the_command_line(tmp_path: Path) -> None:
    from tests.kontor_cli import kontor

    env = {"KONTOR_HOME": str(tmp_path / "cli-home")}
    added = kontor(env, "proven", "add", "--question", "Gibt es Geschenkgutscheine?", "--answer", "Ja, ab 10 €.")
    assert added.code == 0 and "Nr. 1" in added.stdout
    again = kontor(env, "proven", "add", "--question", "Gibt es Geschenkgutscheine?", "--answer", "Ja, ab 10 €.")
    assert again.code == 0 and "schon hinterlegt" in again.stdout
    [listed] = json.loads(kontor(env, "proven", "list", "--json").stdout)
    assert listed["question"] == "Gibt es Geschenkgutscheine?" and listed["ticket_id"] is None
    assert kontor(env, "proven", "remove", "7").code != 0  # unknown number: nothing removed
    removed = kontor(env, "proven", "remove", "1")
    assert removed.code == 0 and "1 bewährte Antwort(en) gelöscht" in removed.stdout
    assert json.loads(kontor(env, "proven", "list", "--json").stdout) == []
