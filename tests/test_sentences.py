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


def test_the_first_word_of_a_question_is_no_topic() -> None:
    assert question_topic("Geht Express auch an eine Packstation?") == "Express und Packstation"
    assert question_topic("Versandkosten?") == "Versandkosten"
    assert question_topic("Könnt ihr sowas extra anfertigen?") == ""  # a verb before its pronoun, no topic


def test_wrapped_pdf_lines_become_the_sentences_they_print() -> None:
    from assistant.knowledge.loaders import unwrap_lines

    page = ("§ 11 Streitbeilegung\n"
            "Wir sind nicht bereit und nicht verpflichtet, an Streitbeilegungsverfahren vor einer\n"
            "Verbraucherschlichtungsstelle teilzunehmen.\nTrocknen Sie die Pfanne sofort ab, damit sie\n"
            "vollständig trocknet.\n–\nLagern Sie die Pfanne trocken.\nProblem\nLösung")
    assert unwrap_lines(page).split("\n") == [
        "§ 11 Streitbeilegung",
        "Wir sind nicht bereit und nicht verpflichtet, an Streitbeilegungsverfahren vor einer "
        "Verbraucherschlichtungsstelle teilzunehmen.",
        "Trocknen Sie die Pfanne sofort ab, damit sie vollständig trocknet.",
        "– Lagern Sie die Pfanne trocken.", "Problem", "Lösung"]


def test_a_letter_carries_statements_not_the_documents_own_questions_or_bare_yes() -> None:
    from assistant.answer.question import _standalone, _usable

    assert not _usable("Sie suchen ein Geschenk für jemanden, der gern kocht und backt?")
    assert not _usable("Ja, solange Ihre Bestellung noch nicht an den Versand übergeben wurde.")
    faq = "Nein, Sonderrabatte für einzelne Personengruppen bieten wir nicht an."
    assert _usable(faq)
    assert _standalone(faq) == "Sonderrabatte für einzelne Personengruppen bieten wir nicht an."


def test_another_countrys_answer_and_a_second_price_are_left_out() -> None:
    from assistant.answer.question import _other_country, _two_prices, countries
    from assistant.domain import SearchHit

    places = countries("Lieferung nach Tirol\n\nMaria-Theresien-Straße 18 | 6020 Innsbruck | Österreich")
    assert places == {"Österreich"}
    assert _other_country("Die Frachtkosten für eine Palette innerhalb Deutschlands betragen 95,00 €.", places)
    assert not _other_country("Für Palettenlieferungen nach Österreich und in die Schweiz gibt es ein Angebot.", places)
    assert not _other_country("Die Frachtkosten betragen 95,00 €.", frozenset())
    assert countries("Tel. +41 44 123 45 67") == {"Schweiz"}

    def hit(chunk: str, text: str) -> SearchHit:
        return SearchHit(chunk_id=chunk, source="a.md", title="A", section="", page=None, text=text, score=1.0,
                         rank=1)

    logo = "Für die Einrichtung berechnen wir einmalig 49,00 €, für die Gravur 3,50 € pro Stück."
    private = "Die Gravur kostet 11,50 € pro Messer."
    question = "Was kostet die Gravur?"
    assert _two_prices((hit("b", private), private, 0.0), [(hit("a", logo), logo, 1.0)], question)
    assert not _two_prices((hit("a", private), private, 0.0), [(hit("a", logo), logo, 1.0)], question)
    express = "Der Expresszuschlag beträgt 9,90 €."
    assert not _two_prices((hit("b", express), express, 0.0), [(hit("a", logo), logo, 1.0)],
                           "Was kostet die Gravur und was kostet Express?")


def test_items_without_their_lead_in_are_no_answer_but_whole_sentences_are() -> None:
    from assistant.answer.question import _usable

    assert not _usable("Risse und Brüche im Guss\n- Verzug des Pfannenbodens um mehr als 1 mm\n- Lunker")
    assert _usable("Die Garantie umfasst:\n- Risse und Brüche im Guss\n- Verzug des Pfannenbodens um mehr als 1 mm")
    assert _usable("Reinigen Sie die Pfanne warm.\n– Verwenden Sie kein Spülmittel. Ein Tropfen schadet nicht.")


