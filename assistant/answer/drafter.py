"""A customer mail → a reply letter: read the mail like a person, answer each question from its own passages
or hand it over honestly, compose the letter from the department's template, and number the sources per
paragraph for the agent."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace

from assistant.answer.letter import Paragraph, compose_letter
from assistant.answer.question import Answered, AnswerPolicy, QuestionAnswerer, TokenSink, countries
from assistant.domain import Citation, Draft, DraftSection, SearchHit, checked_text
from assistant.embeddings import Embedder
from assistant.errors import InputError
from assistant.knowledge.catalogue import Catalogue
from assistant.knowledge.retrieval import Retriever
from assistant.knowledge.text import content_terms
from assistant.llm import LLM
from assistant.prompts import PromptVersion
from assistant.reading import Question, ReadMail, read_mail

_CONCERNS = {
    "legal_threat": "Rechtliche Schritte angekündigt – bitte persönlich antworten (keine Zusagen im Entwurf).",
    "damage_claim": "Schadensersatz oder Entschädigung gefordert – bitte persönlich prüfen (keine Zusagen im Entwurf).",
    "money_demand": "Geld, Rabatt oder Gutschein gefordert – das entscheidet eine Person (keine Zusagen im Entwurf).",
    "third_party_data": "Es werden Daten einer anderen Person erfragt – nicht herausgeben, bitte persönlich antworten.",
}

_EARLIER_CHARS = 600  # of the customer's earlier messages: the context of a short follow-up question
_SHORT_TERMS = 4  # a question with fewer topic words leans on its context (as retrieval's query does)


@dataclass(frozen=True)
class Conversation:
    """The thread before the customer's newest message (assistant/tickets/threads.py): context, never a question.
    ``customer``: their earlier messages, oldest first — what a short follow-up ("Und was kostet das?") is about;
    ``told``: the answers they got from us, oldest first — not said again, like a quoted history."""

    customer: tuple[str, ...] = ()
    told: tuple[str, ...] = ()


class Answerer:
    def __init__(
        self, retriever: Retriever, embedder: Embedder, llm: LLM, prompt: PromptVersion, letter: PromptVersion,
        catalogue: Catalogue, company: dict[str, str], policy: AnswerPolicy | None = None,
    ) -> None:
        self.prompt = prompt
        self.letter = letter
        self.llm = llm
        self.company = company
        self.policy = policy or AnswerPolicy()
        self.questions = QuestionAnswerer(retriever, embedder, llm, prompt, catalogue, company, self.policy)

    def draft(self, question: str, on_token: TokenSink | None = None) -> Draft:
        """A single question, as from ``kontor ask`` (read like a mail without subject)."""
        return self.reply("", checked_text(question, self.policy.max_question_chars, "Die Frage"), on_token=on_token)

    def reply(
        self, subject: str, body: str, customer: str | None = None, agent: str | None = None,
        on_token: TokenSink | None = None, conversation: Conversation | None = None,
    ) -> Draft:
        """``body``: the message to answer, the only source of questions; ``conversation``: what came before it."""
        started = time.perf_counter()
        if not (subject.strip() or body.strip()):
            raise InputError("Die Nachricht ist leer.")
        mail = read_mail(subject, body[: self.policy.max_question_chars], customer)
        timings: dict[str, float] = {}
        usage: dict[str, int] = {}
        own = "\n".join(line for line in body.splitlines() if not line.lstrip().startswith(">"))
        earlier = _earlier(subject, conversation.customer) if conversation else ""
        told = "\n\n".join(t for t in (mail.quoted, *(conversation.told if conversation else ())) if t.strip())
        # a customer who names no country writes from the company's own (its documents' "innerhalb Deutschlands")
        places = countries(f"{subject}\n{own}") or countries(earlier) or frozenset(
            {self.company.get("country", "Deutschland")})
        if earlier:
            mail = replace(mail, questions=[_with_earlier(q, earlier) for q in mail.questions])
        answers = self._answers(mail, subject, on_token, timings, usage, places, told)
        whole_handover = mail.concern is not None or mail.language != "de" or not answers or all(
            a.handover for a in answers)
        draft = self._letter(mail, subject, answers, whole_handover, agent)
        draft.notes = _notes(mail, answers, whole_handover)
        if len(body) > self.policy.max_question_chars:
            limit = self.policy.max_question_chars
            draft.notes.append(f"Sehr lange Nachricht: nur die ersten {limit} Zeichen gelesen.")
        draft.model_text = "\n".join(a.model_text for a in answers if a.model_text)
        draft.usage = {**usage, "kept_sentences": sum(a.kept for a in answers),
                       "rejected_sentences": sum(a.rejected for a in answers)}
        timings["total_ms"] = (time.perf_counter() - started) * 1000.0
        draft.timings_ms = {k: round(v, 1) for k, v in timings.items()}
        return draft

    def _answers(
        self, mail: ReadMail, subject: str, on_token: TokenSink | None, timings: dict[str, float],
        usage: dict[str, int], places: frozenset[str], told: str,
    ) -> list[Answered]:
        """``places``: the countries subject and mail name, signature included ("6020 Innsbruck | Österreich");
        ``told``: the quoted history and the answers we sent before."""
        if mail.concern is not None or mail.language != "de" or mail.only_thanks:
            return []
        single, used = len(mail.questions) == 1, set[str]()
        answers = []
        for question in mail.questions:
            answer = self.questions.answer(question, subject, mail.body, on_token, timings, usage, single, used,
                                           places, told=told)
            used.update(sentence for _, sentence in answer.quotes)
            used.update(citation.quote for citation in answer.proven)  # a proven paragraph says its sources too
            answers.append(answer)
        return answers

    def _letter(
        self, mail: ReadMail, subject: str, answers: list[Answered], whole_handover: bool, agent: str | None
    ) -> Draft:
        citations, sections = _number(answers)
        paragraphs = [Paragraph(s.text, s.handover, s.question) for s in sections]
        text = compose_letter(self.letter, self.company, paragraphs, customer=mail.customer_name, subject=subject,
                              language=mail.language, handover=whole_handover, agent=agent)
        hits = [h for a in answers for h in a.hits]
        return Draft(
            answer=text, citations=[] if whole_handover else citations,
            sections=[replace_handover(s) for s in sections] if whole_handover else sections,
            handover=whole_handover, method=_method(answers, whole_handover),
            prompt_version=self.prompt.ref, model=self.llm.name, model_sha256=self.llm.sha256,
            sources=list({h.chunk_id: h for h in hits}.values()),
        )


def _earlier(subject: str, messages: tuple[str, ...]) -> str:
    """The customer's own words in their earlier messages (no quotes, greetings or signatures), the newest
    ``_EARLIER_CHARS`` of them."""
    text = " ".join(" ".join(read_mail(subject, message).body.split()) for message in messages).strip()
    if len(text) <= _EARLIER_CHARS:
        return text
    return text[-_EARLIER_CHARS:].split(" ", 1)[-1]  # from a whole word on


def _with_earlier(question: Question, earlier: str) -> Question:
    """A short question ("Und was kostet das?") with the earlier messages before its own context: they say what it
    is about. A question that names its topic stays as it is."""
    if len(content_terms(question.text)) >= _SHORT_TERMS:
        return question
    return Question(question.text, f"{earlier} {question.context}".strip())


def replace_handover(section: DraftSection) -> DraftSection:
    return section.model_copy(update={"handover": True, "citations": [], "method": "handover"})


def _number(answers: list[Answered]) -> tuple[list[Citation], list[DraftSection]]:
    """Number the cited passages 1..m in order of first use across the letter; each section lists its numbers."""
    citations: list[Citation] = []
    numbering: dict[tuple[str, str], int] = {}
    sections = []
    for answer in answers:
        own: list[int] = []
        for hit, sentence in answer.quotes:
            key = (hit.chunk_id, sentence)
            if key not in numbering:
                numbering[key] = len(citations) + 1
                citations.append(Citation(n=numbering[key], source=hit.source, chunk_id=hit.chunk_id,
                                          quote=quote_in_source(hit, sentence)))
            own.append(numbering[key])
        for proven in answer.proven:
            citations.append(proven.model_copy(update={"n": len(citations) + 1}))
            own.append(len(citations))
        sections.append(DraftSection(question=answer.question, text=answer.text, handover=answer.handover,
                                     method=answer.method, citations=list(dict.fromkeys(own)),
                                     support=round(answer.support, 3)))
    return citations, sections


def quote_in_source(hit: SearchHit, sentence: str) -> str:
    """The quote as it stands in the passage: a table row is quoted as its row, not as the readable sentence."""
    if sentence in hit.text:
        return sentence
    first = re.match(r"Für (.+?) gilt:", sentence)
    if first:
        for line in hit.text.splitlines():
            if line.lstrip().startswith("|") and first.group(1) in line:
                return line.strip()
    return sentence


def _method(answers: list[Answered], whole_handover: bool) -> str:
    if whole_handover:
        return "handover"
    methods = {a.method for a in answers if not a.handover}
    return next(m for m in ("generated", "extractive", "proven") if m in methods)


def _notes(mail: ReadMail, answers: list[Answered], whole_handover: bool) -> list[str]:
    notes = list(mail.notes)
    if mail.concern in _CONCERNS:
        notes.append(_CONCERNS[mail.concern])
    if mail.language == "en":
        notes.append("Die Nachricht ist auf Englisch – bitte auf Englisch antworten.")
    elif mail.language != "de":
        notes.append("Die Nachricht ist weder Deutsch noch Englisch – bitte persönlich beantworten.")
    if mail.only_thanks:
        notes.append("Die Nachricht enthält nur einen Dank – eine Antwort ist meist nicht nötig.")
    elif not mail.questions and mail.concern is None:
        notes.append("In der Nachricht wurde keine Frage gefunden – bitte persönlich antworten.")
    handed = [a for a in answers if a.handover]
    if handed and not whole_handover:
        notes.append(f"{len(handed)} von {len(answers)} Fragen ohne sicheren Beleg – im Brief als Übergabe vermerkt.")
    for answer in answers:
        notes.extend(answer.notes)
    return list(dict.fromkeys(notes))

