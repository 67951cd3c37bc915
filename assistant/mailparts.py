"""The parts of a customer mail that are not the customer's message: quoted history, forwarded headers,
signature and footer, greeting. Line-based and linear on purpose; `assistant.reading` builds on it."""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass

MAX_CHARS = 100_000  # longer input is cut before any regex runs, so reading stays bounded

# Invisible and control characters that come with binary junk or copy-paste (keep \n and \t).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200d\u2060\ufeff\ufffd\ud800-\udfff]")
# Any HTML-looking tag; the length limit keeps a stray "<" from swallowing the mail.
_TAG = re.compile(
    r"</?(?:html|head|body|p|br|div|span|b|i|u|s|strong|em|a|img|table|tbody|thead|tr|td|th|ul|ol|li|h[1-6]|font|"
    r"style|script|meta|title|blockquote|center|hr|pre|code|sup|sub|small|o:p)\b[^<>]{0,500}>|<!--[^<>]{0,500}-->",
    re.I,
)  # known tag names only: "Renate <r@example.org>" in a header line is not markup
_HTML_BLOCK = re.compile(r"<(script|style)\b[^<>]{0,200}>[^<]{0,5000}</\1\s*>", re.I)
_HTML_BREAK = re.compile(r"<(?:br|/p|/div|/li|/tr|/h\d)\b[^<>]{0,100}>", re.I)

# Reply headers of Gmail/Apple/Thunderbird ("Am 3. März 2026 um 10:12 schrieb X <x@y>:" / "On … wrote:").
_REPLY_HEAD = re.compile(
    r"^\s*(?:am|on)\s.{0,300}?(?:schrieb|wrote)\b.{0,200}:\s*$|^.{0,120}\bschrieb am\b.{0,120}:\s*$", re.I
)
_REPLY_START = re.compile(r"^\s*(?:am|on)\s", re.I)
_RULER = r"\s*[-_=*]{2,}\s*"
# Separator lines of Outlook, web mailers and forwards.
_QUOTE_RULER = re.compile(
    rf"^{_RULER}(?:original message|original-nachricht|ursprüngliche nachricht|urspr\. nachricht){_RULER}$", re.I
)
_FORWARD_RULER = re.compile(
    rf"^(?:{_RULER})?(?:forwarded message|weitergeleitete nachricht|anfang der weitergeleiteten nachricht|"
    rf"begin forwarded message|nachricht weitergeleitet)(?:{_RULER}|\s*:)?\s*$",
    re.I,
)
# A header block ("Von: …" then "Gesendet:/Datum:/An:/Betreff:") as Outlook puts above quoted or forwarded mail.
_HEADER_LINE = re.compile(r"^\s*\*?(?:von|from|gesendet|sent|datum|date|an|to|cc|betreff|subject)\s*:\*?\s", re.I)
_HEADER_FROM = re.compile(r"^\s*\*?(?:von|from|gesendet|sent|datum|date)\s*:", re.I)  # GMX starts with "Gesendet:"
_UNDERSCORES = re.compile(r"^\s*_{10,}\s*$")
_FORWARD_SUBJECT = re.compile(r"^\s*(?:wg|fw|fwd|wtr|weitergeleitet)\s*:", re.I)

