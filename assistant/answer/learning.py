"""Proven answers learned from approvals: when a person approves a draft, each paragraph that answered one of the
customer's questions from the documents becomes the proven answer to that question, for the next customer who
asks it in other words (assistant/answer/proven.py reuses it).

Learned: the question as the customer wrote it, the paragraph as approved (after an edit: the approved letter's
paragraph that corresponds to the drafted one), its citations, who approved it, the ticket and draft it came
from and the countries the mail named. Not learned: hand-overs, a proven answer reused unchanged, a paragraph the
agent removed or rewrote beyond recognition, a question that does not name its topic (it would never be reused),
and anything that carries personal data from the ticket – the customer's name, an e-mail address from the mail, a
number from the mail that the sources do not give (order, customer, phone number), any long number the sources do
not give – since other customers will read it.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any

from assistant.answer.places import countries
from assistant.answer.proven import stands_alone
from assistant.grounding import overlap
from assistant.knowledge.catalogue import Catalogue
from assistant.knowledge.text import content_terms
from assistant.reading import read_mail

log = logging.getLogger("kontor.proven")

MIN_MATCH = 0.3  # how alike a drafted and an approved paragraph must be (½ shared words, ½ the question's words)
_PARAGRAPH = re.compile(r"\n[ \t]*\n")
_SALUTATION = re.compile(r"^(?:guten tag|sehr geehrte|hallo|liebe|lieber|moin|servus|grüß gott|dear|hi)\b[^\n]{0,80}$",
                         re.I)
_CLOSING = re.compile(r"^(?:mit freundlichen grüßen|freundliche grüße|viele grüße|beste grüße|herzliche grüße|"
                      r"liebe grüße|mfg\b|wenn sie (?:noch )?(?:weitere )?fragen haben)", re.I)
_COURTESY = re.compile(r"^(?:(?:vielen|herzlichen|besten) dank|danke)\b[^.!?\n]*[.!]\s+|"
                       r"^gerne? (?:beantworte|helfe|informiere)\b[^.!?\n]*[.!:]\s+", re.I)
# A paragraph that passes the question on is a hand-over, whatever the draft said.
_HANDOVER = re.compile(r"\b(?:kollegin|kollegen?|weitergegeben|weitergeleitet|meldet sich|melden uns|melde mich)\b",
                       re.I)
_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_DIGITS = re.compile(r"\d(?:[\d .\-/]*\d)?")
_LONG_NUMBER = 6  # digits: an order, tracking, phone or bank number, not a price or a period
_NOT_NAMES = frozenset(  # titles, particles and legal forms in a customer's name are nobody's name
    "frau herr familie dr prof dipl ing von van de der den und gmbh mbh ag kg ug ohg co".split()  # noqa: SIM905
)


@dataclass(frozen=True)
class Approved:
    """An approved draft as stored, with the ticket it answers."""

    ticket_id: int
    draft_id: int
    approved_by: str
    customer: str  # name and/or address as the mail gave it
    customer_email: str
    subject: str
    body: str
    generated: str  # the letter as drafted
    text: str  # the letter as approved
    sections: list[dict[str, Any]]  # DraftSection dumps
    citations: list[dict[str, Any]]  # Citation dumps


@dataclass(frozen=True)
class Lesson:
    question: str
    answer: str
    citations: list[dict[str, Any]]  # renumbered from 1


@dataclass
class Learned:
    ids: list[int] = field(default_factory=list)
    lessons: list[Lesson] = field(default_factory=list)  # the stored ones, in the order of ``ids``
    skipped: Counter[str] = field(default_factory=Counter)  # why paragraphs were not learned, by reason


class ProvenLearner:
    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue

    def learn(self, approved: Approved) -> Learned:
        """Store the approved draft's lessons; a catalogue that cannot be written leaves the approval standing."""
        learned = Learned()
        found, learned.skipped = lessons(approved)
        places = mail_countries(approved.subject, approved.body)
        try:
            for lesson in found:
                new_id = self.catalogue.add_proven(
                    lesson.question, lesson.answer, json.dumps(lesson.citations, ensure_ascii=False),
                    approved.approved_by, ticket_id=approved.ticket_id, draft_id=approved.draft_id, countries=places)
                if new_id is None:
                    learned.skipped["duplicate"] += 1
                else:
                    learned.ids.append(new_id)
                    learned.lessons.append(lesson)
        except sqlite3.Error:
            log.exception("proven answers of draft %s not stored", approved.draft_id)
        return learned

    def withdraw(self, draft_id: int) -> list[int]:
        """Remove what this draft taught: its approval no longer holds (edited, rejected, taken back)."""
        ids = self.catalogue.proven_of(drafts=[draft_id])
        self.forget(ids)
        return ids

    def forget(self, ids: list[int]) -> None:
        if ids:
            self.catalogue.remove_proven(ids)


