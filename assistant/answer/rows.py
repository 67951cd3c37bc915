"""Which rows of a table answer a mail, read as a person reads a price list.

A row answers only a mail that names it: its key ("Österreich", "Brotmesser mit Wellenschliff"), a range of its key
that holds the customer's amount ("ab 1.500 €" for an order of about 2.000 €, "bis 26 cm" for a 24-cm knife), or —
when the key is only an article number — what its values name ("MW2-05 – Ersatzteil: Netzkabel; Preis: 15,50 €"
for "Was kostet ein neues Netzkabel?"). Any other row is another thing's price, and no answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.knowledge.sentences import ARTICLE_NUMBER, LOADED_ROW, VALUE_HEADERS
from assistant.knowledge.text import content_terms, numbers

_NUMBER = r"\d{1,3}(?:\.\d{3})+(?:,\d+)?|\d+(?:,\d+)?"  # German: 1.500 / 8,50 / 26
_UNIT = r"€|Euro|EUR|cm|mm|kg|g|Liter|l|ml|%|Stück|Personen|Watt|W"
_BOUND = re.compile(rf"(?i)(?<!\w)(ab|bis|über|unter|mehr als|weniger als)\s+({_NUMBER})\s?({_UNIT})?(?!\w)")
_SPAN = re.compile(rf"(?<![\w.,])({_NUMBER})\s?[–-]\s?({_NUMBER})\s?({_UNIT})?(?!\w)")
_AMOUNT = re.compile(rf"(?<![\w.,])({_NUMBER})(?:\s?(?:[–-]|bis|und|oder)\s?({_NUMBER}))?\s?({_UNIT})?(?!\w)")
# A row whose key is a range reads "ab 500 € – Rabatt: 5 %.": a whole statement despite its lower-case start
RANGE_START = re.compile(rf"^(?:ab|bis|über|unter)\s+(?:{_NUMBER})")


@dataclass(frozen=True)
class Range:
    low: float | None  # None: open below
    high: float | None  # None: open above
    unit: str  # "" when the key names none
    kind: str  # "ab", "bis", "über", "unter", "span"


# The start of a row, also of one whose last value runs on ("…; Lösung: Auf Stufe 1–2 kneten; Saugfüße reinigen.")
_ROW_START = re.compile(r"^([^–:;]{2,80}) – [^:;]{2,40}: ")


def key_of(row: str) -> str | None:
    match = LOADED_ROW.match(row.strip()) or _ROW_START.match(row.strip())
    return match.group(1).strip() if match else None


def is_property(row: str) -> bool:
    """A data sheet's row: a property and its value ("Leistung – Wert: 1.200 Watt."); it answers a question by
    the kind of value asked for ("Wie viel Watt …?") as much as by its name."""
    match = LOADED_ROW.match(row.strip())
    if match is None:
        return False
    pairs = match.group(2).split("; ")
    return len(pairs) == 1 and pairs[0].split(": ", 1)[0].lower() in VALUE_HEADERS


def about(row: str, query: str, places: frozenset[str], passage: str = "", said: str = "") -> bool:
    """A loaded table row answers the mail (any other sentence passes): its country, its key's words, the range
    holding the customer's amount, or the values of a row keyed by an article number. ``passage``: the row's table
    (the other rows of a range); ``said``: the rest of the mail (an amount with its unit counts from there too:
    "drei Kochmesser (20–24 cm) … Was würde das kosten?")."""
    key = key_of(row)
    if key is None or key in places:
        return True
    by_form = _by_form(row, key, query, passage, said)
    if by_form is not None:
        return by_form
    if not _figures(key) <= numbers(query):
        return False  # the 32-cm row is no answer about 36 cm
    asked = set(content_terms(query))
    return any(mentions(t, asked) for t in content_terms(key))


def named(row: str, query: str, passage: str = "", said: str = "") -> bool:
    """The customer names this row (stricter than ``about``): at least half of its key's words, also inside
    compounds ("Trichter" names "Trichterinhalt"), the range that holds their amount, or an article number's
    values."""
    key = key_of(row)
    if key is None:
        return False
    if key.lower() in query.lower():
        return True
    by_form = _by_form(row, key, query, passage, said)
    if by_form is not None:
        return by_form
    terms, asked = set(content_terms(key)), set(content_terms(query))
    if not _figures(key) <= numbers(query):
        return False  # "GD-28" is not named by "Pfanne 28 cm", "28 cm" is
    words_ = {t for t in terms if not t.isdigit()}
    found = sum(mentions(t, asked) for t in words_)
    return not words_ or found / len(words_) >= 0.5


def _by_form(row: str, key: str, query: str, passage: str, said: str) -> bool | None:
    """The verdict for a key that is a span of days, a range or an article number; None for a key of words."""
    days = _days(key)
    if days and _days(f"{query} {said}"):
        return bool(days & _days(f"{query} {said}"))  # "Dienstag bis Freitag" answers "am Mittwoch"
    if _range(key) is not None:
        return _in_range(key, query, passage, said)
    if ARTICLE_NUMBER.match(key):
        return _values_named(row, query)
    return None


def mentions(term: str, asked: set[str]) -> bool:
    """The customer's words contain a key's word, also as part of a compound ("trichter" ~ "trichterinhalt")."""
    return term in asked or (len(term) >= 4 and any(len(a) >= 4 and (a in term or term in a) for a in asked))


def _values_named(row: str, query: str) -> bool:
    """An article number's row is named by the thing its first value calls it ("Mahlsteinsatz" for "Mahlsteine",
    "Netzkabel"), not by the property names every row shares ("Ersatzteil", "Preis") nor by what the thing belongs
    to ("Glasdeckel für Pfanne 24 cm" is no answer about a pan)."""
    match = LOADED_ROW.match(row.strip())
    if match is None:
        return False
    values = [pair.split(": ", 1)[-1] for pair in match.group(2).split("; ")]
    things = [t for v in values for t in content_terms(v) if not t[:1].isdigit()]
    return bool(things) and mentions(things[0], set(content_terms(query)))


def _in_range(key: str, query: str, passage: str, said: str = "") -> bool:
    """The key's range holds an amount the customer names (same unit where the key has one), its other words (if
    any) are named too, and no other row of the same table fits closer: of "ab 500 €" and "ab 1.500 €" an order
    of 2.000 € gets the second."""
    span = _range(key)
    assert span is not None
    rest = set(content_terms(_BOUND.sub(" ", _SPAN.sub(" ", key))))
    asked = set(content_terms(f"{query} {said}"))
    if {t for t in rest if not t[:1].isdigit()} and not any(mentions(t, asked) for t in rest):
        return False  # "Messer … bis 26 cm" needs a knife, not only a length
    others = [r for r in (_range(k) for k in _keys(passage) if k != key) if r is not None and r.kind == span.kind]
    for value, unit in amounts(query) + [a for a in amounts(said) if a[1]]:
        if span.unit and unit != span.unit:
            continue
        if _holds(span, value) and not any(_holds(o, value) and _closer(o, span) for o in others):
            return True
    return False


_WEEKDAYS = ["montag", "dienstag", "mittwoch", "donnerstag", "freitag", "samstag", "sonntag"]
_DAY = re.compile(r"(?i)\b(montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag)s?\b")
_DAY_SPAN = re.compile(r"(?i)\b(montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag)\s*(?:bis|–|-)\s*"
                       r"(montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag)\b")


def _days(text: str) -> set[int]:
    """The weekdays a text names, a span with the days inside it ("Dienstag bis Freitag": Tuesday to Friday)."""
    found = {_WEEKDAYS.index(d.lower()) for d in _DAY.findall(text)}
    for first, last in _DAY_SPAN.findall(text):
        found |= set(range(_WEEKDAYS.index(first.lower()), _WEEKDAYS.index(last.lower()) + 1))
    return found


def tables(passage: str) -> list[str]:
    """The tables of a passage as they stand in it: runs of 2–8 consecutive rows that share their property names
    ("Montag – Öffnungszeiten: geschlossen." … "Samstag – Öffnungszeiten: 10:00–14:00 Uhr.")."""
    found: list[str] = []
    run: list[re.Match[str]] = []
    names: tuple[str, ...] = ()
    for line in re.finditer(r"[^\n]+", passage):
        match = LOADED_ROW.match(line.group().strip())
        these = tuple(p.split(": ", 1)[0] for p in match.group(2).split("; ")) if match else ()
        if match and run and these == names:
            run.append(line)
            continue
        if 2 <= len(run) <= _MAX_ROWS:
            found.append(passage[run[0].start() : run[-1].end()])
        run, names = ([line], these) if match else ([], ())
    if 2 <= len(run) <= _MAX_ROWS:
        found.append(passage[run[0].start() : run[-1].end()])
    return found


def asks_whole(table: str, query: str, title: str, said: str = "", own: str = "") -> bool:
    """The customer asks about the table as a whole: the question (``own``, else ``query``) names none of its rows,
    nor does the mail's amount fall in one of its ranges, but the query names its section ("Wann hat Ihr
    Werksverkauf geöffnet?" → every row of "Werksverkauf Kassel", also after "am liebsten am Montag"), and the table
    gives one property per key (the opening hours per day, the discount per order value). A property alone
    ("Preis", "Geeignet für") is shared by too many tables to say which one is meant."""
    lines = [line.strip() for line in table.split("\n") if line.strip()]
    first = LOADED_ROW.match(lines[0])
    if first is None or "; " in first.group(2):
        return False  # a table of several properties (sizes, weights, prices) is read row by row
    question = own or query
    if any(named(line, question, table) or (_range(key_of(line) or "") and named(line, question, table, said))
           for line in lines):
        return False
    asked = set(content_terms(query))
    return any(mentions(t, asked) for t in content_terms(title) if len(t) >= 5)


_MAX_ROWS = 8


def _holds(span: Range, value: float) -> bool:
    above = span.low is None or (value > span.low if span.kind == "über" else value >= span.low)
    below = span.high is None or (value < span.high if span.kind == "unter" else value <= span.high)
    return above and below


def _closer(other: Range, span: Range) -> bool:
    """Of two thresholds that both hold a value, the tighter one applies ("ab 1.500 €" before "ab 500 €")."""
    if span.kind in ("ab", "über"):
        return (other.low or 0.0) > (span.low or 0.0)
    if span.kind in ("bis", "unter"):
        return (other.high or 0.0) < (span.high or 0.0)
    return False


def _range(key: str) -> Range | None:
    bound = _BOUND.search(key)
    if bound is not None:
        kind = bound.group(1).lower().replace("mehr als", "über").replace("weniger als", "unter")
        value, unit = _value(bound.group(2)), _unit(bound.group(3))
        return Range(value, None, unit, kind) if kind in ("ab", "über") else Range(None, value, unit, kind)
    span = _SPAN.search(key)
    if span is not None:
        return Range(_value(span.group(1)), _value(span.group(2)), _unit(span.group(3)), "span")
    return None


def amounts(text: str) -> list[tuple[float, str]]:
    """The amounts a text names with their unit; both ends of "20–24 cm" and "28 und 32 cm" carry the unit."""
    found: list[tuple[float, str]] = []
    for match in _AMOUNT.finditer(text):
        unit = _unit(match.group(3))
        found.append((_value(match.group(1)), unit))
        if match.group(2):
            found.append((_value(match.group(2)), unit))
    return found


def _figures(key: str) -> set[str]:
    """The numbers a key names, without an ordinal ("1. Mahnung" is named by "Mahnung")."""
    return numbers(_ORDINAL.sub("", key))


_ORDINAL = re.compile(r"^\d{1,2}\.\s+")


def _keys(passage: str) -> list[str]:
    return [k for k in (key_of(line) for line in re.split(r"(?<=\.)\s+|\n", passage)) if k]


def _value(text: str) -> float:
    return float(text.replace(".", "").replace(",", "."))


def _unit(text: str | None) -> str:
    unit = (text or "").lower()
    return {"euro": "€", "eur": "€", "liter": "l", "watt": "w"}.get(unit, unit)