# Signature starts: "-- " delimiter, mobile taglines, legal disclaimers.
_SIG_DELIMITER = re.compile(r"^\s*--\s*$|^\s*_{10,}\s*$")
_MOBILE = re.compile(
    r"^\s*(?:gesendet (?:von|mit|vom)\b.{0,60}$|von meinem .{0,60}gesendet|sent from my\b|get outlook for\b|"
    r"outlook für (?:ios|android)|diese nachricht wurde von meinem)",
    re.I,
)
_DISCLAIMER = re.compile(
    r"^\s*(?:diese|die|der inhalt dieser|this|the information|sollten sie|if you)\b.{0,120}"
    r"(?:vertraulich|irrtümlich|unbefugt|confidential|intended recipient|privileged)",
    re.I,
)
_ADJ = (
    r"(?:mit|den|viele[n]?|beste[n]?|liebe[n]?|herzliche[n]?|freundliche[n]?|sonnige[n]?|schöne[n]?|nette[n]?|"
    r"(?:vielen|besten|herzlichen)\s+dank(?:\s+(?:vorab|im\s+voraus|schon\s+mal))?\s+und|danke\s+(?:vorab\s+)?und|"
    r"dank\s+und)"
)
# Closing formulas; what follows them is signature. "Gruß Tobias Kranz" keeps the name on the same line.
_CLOSING = re.compile(
    rf"^\s*(?:(?:{_ADJ}\s+){{0,4}}(?:grüße|grüßen|grüsse|grüssen|gruß|gruss)|mfg|lg|vg|glg|bg|"
    r"(?:best|kind|warm|many)\s+regards|regards|best wishes|cheers|sincerely|yours (?:sincerely|truly|faithfully)|"
    r"hochachtungsvoll|tschüss|ciao)\b[\s,.!]*",
    re.I,
)
# Thanks that end a mail ("Danke!", "Danke, K. Richter"); only cut when nothing but a name follows.
THANKS_START = re.compile(
    r"^\s*(?:(?:vielen|herzlichen|besten|tausend|schon mal|nochmals|many)\s+)?(?:dank|danke|thanks|thank you)\b", re.I
)
_AFTER_THANKS = re.compile(
    r"^\s*(?:(?:vielen|herzlichen|besten|tausend|schon mal|nochmals|many)\s+)?(?:dank|danke|thanks|thank you)"
    r"(?:\s+(?:schön|sehr|im voraus|vorab|schon mal))*[\s,.!]*",
    re.I,
)
_SENTENCE_END = re.compile(r"[.!?]\s+")

# Footer lines at the end of a mail: register and legal lines (any length) and short contact/company lines.
_FOOTER_LEGAL = re.compile(
    r"ust[-.\s]?id|umsatzsteuer|steuernummer|handelsregister|registergericht|amtsgericht|\bhr[ab]\s*\d|geschäftsführ|"
    r"sitz der gesellschaft|^\s*(?:iban|bic|bank(?:verbindung)?)\s*:",
    re.I,
)
_FOOTER_CONTACT = re.compile(
    r"^\s*(?:tel|telefon|fon|fax|mobil|handy|phone|mobile)\b\.?\s*:?\s*[+\d(]|^\s*(?:e-?mail|web|internet)\s*:|"
    r"^\s*[\w.+-]+@[\w-]+\.[\w.-]+\s*$|^\s*(?:https?://|www\.)\S+\s*$|^\s*\+?\d[\d\s/().-]{6,}$|"
    r"\b(?:gmbh|ag|kg|ug|ohg|gbr|e\.\s?k|e\.\s?v)\b\.?(?:\s*&\s*co\.?\s*kg)?\s*$|"
    r"^\s*[\wäöüß.-]+(?:str\.|straße|strasse|weg|platz|allee|gasse|ring)\s*\d+|^\s*(?:d-|a-|ch-)?\d{4,5}\s+[^\W\d]",
    re.I,
)
# Greetings at the start of the mail, with the name or team they address.
_GREET_WORD = (
    r"(?:(?:sehr\s+)?geehrte[rs]?|hallo|hallöchen|hi|hey|moin(?:\s+moin)?|servus|grüß\s+gott|grüezi|"
    r"guten\s+(?:tag|morgen|abend|mittag)|liebe[rs]?|dear|hello|good\s+(?:morning|afternoon|evening))"
)
_GREET_NAME = (
    r"(?:damen|und|herren|frau|herr|fr\.|hr\.|dr\.|liebe[rs]?|zusammen|miteinander|alle|leute|team|ihr|nochmal|"
    r"noch\s+einmal|again|there|everyone|all|"
    r"mr\.?|mrs\.?|ms\.?|sir|or|madam|to\s+whom\s+it\s+may\s+concern|(?-i:[A-ZÄÖÜ])[\w.-]*|[\w-]*team|[\w-]*service)"
)
_GREETING_FULL = re.compile(
    rf"^\s*{_GREET_WORD}(?:[ \t]+{_GREET_NAME}){{0,5}}[ \t]*(?:[,!:;]+|\.(?=\s|$)|(?=\n)|$)[ \t]*", re.I
)
_GREETING_BARE = re.compile(rf"^\s*{_GREET_WORD}\b[\s,!:]*", re.I)

