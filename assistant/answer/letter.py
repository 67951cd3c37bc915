"""The reply as a German letter, composed from ``prompts/letter/v<N>.md``, a template the department owns
(versioned, diffed and released like a prompt, rendered in the sandbox). The customer gets clean prose: no
[n] markers and no quote wrappers; the agent sees each paragraph's sources beside it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.knowledge.text import GERMAN_STOPWORDS
from assistant.prompts import PromptVersion

_REPLY_PREFIX = re.compile(r"^\s*(?:(?:re|aw|wg|fw|fwd|antw|antwort|sv)\s*(?:\[\d+\])?\s*:\s*)+", re.I)
_TICKET_TAG = re.compile(r"\[#?\d+\]\s*")
_TAG = re.compile(r"<[^>]{0,200}>")  # HTML in a subject line ("<b>Dringend</b>") is not repeated to the customer
_NOUN = re.compile(r"\b[A-ZÄÖÜ][a-zäöüß]+(?:-[A-ZÄÖÜ][a-zäöüß]+)*\b")
# Capitalised words that are no topic of a question ("Sie", "Ihre", greetings, question words at the start).
_NOT_TOPIC = frozenset(
    """
    sie ihr ihre ihren ihrem ihrer ihnen ich wir was wie wann wo warum wieso weshalb welche welcher welches
    kann können könnten könnte würden würde gibt ist sind bitte danke hallo guten tag frage fragen herr frau
    firma team dank gruß grüße außerdem noch ansonsten zudem weiterhin dann
    """.split()  # noqa: SIM905 - a word list people can read and extend
)


@dataclass(frozen=True)
class Paragraph:
    text: str
    handover: bool
    question: str


def compose_letter(
    template: PromptVersion, company: dict[str, str], paragraphs: list[Paragraph], *, customer: str | None,
    subject: str, language: str, handover: bool, agent: str | None = None,
) -> str:
    sections = [{"text": p.text, "handover": p.handover, "question": p.question, "topic": question_topic(p.question)}
                for p in paragraphs]
    text = template.render_letter(
        company, customer=customer or "", topic=letter_topic(subject), sections=sections, agent=agent or "",
        language=language, handover=handover,
    )
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def letter_topic(subject: str) -> str:
    """The subject without "Re:/AW:" and ticket tags, for "vielen Dank für Ihre Nachricht zum Thema „…“";
    empty when it would read oddly (too long, no letters)."""
    topic = _TICKET_TAG.sub("", _REPLY_PREFIX.sub("", _TAG.sub("", subject))).strip(" -:!?.")
    if not re.search(r"[A-Za-zÄÖÜäöü]{3}", topic) or len(topic) > 70 or topic.lower() in {"frage", "anfrage", "hallo"}:
        return ""
    return topic


_PRONOUNS = frozenset(["ich", "du", "er", "sie", "es", "wir", "ihr", "man"])


def question_topic(question: str) -> str:
    """The question's nouns ("Rechnungsadresse"), to name a handed-over question without repeating it."""
    # the first word is capitalised because it starts the sentence ("Geht …", "Wenn …"), not because it is a noun
    rest = question.split(None, 1)[1] if len(question.split(None, 1)) == 2 else question
    nouns = [w for w in _NOUN.findall(rest) if w.lower() not in _NOT_TOPIC and w.lower() not in GERMAN_STOPWORDS]
    words_ = question.split()
    # "Gutschein noch gültig?" names its topic first; "Könnt ihr sowas anfertigen?" starts with a verb
    if not nouns and not (len(words_) > 1 and words_[1].lower() in _PRONOUNS):
        nouns = [w for w in _NOUN.findall(question) if w.lower() not in _NOT_TOPIC | GERMAN_STOPWORDS]
    unique = list(dict.fromkeys(nouns))[:3]
    if not unique:
        return ""
    return unique[0] if len(unique) == 1 else ", ".join(unique[:-1]) + " und " + unique[-1]
