"""German sentence boundaries for documents: whole sentences only (a quote cut at "1. Januar" or "z. B." reads
as nonsense to a customer), and table rows as readable sentences."""

from __future__ import annotations

import re

_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[A-ZÄÖÜ0-9„\"(\[])|\n+")
# A full stop after these does not end a sentence: "z. B. Kassel", "Nr. 5", "24. Dezember", "ca. 3 Tage".
_NO_END = re.compile(
    r"(?:\b(?:z|d|u|o|s|v|i|bzw|ca|Nr|nr|Str|str|usw|inkl|zzgl|ggf|evtl|vgl|Tel|tel|Abs|Art|Dr|Hr|Fr|St|bspw|max|"
    r"min|mind|gem|lt|sog|ff|Mo|Di|Mi|Do|Sa|So|Jan|Feb|Mär|Apr|Jun|Jul|Aug|Sep|Sept|Okt|Nov|Dez|etc|e\.V|"
    r"a|b|A|B|Ziff|S)\.)\Z"
)
# "bis zum 24. Dezember", "am 3. Werktag": an ordinal, not the end of a sentence ending in a number ("… 920 47.")
_ORDINAL = re.compile(r"\b\d{1,2}\.\Z")
ORDINAL_NOUN = re.compile(
    r"(?:Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember|Jan|Feb|Mär|Apr|Jun|"
    r"Jul|Aug|Sep|Okt|Nov|Dez|Tag|Werktag|Kalendertag|Woche|Monat|Jahr|Quartal|Mal|Stock|Etage|Kapitel|Absatz|"
    r"Mahnung|Lieferung|Bestellung)\b"
)
_TABLE_ROW = re.compile(r"^\s*\|(.+)\|\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?[\s:|-]+\|?\s*$")


def sentences(text: str) -> list[str]:
    """Whole sentences: never split after an abbreviation or an ordinal ("1. Januar"); table rows become one
    readable sentence each ("Für Österreich gilt: Versandkosten 5,90 €, Lieferzeit 3–5 Werktage."); a list with
    its lead-in ("Es gelten folgende Bedingungen:" and its items) stays one unit, as it stands in the text."""
    found: list[str] = []
    for block, is_row in _blocks(text):
        if is_row:
            found.append(block)
            continue
        for piece, is_list in _lists(block):
            if is_list:
                found.append(piece)
                continue
            for part, card in _contacts(piece):
                found.extend([part] if card else split_sentences(part))
    return [s.strip(" -•*\t") for s in found if len(s.strip(" -•*\t")) > 2]


_ITEM = re.compile(r"^[ \t]*(?:[-•*–]|\d{1,2}[.)])[ \t]+\S")
_ORDINAL_KEY = re.compile(r"^[ \t]*\d{1,2}\.[ \t]+[^–:;]{2,80} – [^:;]{2,40}: ")
_MAX_LIST = 900  # characters; a longer list is read item by item


def _lists(block: str) -> list[tuple[str, bool]]:
    """The block cut into prose and lists (≥ 2 items, with the line before them when it ends with ":"); a list
    piece is the exact text of the block, so it can be quoted."""
    lines = block.split("\n")
    # "1. Mahnung – Gebühr: 2,50 €." is a table row whose key is an ordinal, not a list item
    items = [i for i, line in enumerate(lines) if _ITEM.match(line) and not _ORDINAL_KEY.match(line)]
    runs: list[list[int]] = []
    for i in items:  # items separated by blank lines only belong to one list
        if runs and all(not line.strip() for line in lines[runs[-1][-1] + 1 : i]):
            runs[-1].append(i)
        else:
            runs.append([i])
    pieces: list[tuple[str, bool]] = []
    start = 0
    for run in (r for r in runs if len(r) >= 2):
        first = run[0]
        lead = max((j for j in range(start, first) if lines[j].strip()), default=None)
        if lead is not None and lines[lead].rstrip().endswith(":") and all(not x.strip() for x in lines[lead+1:first]):
            first = lead
        unit = "\n".join(lines[first : run[-1] + 1])
        if len(unit) > _MAX_LIST:
            continue
        pieces.append(("\n".join(lines[start:first]), False))
        pieces.append((unit, True))
        start = run[-1] + 1
    pieces.append(("\n".join(lines[start:]), False))
    return [(p, is_list) for p, is_list in pieces if p.strip()]