_NAME_PREFIX = re.compile(r"^(?:i\.\s?a\.|i\.\s?v\.|ppa\.|ihr[e]?|eure?|dein[e]?|von|vom)\s+", re.I)
_TITLES = {"dr.", "prof.", "dipl.-ing.", "dr.-ing.", "med.", "h.c.", "ing.", "mag."}
_PARTICLES = {"von", "van", "de", "der", "zu", "vom", "zum", "del", "di", "da", "le", "la", "ten", "ter"}
_NOT_NAME = set(
    """
    gmbh ag kg ug ohg gbr team kundenservice service einkauf abteilung firma restaurant gasthaus hotel
    praxis grüße gruß grüßen gruss grüsse dank danke freundlichen freundliche mit viele liebe beste
    besten herzliche tel telefon fax mobil straße bestellung rechnung frage hilfe hallo kunde kundin aus
    regards thanks best kind sincerely p.s. ps dr prof
    """.split()  # noqa: SIM905 - a word list people can read and extend
)


@dataclass(frozen=True)
class Parts:
    own: str  # the customer's text, greeting and signature still inside
    quoted: str  # the quoted history or forwarded mail
    forwarded: bool  # the quoted part is a forwarded mail (not a reply's history)


def normalise(text: str) -> tuple[str, list[str]]:
    """Plain text with \\n line ends, NFC umlauts, no control characters and no HTML tags."""
    notes: list[str] = []
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS]
        notes.append(f"Mail sehr lang – nur die ersten {MAX_CHARS:,} Zeichen gelesen".replace(",", "."))
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub("", text).replace("\u00a0", " ").replace("\t", " ")
    if _TAG.search(text):
        text = _HTML_BREAK.sub("\n", _HTML_BLOCK.sub(" ", text))
        text = re.sub(r"[ \t]{2,}", " ", html.unescape(_TAG.sub(" ", text)))
        notes.append("HTML-Auszeichnung entfernt")
    return text, notes


def split_quoted(text: str, subject: str = "") -> Parts:
    """Cut at the first marker of quoted history or a forward; lines starting with ">" are history too."""
    lines = text.split("\n")
    for i in range(len(lines)):
        kind = _marker(lines, i)
        if kind:
            forwarded = kind == "forward" or (kind == "header" and bool(_FORWARD_SUBJECT.match(subject)))
            own, quoted = _unquoted(lines[:i]), "\n".join(lines[i:]).strip()
            if kind == "reply" and not own.strip():  # answered below or between the quoted lines
                own = _answers_below(lines, i)
            return Parts(own, quoted, forwarded)
    own = _unquoted(lines)
    quoted = "\n".join(line for line in lines if line.lstrip().startswith(">"))
    return Parts(own, quoted.strip(), False)


def _answers_below(lines: list[str], head: int) -> str:
    """Bottom-posted or interleaved answers: the unquoted lines under an "Am … schrieb …:" header."""
    end = next((j for j in range(head, min(head + 3, len(lines))) if lines[j].rstrip().endswith(":")), head)
    rest = lines[end + 1 :]
    if not any(line.lstrip().startswith(">") for line in rest):
        return ""
    return _unquoted(rest)


def _unquoted(lines: list[str]) -> str:
    return "\n".join(line for line in lines if not line.lstrip().startswith(">"))


