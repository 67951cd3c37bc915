"""The anonymiser removes personal data from German customer e-mails and leaves ordinary content alone."""

from __future__ import annotations

import pytest

from assistant.evaluate.anonymise import (
    CITY_OUT,
    EMAIL_OUT,
    IBAN_OUT,
    PHONE_OUT,
    STREET_OUT,
    anonymise,
    name_parts,
)

COMPANY = ["Kochwerk Lindner GmbH", "Leipziger Straße 112", "34123 Kassel", "kochwerk-lindner.de", "0561 920 47"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Schreiben Sie an erika.mustermann@web.de.", f"Schreiben Sie an {EMAIL_OUT}."),
        ("Mail: h-p.wilke+shop@mail.example.co.uk", f"Mail: {EMAIL_OUT}"),
        ("Tel. +49 561 123456", f"Tel. {PHONE_OUT}"),
        ("Tel.: 0561/123456", f"Tel.: {PHONE_OUT}"),
        ("mobil 0171 2345678 erreichbar", f"mobil {PHONE_OUT} erreichbar"),
        ("unter 0171 2345678 14 Tage lang", f"unter {PHONE_OUT} 14 Tage lang"),
        ("Büro (0561) 12 34 56", f"Büro {PHONE_OUT}"),
        ("Fax 0049 561 998877-12", f"Fax {PHONE_OUT}"),
        ("Rufnummer +49 (0) 171 2345678.", f"Rufnummer {PHONE_OUT}."),
        ("IBAN: DE02 1203 0000 0000 2020 51", f"IBAN: {IBAN_OUT}"),
        ("IBAN DE02120300000000202051 bitte", f"IBAN {IBAN_OUT} bitte"),
        ("Konto AT61 1904 3002 3457 3201", f"Konto {IBAN_OUT}"),
        ("meine Bestellung KL-2026-48213 ist", "meine Bestellung KL-XXXXX ist"),
        ("Rechnung RE-77812", "Rechnung RE-XXXXX"),
        ("Bestellnummer 48213", "Bestellnummer XXXXX"),
        ("Bestell-Nr. 1234567", "Bestell-Nr. XXXXX"),
        ("Kundennummer: 99812", "Kundennummer: XXXXX"),
        ("Rechnungsnummer 2026-0042", "Rechnungsnummer XXXXX"),
        ("zu Auftrag 778812", "zu Auftrag XXXXX"),
        ("Sehr geehrte Frau Lange,", "Sehr geehrte Frau Muster,"),
        ("Hallo Herr Dr. Weber, danke.", "Hallo Herr Muster, danke."),
        ("Frau Krüger hat angerufen.", "Frau Muster hat angerufen."),
        ("Hallo Familie Reuter!", "Hallo Familie Muster!"),
        ("an Herrn Jonas Weidemann von der Firma", "an Herrn Muster von der Firma"),
        ("Mit freundlichen Grüßen\nSabine Krüger", "Mit freundlichen Grüßen\nMax Muster"),
        ("Viele Grüße\n  Ayşe Demir\n", "Viele Grüße\n  Max Muster\n"),
        ("Mit freundlichen Grüßen, Dr. Hans-Peter Wilke", "Mit freundlichen Grüßen, Max Muster"),
        ("Ich wohne Hauptstr. 5a in 34123 Kassel.", f"Ich wohne {STREET_OUT} in {CITY_OUT}."),
        ("Lieferadresse: Am Lindenweg 3, 60311 Frankfurt am Main", f"Lieferadresse: {STREET_OUT}, {CITY_OUT}"),
    ],
)
def test_replaces_personal_data(text: str, expected: str) -> None:
    assert anonymise(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Der Versand kostet 5,90 €, die Pfanne 149,00 € und die Lieferung 1.249,00 €.",
        "Bestellt am 12.11., geliefert am 20.11.2026, Rechnung vom 01.12.2026 um 08:30 Uhr.",
        "Sie haben 14 Tage Widerrufsrecht; die Lieferzeit beträgt 3–5 Werktage, bei Sperrgut 10-14 Tage.",
        "Das Rührwerk R5 und das Mahlwerk M2 passen zur Gusseisenpfanne 28 cm (2,4 kg).",
        "Meine Bestellung 2 Stück, Rechnung über 1490,00 € – Rückweg 14 Tage, 5-Jahres-Garantie, DIN-1234.",
        "Wie lange dauert es noch? Sehr geehrte Damen und Herren, es geht um 12000 Euro.",
        "Mit freundlichen Grüßen\nIhr Kundenservice\nKochwerk Lindner GmbH",
        "Grüße aus Köln: Äpfel, Öl, Übermaß, Straße – 5,90 € pro Paket.",
    ],
)
def test_leaves_ordinary_content_alone(text: str) -> None:
    assert anonymise(text) == text