# A phone number or an e-mail address: what makes a few short lines a contact card.
_REACH = re.compile(r"[\w.+-]+@[\w-]+\.[a-z]{2,}|\+?\d[\d /-]{6,}\d")


def _card_line(line: str) -> bool:
    line = line.strip()
    return 0 < len(line) <= 90 and line[-1:] not in ".!?:;," and not _ITEM.match(line)


def is_contact(unit: str) -> bool:
    """A contact card as documents print it: 2–6 short lines without full stops, one of them a phone number or an
    e-mail address ("Markus Albers, Vertrieb Firmenkunden" / "Telefon: 0561 920 47-60" / "E-Mail: b2b@…")."""
    lines = [line for line in unit.split("\n") if line.strip()]
    return 2 <= len(lines) <= 6 and all(_card_line(x) for x in lines) and any(_REACH.search(x) for x in lines)


def _contacts(block: str) -> list[tuple[str, bool]]:
    """The block cut into prose and contact cards (consecutive lines, no blank line between them)."""
    lines = block.split("\n")
    pieces: list[tuple[str, bool]] = []
    start = at = 0
    while at < len(lines):
        end = at
        while end < len(lines) and _card_line(lines[end]):
            end += 1
        if end > at and is_contact("\n".join(lines[at:end])):
            pieces += [("\n".join(lines[start:at]), False), ("\n".join(lines[at:end]), True)]
            start = end
        at = max(end, at + 1)
    pieces.append(("\n".join(lines[start:]), False))
    return [(p, card) for p, card in pieces if p.strip()]


def is_list(sentence: str) -> bool:
    """A list unit of ``sentences`` (its first item marker may have been stripped with the lead-in missing)."""
    return any(_ITEM.match(line) for line in sentence.split("\n")[1:])


def readable_list(sentence: str) -> str:
    """A list unit for a letter: its lead-in, then one line per item ("- Skonto: 3 % …"), no blank lines;
    any other sentence unchanged."""
    if not is_list(sentence):
        return sentence
    lines = [line.strip() for line in sentence.split("\n") if line.strip()]
    lead = lines[0].endswith(":") and not _ITEM.match(lines[0])
    items = lines[1:] if lead else lines
    return "\n".join(([lines[0]] if lead else []) + [f"- {_ITEM_MARK.sub('', line)}" for line in items])


_ITEM_MARK = re.compile(r"^(?:[-•*–]|\d{1,2}[.)])\s+")


def split_sentences(text: str) -> list[str]:
    """The text cut at sentence ends only (abbreviations, ordinals and dates stay inside their sentence)."""
    found: list[str] = []
    pending = ""
    pieces = _BOUNDARY.split(text)
    for i, piece in enumerate(pieces):
        pending = f"{pending} {piece.strip()}".strip()
        following = pieces[i + 1].lstrip() if i + 1 < len(pieces) else ""
        if not (_NO_END.search(pending) or (_ORDINAL.search(pending) and ORDINAL_NOUN.match(following))):
            found.append(pending)
            pending = ""
    if pending:  # the text ended after an abbreviation
        found.append(pending)
    return [s for s in found if s]


def _blocks(text: str) -> list[tuple[str, bool]]:
    """Text blocks and table rows in order; a row is rendered as a sentence with its table's header."""
    blocks: list[tuple[str, bool]] = []
    current: list[str] = []
    header: list[str] | None = None
    for line in text.splitlines():
        match = _TABLE_ROW.match(line)
        if match is None:
            header = None
            current.append(line)
        elif not _TABLE_RULE.match(line):
            cells = [c.strip() for c in match.group(1).split("|")]
            if header is None:
                header = cells
                blocks.append(("\n".join(current), False))
                current = []
            else:
                blocks.append((table_row_sentence(header, cells), True))
    blocks.append(("\n".join(current), False))
    return [(b, row) for b, row in blocks if b.strip()]


def table_row_sentence(header: list[str], cells: list[str]) -> str:
    pairs = [f"{h} {c}" if h else c for h, c in zip(header[1:], cells[1:], strict=False) if c and c != "–"]
    return f"Für {cells[0]} gilt: {', '.join(pairs)}." if cells and pairs else " ".join(cells)


