"""Whole sentences from documents (never cut at "1. Januar" or "z. B."), table rows as readable sentences, and
the parts of the letter that are computed from the mail (topic from the subject, a question's nouns)."""

from __future__ import annotations

import pytest

from assistant.answer.letter import letter_topic, question_topic
from assistant.evaluate.letter_form import letter_problems
from assistant.knowledge.sentences import is_list, readable_list, readable_row, sentences, split_sentences


def test_abbreviations_dates_and_ordinals_stay_inside_their_sentence() -> None:
    text = ("Zwischen dem 24. Dezember und dem 1. Januar sind Werksverkauf, Hotline und Versand geschlossen. "
            "Rufen Sie uns an unter 0561 920 47. Die Hotline ist z. B. am Freitag bis 15:00 Uhr erreichbar. "
            "Ab dem 3. Werktag gilt Nr. 5 bzw. ca. 3 €.")
    assert split_sentences(text) == [
        "Zwischen dem 24. Dezember und dem 1. Januar sind Werksverkauf, Hotline und Versand geschlossen.",
        "Rufen Sie uns an unter 0561 920 47.",
        "Die Hotline ist z. B. am Freitag bis 15:00 Uhr erreichbar.",
        "Ab dem 3. Werktag gilt Nr. 5 bzw. ca. 3 €.",
    ]


def test_markdown_table_rows_become_sentences_with_their_header() -> None:
    text = ("Die Preise:\n\n| Land | Versandkosten | Lieferzeit |\n|---|---|---|\n"
            "| Deutschland | 4,95 € | 1–3 Werktage |\n| Österreich | 5,90 € | 3–5 Werktage |\n\n"
            "Die Kosten gelten pro Bestellung.")
    assert sentences(text) == ["Die Preise:", "Für Deutschland gilt: Versandkosten 4,95 €, Lieferzeit 1–3 Werktage.",
                               "Für Österreich gilt: Versandkosten 5,90 €, Lieferzeit 3–5 Werktage.",
                               "Die Kosten gelten pro Bestellung."]


@pytest.mark.parametrize("row, sentence", [
    ("Österreich – Versandkosten: 5,90 €; Lieferzeit: 3–5 Werktage.",
     "Für Österreich gilt: Versandkosten 5,90 €, Lieferzeit 3–5 Werktage."),
    ("Schweiz – Versandkosten: 14,90 €; Versandkostenfrei ab: keine Versandkostenfreiheit.",
     "Für Schweiz gilt: Versandkosten 14,90 €, keine Versandkostenfreiheit."),
    ("Der Versand kostet 5 €.", "Der Versand kostet 5 €."),
])
def test_loaded_table_rows_read_as_sentences(row: str, sentence: str) -> None:
    assert readable_row(row) == sentence


@pytest.mark.parametrize("subject, topic", [
    ("AW: Re: Versand nach Österreich", "Versand nach Österreich"), ("[#42] Rückgabe?", "Rückgabe"),
    ("<b>Dringend</b>: Frage zum Gutschein", "Dringend: Frage zum Gutschein"), ("Frage", ""), ("???", ""),
    ("x" * 80, ""),
])
def test_the_letter_names_the_subject_cleanly(subject: str, topic: str) -> None:
    assert letter_topic(subject) == topic


def test_a_handed_over_question_is_named_by_its_nouns() -> None:
    assert question_topic("Können Sie die Rechnung an meine neue Adresse schicken?") == "Rechnung und Adresse"
    assert question_topic("Was kostet das?") == ""


LIST_TEXT = """Firmenkunden können direkt bei uns auf Rechnung kaufen.

Es gelten folgende Bedingungen:

- Zahlungsziel: 30 Tage netto ab Rechnungsdatum

- Skonto: 3 % bei Zahlung innerhalb von 10 Tagen

Auf Wunsch fassen wir alle Bestellungen zusammen."""


def test_a_list_with_its_lead_in_is_one_quotable_unit() -> None:
    found = sentences(LIST_TEXT)
    assert len(found) == 3 and is_list(found[1]) and found[1] in LIST_TEXT  # quotable as it stands
    assert readable_list(found[1]) == ("Es gelten folgende Bedingungen:\n- Zahlungsziel: 30 Tage netto ab "
                                       "Rechnungsdatum\n- Skonto: 3 % bei Zahlung innerhalb von 10 Tagen")
    assert readable_list(found[0]) == found[0]  # prose stays prose


def test_list_items_in_a_letter_are_whole_but_a_cut_one_is_not() -> None:
    letter = ("Guten Tag Eva Berg,\n\nEs gelten folgende Bedingungen:\n- Zahlungsziel: 30 Tage netto\n"
              "- Skonto: 3 % bei Zahlung innerhalb von 10 Tagen\n\nMit freundlichen Grüßen\nIhr Kundenservice")
    assert letter_problems(letter) == []
    assert letter_problems(letter.replace("- Skonto", "- bei Zahlung")) != []
