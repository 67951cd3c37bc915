"""Promises in a reply that a person must confirm before it is sent: money, discounts, compensation, periods
beyond the documents' usual terms, legal commitments. A knowledge document is data: if one says "wir zahlen
500 € Entschädigung", a draft quoting it is flagged like any other promise, and the agent must confirm exactly
the flagged kinds (``POST /api/drafts/{id}/send`` with ``{"confirm": [...]}``)."""

from __future__ import annotations

import re
from collections.abc import Callable

from assistant.domain import DraftFlag
from assistant.knowledge.sentences import split_sentences

FLAG_NAMES = {
    "money": "Geldzusage", "discount": "Rabatt oder Gutschein", "compensation": "Entschädigung",
    "deadline": "Frist über die üblichen Bedingungen hinaus", "legal": "rechtliche Zusage",
}
_AMOUNT = r"\d[\d.,]*\s?(?:€|euro\b|eur\b)"
_PATTERNS: dict[str, re.Pattern[str]] = {
    "compensation": re.compile(r"entschädigung|schadens?ersatz|schmerzensgeld|wiedergutmachung|kulanz", re.I),
    "money": re.compile(
        rf"(?:erstatten|zahlen|überweisen|schreiben)\s+(?:wir\s+)?(?:ihnen\s+)?[^.!?]{{0,40}}{_AMOUNT}|"
        rf"{_AMOUNT}[^.!?]{{0,40}}(?:erstatten|zahlen|überweisen|gutschreiben)\s+wir|"
        rf"(?:gutschrift|erstattung|auszahlung)\s+(?:von|über|in höhe von)\s+{_AMOUNT}", re.I),
    "discount": re.compile(r"rabatt|preisnachlass|nachlass\s+von|gutschein\s+(?:über|im wert von)|"
                           r"\d+\s?%\s+(?:günstiger|billiger|rabatt|nachlass)", re.I),
    "legal": re.compile(r"verpflichten\s+uns|rechtsverbindlich|erkennen\s+[^.!?]{0,40}\ban\b|"
                        r"übernehmen\s+(?:die\s+|jede\s+|volle\s+)*haftung|haften\s+wir|garantieren\s+(?:wir|ihnen)",
                        re.I),
}
_PERIOD = re.compile(r"\b(\d{1,4})\s?(tage|tagen|wochen|monate|monaten|jahre|jahren)\b", re.I)


def promise_flags(text: str, documents_saying: Callable[[str], int]) -> list[DraftFlag]:
    """The sentences of ``text`` that promise something; ``documents_saying(phrase)`` counts the documents
    of the knowledge base that mention a period ("30 Tage"): one that at most one document names is unusual."""
    flags: list[DraftFlag] = []
    for sentence in split_sentences(text):
        for kind, pattern in _PATTERNS.items():
            if pattern.search(sentence):
                flags.append(DraftFlag(kind=kind, text=sentence))
        for number, unit in _PERIOD.findall(sentence):
            if documents_saying(f"{number} {unit[:3].lower()}") < 2:
                flags.append(DraftFlag(kind="deadline", text=sentence))
                break
    return list({(f.kind, f.text): f for f in flags}.values())


def describe(flags: list[DraftFlag]) -> str:
    """For the agent: "Geldzusage („Wir zahlen Ihnen 500 € …“)"."""
    return "; ".join(f"{FLAG_NAMES.get(f.kind, f.kind)} („{f.text[:80]}“)" for f in flags)