# A table row as the loaders write it: "Österreich – Versandkosten: 5,90 €; Lieferzeit: 3–5 Werktage."
LOADED_ROW = re.compile(r"^([^–:;]{2,80}) – ((?:[^:;]{2,40}: [^;]+;\s*)*[^:;]{2,40}: [^;]+?)\.?$")


# A key that is only an identifier: "MW2-01", "GD-28", "A 1234" (no word a customer would write)
ARTICLE_NUMBER = re.compile(r"^[A-Z0-9][A-Z0-9./ -]*\d[A-Z0-9./-]*$")
# A key that is a statement of its own (a symptom in a troubleshooting table), not a thing: "Für … gilt" is wrong
_CLAUSE = re.compile(r"^(?:Der|Die|Das|Es|Er|Sie|Ein|Eine|Kein|Keine|Ich|Man)\s+\S+\s+\S+")


# The header of a two-column table's value column: it names no property of its own.
VALUE_HEADERS = frozenset(["wert", "werte", "angabe", "angaben", "beschreibung", "details", "inhalt", "value"])


def readable_table(unit: str) -> str:
    """Rows of one table given together: their shared property as the lead-in, one line per row ("Öffnungszeiten:"
    / "- Montag: geschlossen" / "- Dienstag bis Freitag: 10:00–18:00 Uhr"); any other sentence unchanged."""
    matches = [LOADED_ROW.match(line.strip()) for line in unit.split("\n") if line.strip()]
    if len(matches) < 2 or any(m is None for m in matches):
        return unit
    rows = [m for m in matches if m is not None]
    pairs = [[pair.split(": ", 1) for pair in m.group(2).split("; ")] for m in rows]
    if all(len(p) == 1 for p in pairs):
        lines = [f"- {m.group(1)}: {p[0][1]}" for m, p in zip(rows, pairs, strict=True)]
        return f"{pairs[0][0][0]}:\n" + "\n".join(lines)
    return "\n".join(f"- {readable_row(m.group(0))}" for m in rows)


def readable_row(sentence: str) -> str:
    """A loaded table row as a sentence for a letter: "Für Österreich gilt: Versandkosten 5,90 €, Lieferzeit
    3–5 Werktage."; any other sentence unchanged."""
    match = LOADED_ROW.match(sentence.strip())
    if match is None:
        return sentence
    pairs = [pair.split(": ", 1) for pair in match.group(2).split("; ")]
    if len(pairs) == 1 and len(pairs[0]) == 2 and pairs[0][0].lower() in VALUE_HEADERS:
        return f"{match.group(1)}: {pairs[0][1]}."  # a data sheet's "Merkmal | Wert": "Motor: … 360 Watt."
    # "Versandkostenfrei ab: keine Versandkostenfreiheit" reads as "keine Versandkostenfreiheit"
    parts = [v if re.match(r"(?:kein|keine|nicht)\b", v, re.I) else f"{k} {v}" for k, v in pairs]
    key = match.group(1)
    if _CLAUSE.match(key):
        return sentence  # "Die Maschine bleibt beim Kneten stehen – Mögliche Ursache: …" reads as written
    if ARTICLE_NUMBER.match(key):  # "Ersatzteil Netzkabel (MW2-05): Preis 15,50 €."
        thing = f"{' '.join(pairs[0])} ({key})"
        return f"{thing}: {', '.join(' '.join(p) for p in pairs[1:])}." if len(pairs) > 1 else f"{thing}."
    if re.match(r"\d{1,2}\.\s", key):  # "1. Mahnung: Zeitpunkt …, Gebühr 2,50 €." ("Für 1. Mahnung" is no German)
        return f"{key}: {', '.join(' '.join(p) for p in pairs)}."
    # "ab 1.500 € – Rabatt: 8 %" reads "Ab 1.500 € gilt: Rabatt 8 %.", not "Für ab 1.500 € gilt …"
    lead = f"{key[:1].upper()}{key[1:]}" if re.match(r"(?:ab|bis|über|unter)\s", key) else f"Für {key}"
    return f"{lead} gilt: " + ", ".join(p.strip() for p in parts) + "."