def mail_countries(subject: str, body: str) -> frozenset[str]:
    """The countries subject and mail name, as drafting sees them (quoted history aside)."""
    own = "\n".join(line for line in body.splitlines() if not line.lstrip().startswith(">"))
    return countries(f"{subject}\n{own}")


def lessons(approved: Approved) -> tuple[list[Lesson], Counter[str]]:
    """The question/answer pairs an approved draft teaches, and why the other paragraphs teach nothing."""
    skipped: Counter[str] = Counter()
    answered = {}
    for index, section in enumerate(approved.sections):
        reason = _not_answered(section)
        if reason:
            skipped[reason] += 1
        else:
            answered[index] = section
    matched = approved_paragraphs(approved, answered)
    private = _private(approved)
    found = []
    for index, section in answered.items():
        reason = _problem(section, matched.get(index), approved, private)
        if reason:
            skipped[reason] += 1
            _log_skip(approved.draft_id, index, reason)
        else:
            found.append(Lesson(section["question"], _without_courtesy(matched[index]), _citations(section, approved)))
    return found, skipped


def _not_answered(section: dict[str, Any]) -> str | None:
    if section.get("handover") or section.get("method") == "handover":
        return "handover"
    if not stands_alone(section.get("question", "")):
        return "question_without_topic"
    return None


def _problem(section: dict[str, Any], paragraph: str | None, approved: Approved, private: _Private) -> str | None:
    if paragraph is None:
        return "paragraph_not_found"
    if section.get("method") == "proven" and _same(paragraph, section["text"]):
        return "proven_unchanged"
    if _HANDOVER.search(paragraph) or not _without_courtesy(paragraph):
        return "handover"
    sources = "\n".join([section["text"], *(c["quote"] for c in _citations(section, approved))])
    return private.found(section["question"], sources) or private.found(paragraph, sources)


def _log_skip(draft_id: int, index: int, reason: str) -> None:
    """Ids and the reason only: the log keeps no customer text."""
    if reason in ("name", "address", "number"):
        log.info("draft %s, paragraph %s: not learned as a proven answer – it contains personal data from the "
                 "ticket (%s)", draft_id, index + 1, reason)
    else:
        log.info("draft %s, paragraph %s: not learned as a proven answer (%s)", draft_id, index + 1, reason)


# --- which approved paragraph is the drafted one -----------------------------------------------------------------

def approved_paragraphs(approved: Approved, sections: dict[int, dict[str, Any]] | None = None) -> dict[int, str]:
    """Section index → the approved letter's paragraph that answers it (of ``sections``, default: all)."""
    chosen = sections if sections is not None else dict(enumerate(approved.sections))
    paragraphs = _paragraphs(approved.text, approved.generated, approved.sections)
    return _matched({i: (s["question"], s["text"]) for i, s in chosen.items()}, paragraphs)


def _paragraphs(text: str, generated: str, sections: list[dict[str, Any]]) -> list[str]:
    """The approved letter's paragraphs that can be answers: not the salutation, the template's fixed lines
    (the drafted letter's paragraphs that are no section) or the closing."""
    answers = {_norm(s.get("text", "")) for s in sections}
    frame = {_norm(p) for p in _split(generated)} - answers
    return [p for p in _split(text) if _norm(p) not in frame and not _SALUTATION.match(p) and not _CLOSING.match(p)]


