"""Remove personal data from a German customer e-mail before it becomes an evaluation case.

Every pattern replaces what it finds with a fixed placeholder ("Frau Muster", "kunde@example.org", …); a
replaced span is hidden from the later patterns until the end, so no pattern mangles another one's output and
running the function twice changes nothing. Prices, dates, durations and product names are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

EMAIL_OUT, PHONE_OUT, IBAN_OUT = "kunde@example.org", "0000 000000", "DE00 0000 0000 0000 0000 00"
NUMBER_OUT, STREET_OUT, CITY_OUT = "XXXXX", "Musterstraße 1", "00000 Musterstadt"
NAME_OUT, SIGNATURE_OUT = "Muster", "Max Muster"

# A capitalised name word, optionally double-barrelled ("Hans-Peter"); a tail without A–Z so "GmbH" is no name.
_LOW = r"[^\W\d_A-ZÄÖÜ]"
NAME = rf"[A-ZÄÖÜ]{_LOW}+(?:-[A-ZÄÖÜ]{_LOW}+)?"
# Academic titles between a salutation and the surname ("Herr Dr. Weber") carry no identity of their own.
TITLES = r"(?:(?:Dr|Prof|Dipl|Ing)\.[ \t]*)*"
# Words that follow "Frau"/"Herr" or a closing formula but are not names ("Ihr Kundenservice").
NOT_A_NAME = r"(?!(?:Sie|Ihnen|Ihr|Ihre|Ihrer|Ihren|Ich|Wir|Es|Das|Der|Die|Und|Team|Kundenservice|Kundendienst)\b)"
# Tokens that a list of names may contain but that would erase ordinary words ("von", "Dr.").
IGNORED_NAME_PARTS = {"dr", "prof", "dipl", "ing", "med", "herr", "herrn", "frau", "familie",
                      "von", "vom", "van", "der", "den", "zu", "zur", "de", "del", "la", "le", "und"}

# Addresses contain names and domains; match them first so nothing else takes a bite out of them.
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# IBAN: two letters, two check digits, 11–30 alphanumerics, optionally in groups of four.
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b")
# Shop codes such as "KL-2026-48213" or "RE-77812": the prefix says what it is, the digits who it is.
CODE = re.compile(r"\b(?!(?:DIN|ISO|EN)-)([A-Z]{2,4})-(?=[\d-]*\d{3})\d[\d-]*\d\b")
# A labelled number ("Bestell-Nr. 1234567", "Kundennummer: 99812"); ≥ 4 digits so "Bestellung 2 Stück"
# and dates survive, and no decimal tail so amounts ("Rechnung 1490,00 €") survive.
LABELLED = re.compile(
    r"\b((?:Bestell|Rechnungs|Kunden|Auftrags|Vorgangs|Reklamations|Sendungs|Reparatur|Ticket|Retouren)"
    r"(?:nummer|-?Nr\.?)|Bestellung|Rechnung|Auftrag|Vorgang|Ticket)([ \t]*(?:[:#]|Nr\.)?[ \t]*)"
    r"(\d[\d/-]{2,}\d)(?!\d|[,.]\d)", re.IGNORECASE)
# Units after a number mean it is a quantity, not a house number, postcode or phone digits ("Rückweg 14 Tage").
_NO_UNIT = r"(?![ \t]*(?:cm|mm|m|kg|g|l|ml|Stück|Tage|Werktage|Wochen|Monate|Jahre|Euro|EUR|€|%)(?!\w))"
# German phone numbers: +49/0049 or a 0-prefixed area code, then digit groups, at least 7 digits; never after
# "," or "." so prices ("149,00") and dates ("01.12.2026") are no phone numbers.
PHONE = re.compile(
    r"(?<![\w+.,/])(?=(?:[ \t/()+-]*\d){7})(?:(?:\+|00)49[ \t]?(?:\(0\)[ \t]?)?\d{2,5}|\(0\d{2,5}\)|0\d{2,5})"
    rf"(?:[ \t]?[/-][ \t]?|[ \t])?\d{{2,}}(?:[ \t-]?\d{{2,}}{_NO_UNIT})*(?:-\d{{1,4}})?(?!\w)")
# Street and house number: "Hauptstr. 5a", "Leipziger Straße 112", "Am Lindenweg 3" (the article goes too).
STREET = re.compile(
    rf"\b(?:(?:Am|An der|Im|In der|Auf dem)[ \t]+)?(?:[A-ZÄÖÜ]{_LOW}+er[ \t]+(?:Straße|Strasse|Str\.|Allee|Weg|Platz)"
    rf"|[A-ZÄÖÜ](?:{_LOW}|-)*(?:straße|strasse|str\.|allee|gasse|weg|platz))"
    rf"[ \t]*\d{{1,4}}(?:[ \t]?[a-z])?\b{_NO_UNIT}")
# Five-digit postcode followed by a town ("34123 Kassel", "60311 Frankfurt am Main").
POSTCODE = re.compile(
    rf"(?<![\d.,])\b\d{{5}}[ \t]+{_NO_UNIT}{NAME}(?:[ \t]+(?:am|an der|im|in der|ob der)[ \t]+{NAME})?")
# "Frau Krüger", "Herr Dr. Weber", "Familie Reuter", "Herrn Jonas Weidemann": a second capitalised word is taken
# too (it may be the surname after a first name; losing a noun is better than leaking a surname).
SALUTATION = re.compile(rf"\b(Frau|Herrn?|Familie)[ \t]+{TITLES}{NOT_A_NAME}({NAME})(?:[ \t]+{NOT_A_NAME}({NAME}))?")
# The name under (or, in one-line mails, after) a closing formula: "Mit freundlichen Grüßen\nSabine Krüger".
CLOSING = r"(?i:mit freundlichen grüßen|(?:freundliche|viele|beste|liebe|herzliche|schöne) grüße|grüße|gruß|mfg|lg|vg)"
SIGNATURE = re.compile(
    rf"(\b{CLOSING}[ \t]*[,!.]?[ \t]*(?:\n[ \t]*)?){TITLES}(?:[A-ZÄÖÜ]\.[ \t]*)?{NOT_A_NAME}"
    rf"({NAME}(?:[ \t]+{NAME}){{0,2}})[ \t]*$", re.MULTILINE)


class _Vault:
    """Holds replaced spans out of sight (as private-use tokens without letters or digits) until the end."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def hide(self, replacement: str) -> str:
        self.items.append(replacement)
        return f"\ue000{chr(0xF0000 + len(self.items) - 1)}\ue001"

    def sub(self, pattern: re.Pattern[str], make: Callable[[re.Match[str]], str], text: str) -> str:
        return pattern.sub(lambda m: self.hide(make(m)), text)

    def reveal(self, text: str) -> str:
        return re.sub("\ue000(.)\ue001", lambda m: self.items[ord(m[1]) - 0xF0000], text)