def _marker(lines: list[str], i: int) -> str | None:
    line = lines[i]
    if len(line) > 400:
        return None
    if _FORWARD_RULER.match(line):
        return "forward"
    if _QUOTE_RULER.match(line):
        return "reply"
    if _REPLY_START.match(line):  # Gmail wraps long reply headers over up to three lines
        joined = " ".join(lines[i : i + 3])[:600]
        if any(_REPLY_HEAD.match(" ".join(lines[i : i + n])) for n in (1, 2, 3)) or _REPLY_HEAD.match(joined):
            return "reply"
    if _UNDERSCORES.match(line) and any(_HEADER_FROM.match(x) for x in lines[i + 1 : i + 4]):
        return "header"
    if _HEADER_FROM.match(line) and sum(bool(_HEADER_LINE.match(x)) for x in lines[i + 1 : i + 5]) >= 2:
        return "header"
    return None


def forwarded_text(quoted: str) -> str:
    """The forwarded mail without its ruler and header lines; nested history is cut later by the caller."""
    lines = quoted.split("\n")
    start = 1 if lines and (_FORWARD_RULER.match(lines[0]) or _UNDERSCORES.match(lines[0])) else 0
    while start < len(lines) and (_HEADER_LINE.match(lines[start]) or not lines[start].strip()):
        start += 1
    return "\n".join(lines[start:])


def strip_signature(text: str) -> tuple[str, str | None, bool]:
    """(text without signature/footer, name found there, whether something was cut)."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if _SIG_DELIMITER.match(line) or _MOBILE.match(line) or _DISCLAIMER.match(line):
            name = _first_name(lines[i + 1 : i + 5])
            return _with_postscript(lines[:i], lines[i + 1 :]), name, True
        closing = _closing(line)
        if closing is not None:
            kept, name = closing
            name = name or _first_name(lines[i + 1 : i + 5], allow_lower=True)
            return _with_postscript([*lines[:i], kept], lines[i + 1 :]), name, True
    return _strip_tail(lines)


def _closing(line: str) -> tuple[str, str | None] | None:
    """A closing formula at the start of the line, or after the last sentence on it ("…? Viele Grüße, Eva")."""
    if len(line) > 2000:
        return None
    starts = [0] + [m.end() for m in _SENTENCE_END.finditer(line, max(0, len(line) - 160))]
    for start in starts:
        rest = line[start:]
        match = _CLOSING.match(rest)
        if match:
            tail = rest[match.end() :].strip()
            name = as_name(tail, allow_lower=True)
            if not tail or name or (len(tail.split()) <= 4 and not tail.endswith("?")):
                return line[:start].rstrip(), name
        thanks = _AFTER_THANKS.match(rest) if start else None
        name = _thanks_name(rest[thanks.end() :]) if thanks else None
        if name:
            return line[:start].rstrip(), name
    return None


def _with_postscript(kept: list[str], after: list[str]) -> str:
    """A "PS:" below the signature is still the customer's message."""
    ps = [i for i, line in enumerate(after) if re.match(r"^\s*p\.?\s?p?\.?\s?s\.?\s*[:.]", line, re.I)]
    return "\n".join(kept + (after[ps[0] :] if ps else []))


def _strip_tail(lines: list[str]) -> tuple[str, str | None, bool]:
    """Without a closing formula: footer lines, a bare name and a last thanks line at the end."""
    end, name, names_seen = len(lines), None, 0
    while end > 0:
        line = lines[end - 1].strip()
        if not line or _is_footer(line):
            end -= 1
            continue
        candidate = as_name(line)
        if candidate and names_seen < 2 and len(line) < 60 and not line.endswith((".", "?", "!")):
            name, names_seen, end = name or candidate, names_seen + 1, end - 1
            continue
        thanks = _AFTER_THANKS.match(line)
        thanks_name = _thanks_name(line[thanks.end() :]) if thanks else None
        if thanks and (name or thanks_name):
            name = name or thanks_name
            end -= 1
        break
    return "\n".join(lines[:end]), name, end < len(lines)


def _is_footer(line: str) -> bool:
    if len(line) < 300 and _FOOTER_LEGAL.search(line):
        return True
    return len(line.split()) <= 8 and not line.endswith("?") and bool(_FOOTER_CONTACT.search(line))


