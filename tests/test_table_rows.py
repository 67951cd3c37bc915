"""Which table rows answer a mail (assistant/answer/rows.py): a range that holds the customer's amount, an article
number's row named by its thing, the key's own words; and how such rows read in a letter."""

from __future__ import annotations

import pytest

from assistant.answer import rows
from assistant.knowledge.sentences import readable_row, readable_table

TIERS = "ab 500 € – Rabatt: 5 %.\nab 1.500 € – Rabatt: 8 %.\nab 3.000 € – Rabatt: 12 %."
KNIVES = ("Messer mit glatter Klinge bis 26 cm – Preis: 8,50 €.\n"
          "Messer mit glatter Klinge über 26 cm – Preis: 11,00 €.\nBrotmesser mit Wellenschliff – Preis: 12,00 €.")
PARTS = ("MW2-05 – Ersatzteil: Netzkabel; Preis: 15,50 €.\n"
         "GD-24 – Zubehör oder Ersatzteil: Glasdeckel für Pfanne 24 cm; Preis: 24,90 €.")


def _answering(table: str, query: str, said: str = "") -> list[str]:
    return [row for row in table.split("\n") if rows.key_of(row) and rows.about(row, query, frozenset(), table, said)]


@pytest.mark.parametrize("query, row", [
    ("Wir bestellen für etwa 2.000 € netto. Gibt es Rabatt?", "ab 1.500 € – Rabatt: 8 %."),
    ("Gibt es bei 600 Euro Bestellwert Rabatt?", "ab 500 € – Rabatt: 5 %."),
    ("Rabatt ab 3.000 €?", "ab 3.000 € – Rabatt: 12 %."),
])
def test_of_several_thresholds_the_tightest_that_holds_the_amount_answers(query: str, row: str) -> None:
    assert _answering(TIERS, query) == [row]


def test_no_threshold_answers_an_amount_below_all_or_an_amount_in_another_unit() -> None:
    assert _answering(TIERS, "Gibt es Rabatt für 300 € Bestellwert?") == []
    assert _answering(TIERS, "Wir brauchen 2.000 Stück – gibt es Rabatt?") == []


def test_a_length_finds_its_size_class_also_from_the_rest_of_the_mail() -> None:
    said = "ich habe drei Kochmesser (20–24 cm) und ein Messer mit 30 cm Klinge."
    answering = _answering(KNIVES, "Was würde mich das Schleifen kosten?", said)
    assert answering == KNIVES.split("\n")[:2]  # 20–24 cm: up to 26 cm; 30 cm: over 26 cm; no bread knife
    assert _answering(KNIVES, "Was kostet das Schleifen für 24 cm?") == []  # a length alone names no knife


def test_an_article_numbers_row_is_named_by_its_thing_not_by_what_it_belongs_to() -> None:
    assert _answering(PARTS, "Was kostet ein neues Netzkabel für das Mahlwerk M2?") == [PARTS.split("\n")[0]]
    assert _answering(PARTS, "Meine Pfanne (24 cm) hat Rost, was kann ich tun?") == []
    assert rows.named(PARTS.split("\n")[0], "Kann man das Kabel einzeln kaufen? Netzkabel angeknabbert")


def test_a_row_named_by_its_key_words_and_other_sentences_pass() -> None:
    assert rows.about("Österreich – Versandkosten: 5,90 €.", "Versand nach Österreich?", frozenset())
    assert not rows.about("Schweiz – Versandkosten: 14,90 €.", "Versand nach Österreich?", frozenset())
    assert rows.about("Der Versand kostet 5 €.", "Was kostet der Kochkurs?", frozenset())  # no row: passes


def test_amounts_are_read_the_german_way() -> None:
    assert rows.amounts("etwa 2.000 € netto, 16 Pfannen (28 und 32 cm), 8,50 Euro") == [
        (2000.0, "€"), (16.0, ""), (28.0, "cm"), (32.0, "cm"), (8.5, "€")]


@pytest.mark.parametrize("row, sentence", [
    ("ab 1.500 € – Rabatt: 8 %.", "Ab 1.500 € gilt: Rabatt 8 %."),
    ("MW2-05 – Ersatzteil: Netzkabel; Preis: 15,50 €.", "Ersatzteil Netzkabel (MW2-05): Preis 15,50 €."),
    ("1. Mahnung – Zeitpunkt: 14 Tage nach Fälligkeit; Gebühr: 2,50 €.",
     "1. Mahnung: Zeitpunkt 14 Tage nach Fälligkeit, Gebühr 2,50 €."),
    # a symptom is a statement of its own: "Für Die Maschine … gilt" would be wrong German
    ("Die Maschine bleibt beim Kneten stehen – Mögliche Ursache: Der Überlastschutz hat ausgelöst; Lösung: "
     "Gerät 15 Minuten abkühlen lassen.",
     "Die Maschine bleibt beim Kneten stehen – Mögliche Ursache: Der Überlastschutz hat ausgelöst; Lösung: "
     "Gerät 15 Minuten abkühlen lassen."),
])
def test_rows_read_as_german_sentences(row: str, sentence: str) -> None:
    assert readable_row(row) == sentence


HOURS = ("In unserem Werksverkauf können Sie alles ausprobieren.\n\nMontag – Öffnungszeiten: geschlossen.\n\n"
         "Dienstag bis Freitag – Öffnungszeiten: 10:00–18:00 Uhr.\n\nSamstag – Öffnungszeiten: 10:00–14:00 Uhr.")


def test_a_day_inside_a_span_of_days_names_its_row() -> None:
    assert _answering(HOURS, "Haben Sie am Mittwoch offen?") == [
        "Dienstag bis Freitag – Öffnungszeiten: 10:00–18:00 Uhr."]
    assert _answering(HOURS, "Und montags?") == ["Montag – Öffnungszeiten: geschlossen."]


def test_a_table_asked_about_as_a_whole_is_given_whole_and_reads_as_a_list() -> None:
    [table] = rows.tables(HOURS)
    assert table.startswith("Montag") and table.endswith("14:00 Uhr.") and table in HOURS  # quotable as it stands
    assert rows.asks_whole(table, "Wann hat Ihr Werksverkauf geöffnet?", "Werksverkauf Kassel")
    assert not rows.asks_whole(table, "Haben Sie am Mittwoch offen?", "Werksverkauf Kassel")  # its row answers
    assert not rows.asks_whole(table, "Wann kommt meine Bestellung?", "Werksverkauf Kassel")  # another topic
    assert readable_table(table) == ("Öffnungszeiten:\n- Montag: geschlossen\n- Dienstag bis Freitag: 10:00–18:00 Uhr\n"
                                     "- Samstag: 10:00–14:00 Uhr")
    several = "GD-24 – Artikel: Glasdeckel 24 cm; Preis: 24,90 €.\nGD-28 – Artikel: Glasdeckel 28 cm; Preis: 27,90 €."
    assert not rows.asks_whole(several, "Was kosten Ihre Glasdeckel?", "Glasdeckel")  # read row by row