def name_parts(names: Iterable[str]) -> set[str]:
    """The words of the given names that are worth replacing: no titles, particles or parts under 3 letters."""
    parts = (p.strip(".,") for name in names for p in re.split(r"[\s-]+", name))
    return {p for p in parts if len(p) >= 3 and p.lower() not in IGNORED_NAME_PARTS}


def _words(parts: set[str], flags: int = 0) -> re.Pattern[str] | None:
    """Whole words from ``parts``; a run of them ("Hans-Peter Wilke") is one match, so it becomes one "Muster"."""
    one = "(?:" + "|".join(re.escape(p) for p in sorted(parts, key=len, reverse=True)) + ")"
    return re.compile(rf"(?<!\w){one}(?:[ \t-]+{one})*(?!\w)", flags) if parts else None


def anonymise(text: str, names: Iterable[str] = (), *, keep: Iterable[str] = ()) -> str:
    """Replace personal data in ``text``. ``names`` are known customer names; ``keep`` are strings that must
    survive untouched, matched case-insensitively anywhere (the company's own street, "34123 Kassel", its domain
    "kochwerk-lindner.de" – which keeps every company e-mail address –, its phone prefix). Idempotent."""
    vault, found = _Vault(), set[str]()
    text = text.replace("\ue000", "").replace("\ue001", "")
    for fixed in sorted({k for k in keep if k.strip()}, key=len, reverse=True):
        flexible = r"\s+".join(re.escape(w) for w in fixed.split())
        text = re.sub(flexible, lambda m: vault.hide(m[0]), text, flags=re.IGNORECASE)
    text = vault.sub(EMAIL, lambda m: EMAIL_OUT, text)
    text = vault.sub(IBAN, lambda m: IBAN_OUT, text)
    text = vault.sub(CODE, lambda m: f"{m[1]}-{NUMBER_OUT}", text)
    text = vault.sub(LABELLED, lambda m: f"{m[1]}{m[2]}{NUMBER_OUT}", text)
    text = vault.sub(POSTCODE, lambda m: CITY_OUT, text)
    text = vault.sub(PHONE, lambda m: PHONE_OUT, text)
    text = vault.sub(STREET, lambda m: STREET_OUT, text)

    def salutation(m: re.Match[str]) -> str:
        found.update(n for n in m.groups()[1:] if n)
        return f"{m[1]} {NAME_OUT}"

    def signature(m: re.Match[str]) -> str:
        found.update(m[2].split())
        return f"{m[1]}{SIGNATURE_OUT}"

    text = vault.sub(SALUTATION, salutation, text)
    text = vault.sub(SIGNATURE, signature, text)
    # Given names are matched in any case; names only seen after a salutation keep their capital letter, so
    # "Frau Lange" does not turn every "lange" into "Muster".
    given = name_parts(names)
    for pattern in (_words(given, re.IGNORECASE), _words(name_parts(found) - given - {"Max", NAME_OUT})):
        if pattern is not None:
            text = vault.sub(pattern, lambda m: NAME_OUT, text)
    return vault.reveal(text)
