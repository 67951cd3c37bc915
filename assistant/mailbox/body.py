"""The readable text of a mail: what the agent reads and the draft answers.

Plain text is preferred (it is what the sender wrote); an HTML-only mail is converted with inscriptis, which lays
blocks out like a browser does, so paragraphs, ``<br>``, lists and tables stay readable (a flat ``get_text("\\n")``
breaks a line at every inline tag and leaves "\\n?\\n" behind). Quoted mails (``<blockquote>``) become "> " lines,
as in a plain-text reply, so the quoted history stays visible but can be told apart from the customer's question.

A mail's charset is often wrong or unknown (a header says ASCII, the bytes are UTF-8; a made-up name): the text
is decoded with the best guess and undecodable bytes are replaced, never an exception. inscriptis (and lxml) are
imported here only.
"""

from __future__ import annotations

import re
from email.message import EmailMessage, Message
from typing import Any

from inscriptis import get_annotated_text
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig

MAX_HTML_CHARS = 3_000_000  # converting takes ~1 s per MB here; a mail's text is cut at 1,000,000 characters anyway
CUT_NOTE = "[Der Rest der HTML-Nachricht wurde nicht umgewandelt, sie ist zu lang.]"

# charsets a mail program names while it writes UTF-8 (or for which UTF-8 bytes would pass as valid text): UTF-8
# is tried before them, since valid multi-byte UTF-8 is practically never Latin-1 text by chance
_LATIN = {"us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1", "iso-8859-15", "windows-1252", "cp1252"}
_NBSP = re.compile(r"&nbsp;|&#160;|&#x0*a0;|\xa0", re.IGNORECASE)
_KEEP = "\ue000"  # a no-break space while inscriptis works: a paragraph of only "&nbsp;" is a blank line, as shown
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")  # lxml refuses them; a browser does not show them
_BLANK_RUN = re.compile(r"\n{3,}")
_MAX_DEPTH = 20  # nested multiparts; deeper is a made-up mail, not a text


def readable_text(message: EmailMessage) -> str:
    """The mail's text: of each alternative the plain text if it has any, else its HTML as text; the inline text
    parts of a mixed mail one after the other (Apple Mail splits a text around a picture, a list appends its
    footer as a part of its own); "" when there is none. Parts with a file name are attachments, not text (as
    for ``assistant.tickets.attachments.of_message``)."""
    return _tidy("\n\n".join(_texts(message, 0)))


def _texts(part: Message, depth: int) -> list[str]:
    if depth > _MAX_DEPTH or part.get_content_disposition() == "attachment" or part.get_filename():
        return []
    kind = part.get_content_type()
    if kind == "text/plain":
        text = decoded(part)
        return [_unflowed(text, _param(part, "delsp") == "yes") if _param(part, "format") == "flowed" else text]
    if kind == "text/html":
        return [html_to_text(decoded(part))]
    if part.get_content_maintype() != "multipart" or not part.is_multipart():
        return []  # a calendar, a picture, a delivery report, a forwarded mail: not the text
    parts = [p for p in part.get_payload() if isinstance(p, Message)]
    if kind == "multipart/alternative":
        plain = [t for p in parts if p.get_content_type() == "text/plain" for t in _texts(p, depth + 1) if t.strip()]
        if plain:
            return plain[:1]
        for choice in reversed(parts):  # the last alternative is the richest (RFC 2046)
            if texts := [t for t in _texts(choice, depth + 1) if t.strip()]:
                return texts
        return []
    if kind == "multipart/related":
        start = str(part.get_param("start", "")).strip()
        root = next((p for p in parts if start and str(p.get("Content-ID", "")).strip() == start),
                    parts[0] if parts else None)
        return _texts(root, depth + 1) if root is not None else []
    return [t for p in parts for t in _texts(p, depth + 1) if t.strip()]  # mixed, signed, report: in order


def _param(part: Message, name: str) -> str:
    return str(part.get_param(name, "")).lower()


