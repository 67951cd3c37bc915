"""retrieve → prompt → model → a Draft with verified citations, or an honest hand-over to a person.

Quality does not rest on the model alone: (1) an earlier approved answer to the same question is reused;
(2) too little support in the documents means hand-over, without asking the model; (3) the model's
sentences are kept only where the sources back them; (4) the best source sentence is quoted verbatim with
its citation, so the key facts are in the draft even when the model writes nothing usable.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from assistant.domain import Citation, Draft, InputError, SearchHit, checked_text  # noqa: F401 - InputError re-exported
from assistant.embeddings import Embedder
from assistant.grounding import (
    Evidence,
    best_evidence,
    overlap,
    sentences,
    strip_citations,
    support,
    trim_passage,
    verify_sentence,
)
from assistant.knowledge.catalogue import Catalogue, ProvenAnswer
from assistant.knowledge.retrieval import Retriever
from assistant.llm import LLM, count_tokens
from assistant.prompts import PromptVersion

HANDOVER_TEXT = (
    "Vielen Dank für Ihre Nachricht. Zu Ihrer Frage finden wir in unseren Unterlagen keine gesicherte "
    "Auskunft. Wir geben Ihr Anliegen an eine Kollegin oder einen Kollegen weiter, die oder der sich "
    "persönlich bei Ihnen meldet."
)
TokenSink = Callable[[str], None]


@dataclass(frozen=True)
class AnswerPolicy:
    top_k: int = 5
    context_passages: int = 3
    passage_chars: int = 450
    support_threshold: float = 0.15  # idf-weighted share of question words the best passage must contain
    proven_threshold: float = 0.9  # cosine between the new and the approved question
    max_question_chars: int = 8000


class Answerer:
    def __init__(
        self, retriever: Retriever, embedder: Embedder, llm: LLM, prompt: PromptVersion, catalogue: Catalogue,
        company: dict[str, str], policy: AnswerPolicy | None = None,
    ) -> None:
        self.retriever = retriever
        self.embedder = embedder
        self.llm = llm
        self.prompt = prompt
        self.catalogue = catalogue
        self.company = company
        self.policy = policy or AnswerPolicy()

    def draft(self, question: str, on_token: TokenSink | None = None) -> Draft:
        started = time.perf_counter()
        question = self._check(question)
        timings: dict[str, float] = {}
        vector = self.embedder.embed([question])[0]
        proven = self._proven(question, vector)
        timings["proven_ms"] = _ms(started)
        if proven is not None:
            return self._finish(self._from_proven(proven), timings, started)
        step = time.perf_counter()
        hits = self.retriever.search_with_vector(question, vector, self.policy.top_k)
        timings["retrieve_ms"] = _ms(step)
        passages = hits[: self.policy.context_passages]
        evidence = best_evidence(question, passages, lambda texts: list(self.embedder.embed(texts) @ vector))
        timings["evidence_ms"] = _ms(step)
        supported = support(question, passages, self.retriever.idf)
        if not evidence or supported < self.policy.support_threshold:
            draft = self._base(HANDOVER_TEXT, handover=True, method="handover", sources=hits)
            draft.notes.append("Zu wenig Beleg in den Unterlagen – Übergabe an eine Person.")
            return self._finish(draft, timings, started)
        usage: dict[str, int] = {}
        generated = self._generate(question, passages, on_token, timings, usage)
        draft = self._compose(question, passages, generated, evidence, hits)
        draft.model_text, draft.usage = generated, {**usage, **draft.usage}
        return self._finish(draft, timings, started)

    def _check(self, question: str) -> str:
        return checked_text(question, self.policy.max_question_chars, "Die Frage")

    def _proven(self, question: str, vector: np.ndarray) -> ProvenAnswer | None:
        candidates = self.catalogue.proven_answers()
        if not candidates:
            return None
        matrix = self.embedder.embed([c.question for c in candidates])
        similarity = matrix @ vector
        best = int(np.argmax(similarity))
        same_topic = min(overlap(question, candidates[best].question), overlap(candidates[best].question, question))
        if similarity[best] >= self.policy.proven_threshold and same_topic >= 0.6:
            return candidates[best]
        return None

    def _generate(
        self, question: str, passages: list[SearchHit], on_token: TokenSink | None, timings: dict[str, float],
        usage: dict[str, int],
    ) -> str:
        step = time.perf_counter()
        shown = [p.model_copy(update={"text": trim_passage(question, p, self.policy.passage_chars)}) for p in passages]
        messages = self.prompt.render(self.company, question=question, passages=shown)
        timings["prompt_ms"] = _ms(step)
        step = time.perf_counter()
        pieces: list[str] = []
        for piece in self.llm.stream(messages, self.prompt.meta.params):
            if not pieces:
                timings["first_token_ms"] = _ms(step)
            pieces.append(piece)
            if on_token:
                on_token(piece)
        timings["generate_ms"] = _ms(step)
        usage["prompt_tokens"] = count_tokens(self.llm, "\n".join(m["content"] for m in messages))
        usage["completion_tokens"] = len(pieces)  # llama.cpp and OpenAI servers stream one token per piece
        return "".join(pieces)

    def _compose(
        self, question: str, passages: list[SearchHit], generated: str, evidence: list[Evidence],
        hits: list[SearchHit],
    ) -> Draft:
        kept: list[tuple[str, int]] = []
        rejected = 0
        for sentence in dict.fromkeys(sentences(generated)):  # the tiny model repeats itself
            verdict = verify_sentence(sentence, question, passages)
            if verdict.passage is None:
                rejected += 1
            else:
                kept.append((_without_citations(sentence), verdict.passage))
        quote = evidence[0]
        covered = any(overlap(quote.sentence, text) >= 0.7 for text, _ in kept)
        parts = list(kept)
        if not covered:
            parts.append((f"Aus unseren Unterlagen: „{quote.sentence}“", quote.passage))
        text, citations = _number_citations(parts, passages, question)
        draft = self._base(text, handover=False, method="generated" if kept else "extractive", sources=hits)
        draft.citations = citations
        draft.usage = {"kept_sentences": len(kept), "rejected_sentences": rejected}
        if rejected:
            draft.notes.append(f"{rejected} Modellsatz/-sätze ohne Beleg verworfen.")
        return draft

    def _from_proven(self, proven: ProvenAnswer) -> Draft:
        draft = self._base(proven.answer, handover=False, method="proven", sources=[])
        draft.citations = [Citation(**c) for c in json.loads(proven.citations)]
        draft.notes.append(f"Bewährte Antwort Nr. {proven.id}, freigegeben von {proven.approved_by}.")
        return draft

    def _base(self, text: str, handover: bool, method: str, sources: list[SearchHit]) -> Draft:
        return Draft(
            answer=text, handover=handover, method=method,
            prompt_version=self.prompt.ref, model=self.llm.name, model_sha256=self.llm.sha256, sources=sources,
        )

    @staticmethod
    def _finish(draft: Draft, timings: dict[str, float], started: float) -> Draft:
        timings["total_ms"] = _ms(started)
        draft.timings_ms = {k: round(v, 1) for k, v in timings.items()}
        return draft


def _without_citations(sentence: str) -> str:
    """The sentence without the model's [n] (the verified source is cited instead), and without the space
    that removing it leaves before a full stop."""
    return re.sub(r"\s+([.,;:!?])", r"\1", " ".join(strip_citations(sentence).split()))


def _number_citations(
    parts: list[tuple[str, int]], passages: list[SearchHit], question: str
) -> tuple[str, list[Citation]]:
    """Renumber cited passages 1..m in order of first use; each citation quotes its best source sentence."""
    numbering: dict[int, int] = {}
    lines = []
    for text, passage in parts:
        n = numbering.setdefault(passage, len(numbering) + 1)
        lines.append(f"{text.rstrip()} [{n}]")
    citations = []
    for passage, n in numbering.items():
        hit = passages[passage - 1]
        related = " ".join(text for text, p in parts if p == passage)
        quote = max(sentences(hit.text), key=lambda s: overlap(related + " " + question, s), default=hit.text)
        citations.append(Citation(n=n, source=hit.source, chunk_id=hit.chunk_id, quote=quote))
    return " ".join(lines), citations


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000.0