def _split(text: str) -> list[str]:
    return [p.strip() for p in _PARAGRAPH.split(text) if p.strip()]


def _matched(drafted: dict[int, tuple[str, str]], paragraphs: list[str]) -> dict[int, str]:
    """Each drafted paragraph (by its question and text) → the approved paragraph that is it: unchanged, or after
    an edit the one most alike that also answers its question (an agent who rewrites a paragraph that missed the
    question keeps its place, not its words); one to one, the best pairs first; none when it was removed."""
    pairs = sorted(((_match_score(question, text, p), i, j) for i, (question, text) in drafted.items()
                    for j, p in enumerate(paragraphs)), reverse=True)
    matched: dict[int, str] = {}
    taken: set[int] = set()
    for score, i, j in pairs:
        if score >= MIN_MATCH and i not in matched and j not in taken:
            matched[i] = paragraphs[j]
            taken.add(j)
    return matched


def _match_score(question: str, drafted: str, approved: str) -> float:
    return 0.5 * _likeness(drafted, approved) + 0.5 * overlap(question, approved)


def _likeness(a: str, b: str) -> float:
    """Dice coefficient of the topic words; 1 for the same text."""
    if _same(a, b):
        return 1.0
    terms_a, terms_b = set(content_terms(a)), set(content_terms(b))
    if not terms_a or not terms_b:
        return 0.0
    return 2 * len(terms_a & terms_b) / (len(terms_a) + len(terms_b))


def _without_courtesy(paragraph: str) -> str:
    """ "vielen Dank für Ihre Anfrage. Der Versand …" → "Der Versand …": the thanks belong to the letter."""
    text = paragraph.strip()
    while (stripped := _COURTESY.sub("", text, count=1)) != text:
        text = stripped
    return text[:1].upper() + text[1:]


def _citations(section: dict[str, Any], approved: Approved) -> list[dict[str, Any]]:
    by_number = {c["n"]: c for c in approved.citations}
    own = [by_number[n] for n in section.get("citations", []) if n in by_number]
    return [{**c, "n": n} for n, c in enumerate(own, start=1)]


# --- personal data from the ticket -------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Private:
    names: frozenset[str]  # the words of the customer's names
    addresses: frozenset[str]  # e-mail addresses in the mail, lower case
    numbers: frozenset[str]  # digit groups of the mail (order, customer, phone numbers …)

    def found(self, text: str, sources: str) -> str | None:
        """What kind of personal data ``text`` carries ("name", "address", "number"), or None. A number the
        sources give (a price, a limit) is the company's, not the customer's."""
        if any(re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text, re.I) for name in self.names):
            return "name"
        found = {address.lower() for address in _ADDRESS.findall(text)}
        if any(address in self.addresses and address not in sources.lower() for address in found):
            return "address"
        given = {_digits(g) for g in _DIGITS.findall(sources)}
        for group in {_digits(g) for g in _DIGITS.findall(text)} - given:
            if len(group) >= _LONG_NUMBER or (len(group) >= 4 and any(group in n for n in self.numbers)):
                return "number"
        return None


def _private(approved: Approved) -> _Private:
    display = parseaddr(approved.customer)[0] or None
    signed = read_mail(approved.subject, approved.body, display).customer_name
    names = [n for n in (display, signed, _ADDRESS.sub(" ", approved.customer)) if n]  # "Maria Huber" alone too
    words = {w for n in names for part in re.findall(r"[^\W\d_]+(?:-[^\W\d_]+)*", n)
             for w in {part, *part.split("-")} if len(w) >= 3 and w.lower() not in _NOT_NAMES}
    mail = f"{approved.customer}\n{approved.customer_email}\n{approved.subject}\n{approved.body}"
    numbers = {_digits(g) for g in _DIGITS.findall(mail)}
    addresses = {address.lower() for address in _ADDRESS.findall(mail)}
    return _Private(frozenset(words), frozenset(addresses), frozenset(n for n in numbers if len(n) >= 4))


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _same(a: str, b: str) -> bool:
    return _norm(a) == _norm(b)


def _norm(text: str) -> str:
    return " ".join(text.split())