def decoded(part: Message) -> str:
    """A text part's content as str, whatever its charset claims; undecodable bytes become U+FFFD."""
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    declared = (part.get_content_charset() or "us-ascii").lower()
    tries = ["utf-8", declared, "cp1252"] if declared in _LATIN else [declared, "utf-8", "cp1252"]
    for charset in tries:
        try:
            return data.decode(charset)
        except (LookupError, UnicodeError):  # an unknown charset name, or bytes it cannot be
            continue
    return data.decode("utf-8", "replace")


def html_to_text(html: str) -> str:
    """HTML as a mail program would show it, as text: blocks on their own lines, at most one blank line between
    them, no script or style, entities decoded; quoted mails as "> " lines."""
    cut = len(html) > MAX_HTML_CHARS
    html = _CONTROL.sub("", _NBSP.sub(_KEEP, html[:MAX_HTML_CHARS]))
    converted: dict[str, Any] = get_annotated_text(html, _config()) if html.strip() else {}
    text = _quoted(str(converted.get("text", "")), converted.get("label", []))
    text = _tidy(text.replace(_KEEP, " "))
    return f"{text}\n\n{CUT_NOTE}" if cut and text else text


def _config() -> ParserConfig:
    """Firefox's defaults (inscriptis' "strict": no indentation of nested divs, no blanks around a span), blockquotes
    marked, and Outlook's paragraphs (``class="MsoNormal"``, margin 0 in its style sheet) as lines, not paragraphs."""
    config = ParserConfig(css=CSS_PROFILES["strict"].copy(), annotation_rules={"blockquote": ["quote"]})
    mapping = dict(config.attribute_handler.attribute_mapping)  # a copy: the default map is shared by everyone
    mapping["class"] = _outlook_lines
    config.attribute_handler.attribute_mapping = mapping
    return config


def _outlook_lines(value: str, element: Any) -> None:
    if "msonormal" in value.lower().split():
        element.margin_before = element.margin_after = 0


def _quoted(text: str, labels: list[tuple[int, int, str]]) -> str:
    """Each line inside n blockquotes prefixed by n ">" (as a plain-text reply quotes)."""
    spans = [(start, end) for start, end, label in labels if label == "quote"]
    if not spans:
        return text
    lines, position = [], 0
    for line in text.split("\n"):
        first = position + len(line) - len(line.lstrip())  # where its text starts
        depth = sum(1 for start, end in spans if start <= first < end) if line.strip() else _depth_of_blank(
            position, spans)
        lines.append((">" * depth + " " + line.strip() if line.strip() else ">" * depth) if depth else line)
        position += len(line) + 1
    return "\n".join(lines)


def _depth_of_blank(position: int, spans: list[tuple[int, int]]) -> int:
    return sum(1 for start, end in spans if start < position < end)


def _unflowed(text: str, delsp: bool) -> str:
    """RFC 3676 format=flowed (Apple Mail, Thunderbird): a line ending in a space goes on in the next one; the
    paragraphs come back as the sender typed them."""
    out: list[tuple[int, str, bool]] = []  # (quote depth, text, continues)
    for raw in text.replace("\r\n", "\n").split("\n"):
        depth = len(raw) - len(raw.lstrip(">"))
        line = raw[depth:]
        line = line[1:] if line.startswith(" ") else line  # space-stuffing
        soft = line.endswith(" ") and line != "-- "
        line = line[:-1] if soft and delsp else line
        if out and out[-1][2] and out[-1][0] == depth:
            out[-1] = (depth, out[-1][1] + line, soft)
        else:
            out.append((depth, line, soft))
    return "\n".join((">" * d + " " + line if line.strip() else ">" * d) if d else line for d, line, _ in out)


def _tidy(text: str) -> str:
    """No trailing blanks on a line, no run of blank lines, no blank lines around the text."""
    lines = (line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return _BLANK_RUN.sub("\n\n", "\n".join(lines)).strip()