def test_company_address_survives_when_kept() -> None:
    text = (
        "Bitte senden Sie den Widerruf an: Kochwerk Lindner GmbH, Leipziger Straße 112, 34123 Kassel,\n"
        "per E-Mail an service@kochwerk-lindner.de oder datenschutz@kochwerk-lindner.de, Hotline 0561 920 47-0."
    )
    assert anonymise(text, keep=COMPANY) == text
    customer = anonymise(text + " Absender: Hauptstr. 5, 10115 Berlin, sabine@web.de", keep=COMPANY)
    assert customer.endswith(f"Absender: {STREET_OUT}, {CITY_OUT}, {EMAIL_OUT}")
    assert "Leipziger Straße 112, 34123 Kassel" in customer


def test_given_names_are_replaced_everywhere_case_insensitively() -> None:
    text = "Ich, erika MUSTERMANN, und mein Mann Hans-Peter Wilke; Wilke-Weg ist kein Name. Erikas Buch bleibt."
    out = anonymise(text, names=["Erika Mustermann", "Dr. Hans-Peter Wilke"])
    assert out == "Ich, Muster, und mein Mann Muster; Muster-Weg ist kein Name. Erikas Buch bleibt."


def test_name_parts_ignore_titles_particles_and_short_parts() -> None:
    assert name_parts(["Dr. Hans-Peter Wilke", "Frau Li Ng", "Prof. Ulrich von Stein", ""]) == {
        "Hans", "Peter", "Wilke", "Ulrich", "Stein"
    }


def test_names_seen_after_a_salutation_are_removed_elsewhere_but_keep_case() -> None:
    text = "Sehr geehrte Frau Lange,\nwie lange dauert es? Lange wartet seit Montag."
    assert anonymise(text) == "Sehr geehrte Frau Muster,\nwie lange dauert es? Muster wartet seit Montag."


WHOLE_MAIL = """Betreff: Reklamation Bestellung KL-2026-48213

Sehr geehrte Damen und Herren,

am 12.11. habe ich bei Ihnen die Gusseisenpfanne 28 cm für 149,00 € bestellt (Kundennummer: 99812).
Geliefert wurde sie am 20.11.2026 an Leipziger Str. 7, 04109 Leipzig – mit einem Riss im Boden.
Ihr Kollege Herr Brandt sagte am Telefon, ich solle die Pfanne zurückschicken. Die Erstattung bitte auf
DE02 1203 0000 0000 2020 51. Sie erreichen mich unter 0171 2345678 oder sabine.krueger@gmx.de.
Wie lange dauert die Erstattung? Laut Ihrer Seite 3–5 Werktage, der Versand kostete 5,90 €.

Mit freundlichen Grüßen
Sabine Krüger
"""

WHOLE_MAIL_ANONYMISED = """Betreff: Reklamation Bestellung KL-XXXXX

Sehr geehrte Damen und Herren,

am 12.11. habe ich bei Ihnen die Gusseisenpfanne 28 cm für 149,00 € bestellt (Kundennummer: XXXXX).
Geliefert wurde sie am 20.11.2026 an Musterstraße 1, 00000 Musterstadt – mit einem Riss im Boden.
Ihr Kollege Herr Muster sagte am Telefon, ich solle die Pfanne zurückschicken. Die Erstattung bitte auf
DE00 0000 0000 0000 0000 00. Sie erreichen mich unter 0000 000000 oder kunde@example.org.
Wie lange dauert die Erstattung? Laut Ihrer Seite 3–5 Werktage, der Versand kostete 5,90 €.

Mit freundlichen Grüßen
Max Muster
"""


def test_whole_email() -> None:
    out = anonymise(WHOLE_MAIL, names=["Sabine Krüger"], keep=COMPANY)
    assert out == WHOLE_MAIL_ANONYMISED
    for secret in ("48213", "99812", "Krüger", "2020 51", "2345678", "gmx", "04109", "Brandt"):
        assert secret not in out


@pytest.mark.parametrize(
    "text",
    [
        WHOLE_MAIL,
        "Frau erika mustermann, Erika Mustermann, Herr Mustermann und Frau Dr. Erika Mustermann-Schulz.",
        "Bestellnummer 48213, KL-2026-48213, 0561 123456, 34123 Kassel, Hauptstr. 5, DE02120300000000202051",
        "Viele Grüße\nMax Mustermann",
    ],
)
def test_idempotent(text: str) -> None:
    for options in ({}, {"names": ["Erika Mustermann", "Sabine Krüger"], "keep": COMPANY}):
        once = anonymise(text, **options)
        assert anonymise(once, **options) == once


def test_placeholder_characters_in_the_input_cannot_smuggle_text() -> None:
    assert anonymise("a\ue000\U000f0000\ue001b 0561 123456") == f"a\U000f0000b {PHONE_OUT}"