def _thanks_name(rest: str) -> str | None:
    """ "Danke, K. Richter" / "danke kevin": the whole rest must be a name, not "a lot, the pan arrived"."""
    rest = rest.strip(" ,.!")
    if not rest or "," in rest or len(rest.split()) > 4:
        return None
    return as_name(rest, allow_lower=len(rest.split()) <= 2 and rest.split()[0].lower() not in _ENGLISH_FILL)


_ENGLISH_FILL = {"a", "so", "for", "again", "you", "lot"}


def _first_name(lines: list[str], allow_lower: bool = False) -> str | None:
    for line in lines:
        if line.strip():
            name = as_name(line, allow_lower=allow_lower)
            if name:
                return name
    return None


def strip_greeting(text: str) -> str:
    """Remove the salutation at the start, also when the message goes on on the same line."""
    for _ in range(2):  # "Hallo!\nGuten Tag Frau Lindner," happens
        stripped = text.lstrip()
        head = stripped[:300]
        match = _GREETING_FULL.match(head) or _GREETING_BARE.match(head)
        if not match:
            break
        text = stripped[match.end() :]
    return text


def as_name(text: str, allow_lower: bool = False) -> str | None:
    """A person's name as written ("Dr. Hans-Peter Wilke", "K. Richter"), else None."""
    text = re.sub(r"\([^()]{0,80}\)", " ", text.strip()[:120])
    text = re.split(r",|\s[|–-]\s|/", text)[0].strip(" .,;:!")
    for _ in range(2):
        text = _NAME_PREFIX.sub("", text)
    tokens = text.split()
    if not 1 <= len(tokens) <= 5 or any(_NAME_PUNCT.search(t) for t in tokens):
        return None
    if allow_lower and all(t.isalpha() and t.islower() for t in tokens):
        tokens = [t.capitalize() for t in tokens]
    if not all(_name_token(t) for t in tokens):
        return None
    core = [t for t in tokens if t.lower() not in _TITLES and t.lower() not in _PARTICLES]
    if not core or not any(len(t.rstrip(".")) >= 2 for t in core):
        return None
    return " ".join(tokens)


_NAME_PUNCT = re.compile(r"[^\w.'’-]|\d|_")
_INITIAL = re.compile(r"[^\W\d_]\.(?:-[^\W\d_]\.)?")  # "K." or "H.-P."


def _name_token(token: str) -> bool:
    low = token.lower()
    if low in _TITLES or low in _PARTICLES:
        return True
    if low.strip(".") in _NOT_NAME or not token[0].isupper():
        return False
    if token.endswith("."):
        return bool(_INITIAL.fullmatch(token))
    letters = token.replace("-", "").replace("'", "").replace("’", "")
    return letters.isalpha() and not (len(letters) > 1 and letters.isupper() and len(letters) <= 4)


def sender_display_name(sender: str | None) -> str | None:
    """The display name of the From header as a person's name ("Köhler, Renate" → "Renate Köhler")."""
    if not sender or "@" in sender:
        return None
    text = _TAG.sub(" ", sender).strip().strip("\"'")
    parts = [p.strip() for p in text.split(",")]
    if len(parts) == 2 and len(parts[0].split()) == 1 and 1 <= len(parts[1].split()) <= 2:
        swapped = as_name(f"{parts[1]} {parts[0]}", allow_lower=True)
        if swapped:
            return swapped
    for part in reversed(parts):
        name = as_name(part, allow_lower=True)
        if name:
            return name
    return None


def better_name(signature: str | None, sender: str | None) -> str | None:
    """Prefer the signature; but "Mehmet" or "K. Richter" are completed from the sender's full name."""
    if not signature or not sender:
        return signature or sender
    sig, full = signature.split(), sender.split()
    if len(full) > len(sig) and len(sig) == 1 and sig[0] in full:
        return sender
    if len(sig) == 2 and len(full) >= 2 and sig[-1] == full[-1] and sig[0].endswith(".") and full[0][0] == sig[0][0]:
        return sender
    return signature