def test_a_sentence_that_leans_on_the_one_before_brings_it_along() -> None:
    from assistant.answer.question import _with_antecedents
    from assistant.domain import SearchHit

    text = ("Nach fünf Fehlversuchen wird Ihr Konto für 30 Minuten gesperrt. Danach können Sie sich wieder anmelden. "
            "Der Link ist 24 Stunden gültig.")
    hit = SearchHit(chunk_id="a", source="a.md", title="A", text=text, score=1.0, rank=1)
    chosen = _with_antecedents([(hit, "Danach können Sie sich wieder anmelden.", 1.0),
                                (hit, "Der Link ist 24 Stunden gültig.", 0.9)], set())
    assert [c[1] for c in chosen] == ["Nach fünf Fehlversuchen wird Ihr Konto für 30 Minuten gesperrt.",
                                      "Danach können Sie sich wieder anmelden.", "Der Link ist 24 Stunden gültig."]
    first = SearchHit(chunk_id="b", source="a.md", title="A", text="Danach können Sie sich wieder anmelden.",
                      score=1.0, rank=1)  # its antecedent is in another chunk: left out …
    assert _with_antecedents([(first, "Danach können Sie sich wieder anmelden.", 1.0),
                              (hit, "Der Link ist 24 Stunden gültig.", 0.9)], set()) == [
        (hit, "Der Link ist 24 Stunden gültig.", 0.9)]
    # … also when it is all there is: "Dann schreiben Sie uns gern an service@…" without its "if" is no answer to
    # "Was kostet der [Schnellkochtopf]?" (answer-010 got it), so the question is handed over
    assert _with_antecedents([(first, "Danach können Sie sich wieder anmelden.", 1.0)], set()) == []


def test_what_a_sentence_introduces_is_brought_along_where_the_next_takes_it_up() -> None:
    from assistant.answer.question import _with_antecedents
    from assistant.domain import SearchHit

    text = ("Wir berechnen eine Prüfpauschale von 29,00 €. Wenn Sie die Reparatur beauftragen, wird die "
            "Prüfpauschale mit dem Reparaturpreis verrechnet. Die Reparaturdauer beträgt 7–10 Werktage.")
    hit = SearchHit(chunk_id="a", source="a.md", title="A", text=text, score=1.0, rank=1)
    chosen = _with_antecedents([(hit, "Wir berechnen eine Prüfpauschale von 29,00 €.", 1.0)], set())
    assert "Wenn Sie die Reparatur beauftragen, wird die Prüfpauschale mit dem Reparaturpreis verrechnet." in [
        c[1] for c in chosen]
    assert "Die Reparaturdauer beträgt 7–10 Werktage." not in [c[1] for c in chosen]  # takes nothing up


def test_a_city_names_its_country() -> None:
    from assistant.answer.places import countries

    assert countries("ich wohne in Zürich") == {"Schweiz"}
    assert countries("Lieferung nach Tirol, 6020 Innsbruck") == {"Österreich"}
    assert countries("Was kostet der Versand?") == frozenset()


def test_a_contact_card_is_one_unit_and_reads_as_lines() -> None:
    """Name, phone and e-mail on lines of their own (a DOCX contact block) have no full stop: split into lines they
    were never usable, and the question "Wer ist Ihr Ansprechpartner?" got no name."""
    from assistant.answer.question import _readable, _usable

    text = ("Markus Albers, Vertrieb Firmenkunden\nTelefon: 0561 920 47-60\nE-Mail: b2b@kochwerk-lindner.de\n"
            "Auf Anfragen antworten wir innerhalb von 2 Werktagen.")
    card, sentence = sentences(text)
    assert card == "Markus Albers, Vertrieb Firmenkunden\nTelefon: 0561 920 47-60\nE-Mail: b2b@kochwerk-lindner.de"
    assert sentence == "Auf Anfragen antworten wir innerhalb von 2 Werktagen." and _usable(card)
    assert _readable(card) == ("- Markus Albers, Vertrieb Firmenkunden\n- Telefon: 0561 920 47-60\n"
                               "- E-Mail: b2b@kochwerk-lindner.de")
    # headings without a phone or an address stay what they were
    assert sentences("UEBER UNS\nUnser Sortiment\nWir sind ein Familienbetrieb.") == [
        "UEBER UNS", "Unser Sortiment", "Wir sind ein Familienbetrieb."]


def test_an_faq_yes_says_its_question_as_a_statement() -> None:
    """"Ja, solange …" alone was dropped (its yes belongs to the FAQ heading the customer never sees): the cancelling
    question got a hand-over although the FAQ answers it."""
    from assistant.answer.question import _affirmed

    section = "Bestellung und Einkauf › Kann ich meine Bestellung nachträglich ändern oder stornieren?"
    assert _affirmed("Ja, solange Ihre Bestellung noch nicht an den Versand übergeben wurde.", section) == (
        "Sie können Ihre Bestellung nachträglich ändern oder stornieren, solange Ihre Bestellung noch nicht an den "
        "Versand übergeben wurde.")
    assert _affirmed("Ja, wenn sie bei uns gekauft wurden.", "FAQ › Kann man Ihre Messer schleifen lassen?") == (
        "Man kann unsere Messer schleifen lassen, wenn sie bei uns gekauft wurden.")
    assert _affirmed("Ja, solange Vorrat reicht.", "FAQ › Wie lange dauert der Versand?") is None  # no yes/no question
    assert _affirmed("Nein, solange nichts bezahlt ist.", section) is None
