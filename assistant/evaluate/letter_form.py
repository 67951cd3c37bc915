"""Checks on the letter as the customer reads it: salutation, closing, no raw markers, no cut sentences, and
no sentence that only repeats the customer's own words. Pure functions on text."""

from __future__ import annotations

import re

from assistant.knowledge.sentences import split_sentences
from assistant.knowledge.text import words

_SALUTATION = re.compile(r"\A(?:Guten Tag|Sehr geehrte|Hallo|Liebe|Dear|Hello)\b[^\n]*,\s*$", re.M)
_CLOSING = re.compile(r"^(?:Mit freundlichen Grüßen|Freundliche Grüße|Viele Grüße|Beste Grüße|Kind regards|"
                      r"Best regards)\s*$", re.M)
_MARKERS = re.compile(r"\[\d+\]|Aus unseren Unterlagen|„[^“]{0,400}“\s*\[|<\|[a-z_]+\|>")
_SENTENCE_START = re.compile(r"^[A-ZÄÖÜ0-9„\"(]")


def letter_problems(text: str) -> list[str]:
    """What keeps the text from being a letter one could send (empty list: fine)."""
    problems = []
    first = text.strip().split("\n", 1)[0]
    if not _SALUTATION.match(first):
        problems.append("Anrede fehlt")
    if not _CLOSING.search(text):
        problems.append("Grußformel fehlt")
    if _MARKERS.search(text):
        problems.append("Rohe Quellenmarken oder Zitatfragmente")
    body = body_sentences(text)
    # after "Guten Tag Frau X," the letter goes on in lower case ("vielen Dank …")
    problems.extend(f"Abgeschnittener Satz: {s[:60]}" for i, s in enumerate(body) if not _whole(s, first=i == 0))
    return problems


def body_sentences(text: str) -> list[str]:
    """The sentences between salutation and closing."""
    lines = text.strip().splitlines()
    closing = next((i for i, line in enumerate(lines) if _CLOSING.match(line.strip())), len(lines))
    body = "\n".join(lines[1:closing])
    return [s for paragraph in re.split(r"\n\s*\n", body) for s in split_sentences(paragraph) if s.strip()]


def _whole(sentence: str, first: bool) -> bool:
    item = _LIST_ITEM.match(sentence)  # "- Skonto: 3 % bei Zahlung …": a list item as the document lists it
    if item:
        return bool(_SENTENCE_START.match(sentence[item.end():]))
    return bool(first or _SENTENCE_START.match(sentence)) and sentence.rstrip()[-1:] in ".!?:“\")"


_LIST_ITEM = re.compile(r"^- (?=\S)")


def echoed_sentences(text: str, mail: str) -> list[str]:
    """Letter sentences that mostly repeat the customer's words (≥ 60 % of their word pairs are in the mail)."""
    mail_tokens = words(mail)
    mail_pairs = set(zip(mail_tokens, mail_tokens[1:], strict=False))
    found = []
    for sentence in body_sentences(text):
        tokens = words(sentence)
        pairs = set(zip(tokens, tokens[1:], strict=False))
        if len(tokens) >= 4 and len(pairs & mail_pairs) / len(pairs) >= 0.6:
            found.append(sentence)
    return found
