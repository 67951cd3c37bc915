"""One customer question → its answer paragraph from the documents, or an honest hand-over.

Quality does not rest on the model alone: (1) an approved answer to a paraphrase of the question is reused;
(2) too little support in the documents means hand-over, without asking the model; (3) the sentences that
answer the question are chosen from the retrieved passages (meaning similarity, the question's rare words and
numbers) and used whole; (4) the model's sentences are kept only where the sources back them and never when
they repeat the customer's own words.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from assistant.answer import rows
from assistant.answer.places import countries
from assistant.answer.proven import ProvenIndex
from assistant.domain import AnswerMethod, Citation, SearchHit
from assistant.embeddings import Embedder
from assistant.grounding import overlap, sentences, strip_citations, support, trim_passage, verify_sentence
from assistant.knowledge.catalogue import Catalogue, ProvenAnswer
from assistant.knowledge.retrieval import Retriever
from assistant.knowledge.sentences import (
    LOADED_ROW,
    ORDINAL_NOUN,
    is_contact,
    is_list,
    readable_list,
    readable_row,
    readable_table,
)
from assistant.knowledge.synonyms import same_as
from assistant.knowledge.text import content_terms, numbers, words
from assistant.llm import LLM, count_tokens
from assistant.prompts import PromptVersion
from assistant.reading import Question

TokenSink = Callable[[str], None]


@dataclass(frozen=True)
class AnswerPolicy:
    top_k: int = 5
    context_passages: int = 5  # the sentences are chosen from these (measured: 3 → 5 raised fact coverage 0.50 → 0.52)
    model_passages: int = 3  # … and the model sees the first of them (prompt length is the embedded model's time)
    passage_chars: int = 450
    # support = ½ · idf-weighted share of the question's words in the best passage + ½ · how close the best
    # sentence's meaning is (cosine mapped from [dense_floor, dense_floor + dense_span] to [0, 1]); below the
    # threshold the question is handed over. Calibrated by cross-validation: bench/handover_calibration.py.
    support_threshold: float = 0.47
    dense_floor: float = 0.80  # the embedder's similarity range (Embedder.similarity_floor/_span)
    dense_span: float = 0.10
    proven_threshold: float = 0.95  # e5 cosine of the new and the approved question (bench/proven_answers.py)
    max_question_chars: int = 8000
    sentences_per_question: int = 3
    next_sentence_ratio: float = 0.7  # a further sentence from another passage must score this share of the best
    same_passage_ratio: float = 0.4  # … and one from the best sentence's own passage this share
    generate: bool = True  # ask the model per question (its sentences survive only if verified)


@dataclass
class Answered:
    """The answer to one question: clean prose and the source sentences it rests on."""

    question: str
    text: str
    handover: bool
    method: AnswerMethod
    support: float = 0.0
    quotes: list[tuple[SearchHit, str]] = field(default_factory=list)
    proven: list[Citation] = field(default_factory=list)
    hits: list[SearchHit] = field(default_factory=list)
    model_text: str = ""
    kept: int = 0
    rejected: int = 0
    notes: list[str] = field(default_factory=list)


class QuestionAnswerer:
    def __init__(
        self, retriever: Retriever, embedder: Embedder, llm: LLM, prompt: PromptVersion, catalogue: Catalogue,
        company: dict[str, str], policy: AnswerPolicy,
    ) -> None:
        self.retriever = retriever
        self.embedder = embedder
        self.llm = llm
        self.prompt = prompt
        self.proven = ProvenIndex(catalogue, embedder, company.get("country", "Deutschland"), retriever.knows)
        self.company = company
        self.policy = policy

    def answer(
        self, question: Question, subject: str, mail: str, on_token: TokenSink | None, timings: dict[str, float],
        usage: dict[str, int], single: bool = True, used: set[str] | None = None,
        places: frozenset[str] = frozenset(), told: str = "",
    ) -> Answered:
        """``used``: sentences earlier paragraphs of the same letter already say (never said twice); ``places``:
        the countries the mail names (sentences about only other countries are left out); ``told``: the quoted
        history of the thread (what our earlier answer said is not repeated as the answer to a new question)."""
        used = used if used is not None else set()
        query = _query(question, subject, single)

        if len({t for t in content_terms(query) if not t.isdigit()}) < 2:  # "Bestellung 12345", "Frage"
            return Answered(question.text, "", handover=True, method="handover",
                            notes=["Das Anliegen ist zu knapp für eine Antwort aus den Unterlagen – bitte persönlich "
                                   "klären."])
        step = time.perf_counter()
        vector = self.embedder.embed_query([query])[0]
        proven = self._proven(question.text, query, vector, places)
        _add(timings, "proven_ms", step)
        if proven is not None:
            return _from_proven(question.text, *proven)
        step = time.perf_counter()
        # "nach Wien" also searches the words the documents use: Österreich
        hinted = countries(question.query) - countries(question.query, hints=False)
        words_query = f"{query} {' '.join(sorted(hinted))}" if hinted else query
        hits = self.retriever.search_with_vector(words_query, vector, self.policy.top_k)
        _add(timings, "retrieve_ms", step)
        passages = _with_siblings(hits[: self.policy.context_passages], self.retriever, _SIBLINGS_OF)
        # a generic subject ("Mehrere Fragen") must not lower the support of a clear question
        idf = self.retriever.idf
        lexical = max(support(words_query, passages, idf), support(question.query, passages, idf))
        if 2 <= len(content_terms(question.text)) < _TOPIC_TERMS and question.context:
            # a short question searched with its context ("Geht Express?" after "ich brauche ein Geburtstagsgeschenk
            # bis morgen"): words of the context the documents never use must not hand over what it clearly asks
            lexical = max(lexical, support(question.text, passages, idf))
        asks = _asks(query, question.context)
        ask_vectors = [vector]
        if len(asks) > 1:  # each ask brings its own best passages ("Mengenrabatt" and "auf Rechnung")
            step = time.perf_counter()
            ask_vectors = list(self.embedder.embed_query(asks))
            for ask, ask_vector in zip(asks, ask_vectors, strict=True):
                passages += self.retriever.search_with_vector(ask, ask_vector, 2)
            passages = list({p.chunk_id: p for p in passages}.values())
            _add(timings, "retrieve_ms", step)  # retrieval, not the choice of sentences (evidence_ms)
        step = time.perf_counter()
        focus = self._focus(question, query, vector)
        chosen, closest = self._choose(query, vector, passages, mail, used, list(zip(asks, ask_vectors, strict=True)),
                                       focus, places, told, question.context if question.context not in query else "")
        _add(timings, "evidence_ms", step)
        if query != question.query:
            own = self.embedder.embed_query([question.query])[0]
            closest = max(closest, float((self.embedder.embed_passages([c[1] for c in chosen]) @ own).max())
                          if chosen else 0.0)
        meaning = min(max((closest - self.policy.dense_floor) / self.policy.dense_span, 0.0), 1.0)
        supported = 0.5 * lexical + 0.5 * meaning
        if not chosen or supported < self.policy.support_threshold:
            return Answered(question.text, "", handover=True, method="handover", support=supported, hits=hits,
                            notes=[f"Zu wenig Beleg in den Unterlagen ({supported:.0%}) – Übergabe an eine Person."])
        answered = Answered(question.text, "", handover=False, method="extractive", support=supported, hits=hits)
        model_kept: list[tuple[str, SearchHit]] = []
        if self.policy.generate:
            shown = [p for p in passages if p not in hits or p in hits[: self.policy.model_passages]]
            answered.model_text = self._generate(question, shown, on_token, timings, usage)
            model_kept, answered.rejected = self._verified(answered.model_text, question.query, shown, mail)
        self._compose(answered, model_kept, chosen)
        return answered

    # --- the source sentences that answer the question ----------------------------------------------------------

    def _focus(self, question: Question, query: str, vector: np.ndarray) -> tuple[str, np.ndarray]:
        """The customer's own question, which the chosen sentences must answer; the context and subject in the
        query only help to find the passages ("Was kostet das?" after "… per Express …")."""
        if question.text == query or len(content_terms(question.text)) < 2:
            return query, vector  # "Was muss ich tun?" says nothing of its own: its context is the question
        return question.text, self.embedder.embed_query([question.text])[0]

    def _choose(
        self, query: str, vector: np.ndarray, passages: list[SearchHit], mail: str, used: set[str],
        asks: list[tuple[str, np.ndarray]], focus: tuple[str, np.ndarray] | None = None,
        places: frozenset[str] = frozenset(), told: str = "", context: str = "",
    ) -> tuple[list[tuple[SearchHit, str, float]], float]:
        """The sentences that answer the question, and the closest meaning (cosine) any sentence had. A question
        with two asks ("Was kostet …, und wie lange dauert …?") gets the best sentence for each ask first."""
        said: list[tuple[SearchHit | None, str, float]] = [(None, u, 0.0) for u in used]  # earlier paragraphs
        # a data sheet's row answers by the kind of value asked for: "Wie laut …?" is answered by "… 78 dB(A)"
        wanted = _wanted(query)
        candidates = [(rank, hit, s) for rank, hit in enumerate(passages) for s in _order(hit.text)
                      if (_usable(s) or _affirmed(s, hit.section)) and s not in used and not _echo(s, mail)
                      and not _told(s, told) and not _other_country(s, places)
                      and not _two_prices((hit, s, 0.0), said, mail)
                      and (rows.about(s, f"{query} {context}", places, hit.text, mail)
                           or (rows.is_property(s) and any(answer.search(s) for answer in wanted)))]
        candidates += self._whole_tables(passages, f"{query} {context}", focus[0] if focus is not None else query,
                                         mail, used, places)
        if not candidates:
            return [], 0.0
        # a sentence that leans on the one before means what both say ("Die Lieferzeit beträgt dann 5–8 Werktage"
        # after "Großbestellungen … per Spedition")
        matrix = self.embedder.embed_passages([f"{_antecedent(h, s)} {s}".strip() for _, h, s in candidates])
        # a number the customer asks about ("3–5 Tage?") counts, not one they state ("40 Pfannen", an order number)
        asked = numbers(focus[0] if focus is not None else query)
        scored = _typed_first(focus[0] if focus is not None else query,
                              self._scored(query, vector, candidates, matrix, focus, asked, places, context, mail))
        closest = float((matrix @ vector).max())
        if len(asks) < 2:
            return _with_antecedents(self._best_sentences(scored, self._weights(query), query, mail), used), closest
        chosen: list[tuple[SearchHit, str, float]] = []
        owns = _ask_parts(focus[0], 1) if focus is not None else []
        own_vectors: list[np.ndarray] = list(self.embedder.embed_query(owns)) if len(owns) == len(asks) else []
        for number, (ask, ask_vector) in enumerate(asks):
            # the ask's own words lead ("auf Rechnung kaufen"), not the statements it carries ("40 Pfannen …")
            own = (owns[number], own_vectors[number]) if own_vectors else None
            ranked = _typed_first(ask.split(" – ")[-1], self._scored(
                ask, ask_vector, candidates, matrix, own, asked & numbers(ask), places, context, mail))
            if any(ranked[0][1] == c[1] for c in chosen):
                # "kostet 5,90 € und dauert 3–5 Werktage" answers both asks: no second best for this one, unless
                # the ask wants a kind of answer that sentence lacks ("Was kostet der und wie viele Leute …?")
                other = self._typed_alternative(ask, ranked, chosen, query, mail)
                if other is not None:
                    chosen.append(other)
                continue
            best = next((c for c in ranked if _fits(c, chosen, query, mail)), None)
            if best is not None:
                chosen.append(best)
        return _with_antecedents(chosen[: self.policy.sentences_per_question], used), closest

    @staticmethod
    def _whole_tables(
        passages: list[SearchHit], query: str, own: str, mail: str, used: set[str], places: frozenset[str]
    ) -> list[tuple[int, SearchHit, str]]:
        """A table the customer asks about as a whole ("Wann hat Ihr Werksverkauf geöffnet?"), given with all its
        rows, when it gives the kind of answer the question wants (times for "wann"); not a table of countries when
        the mail's country is known (its row alone answers)."""
        wanted = _wanted(query)
        return [(rank, hit, table) for rank, hit in enumerate(passages) for table in rows.tables(hit.text)
                if table not in used and rows.asks_whole(table, query, hit.section.split(" › ")[-1], mail, own)
                and wanted and any(answer.search(table) for answer in wanted)
                and not (places and countries(table, hints=False))]

    @staticmethod
    def _typed_alternative(
        ask: str, ranked: list[tuple[SearchHit, str, float]], chosen: list[tuple[SearchHit, str, float]], query: str,
        said: str = "",
    ) -> tuple[SearchHit, str, float] | None:
        wanted = _wanted(ask.split(" – ")[-1])
        if not wanted or any(answer.search(ranked[0][1]) for answer in wanted):
            return None
        return next((c for c in ranked[1:] if c[2] >= _TYPED_RATIO * ranked[0][2]
                     and any(answer.search(c[1]) for answer in wanted) and _fits(c, chosen, query, said)), None)

    def _weights(self, text: str, focus: str | None = None) -> dict[str, float]:
        """idf weights of the words; with a focus, words only the context has weigh less than the question's."""
        own = set(content_terms(focus)) if focus else None
        return {t: max(self.retriever.idf(t), 0.1) * (1.0 if own is None or t in own else _CONTEXT_WEIGHT)
                for t in set(content_terms(text))}

    def _scored(
        self, query: str, vector: np.ndarray, candidates: list[tuple[int, SearchHit, str]], matrix: np.ndarray,
        focus: tuple[str, np.ndarray] | None = None, asked: set[str] | None = None,
        places: frozenset[str] = frozenset(), context: str = "", mail: str = "",
    ) -> list[tuple[SearchHit, str, float]]:
        """Candidates by score: meaning (cosine, scaled within this question's candidates), the question's words
        (rare ones weigh more, section titles count), a number the customer named, the passage's rank, the table row
        the customer names (``mail``: where their amounts stand). With a focus, meaning and words count half for the
        question itself and half for the query with its context."""
        dense = matrix @ vector
        if focus is not None and focus[0] != query:
            dense = _FOCUS_SHARE * (matrix @ focus[1]) + (1 - _FOCUS_SHARE) * dense
        low, high = float(dense.min()), float(dense.max())
        own_text = focus[0] if focus is not None and focus[0] != query else None
        # a question that searched alone still has its context's words, weighing less ("keinen Drucker")
        weights = self._weights(f"{query} {context}", own_text or query) if context else self._weights(query, own_text)
        asked_numbers = numbers(query) if asked is None else asked
        wanted = _wanted(query)
        scored = []
        own = focus[0] if focus is not None else query
        for (rank, hit, sentence), cosine in zip(candidates, dense, strict=True):
            # "Dafür berechnen wir 29,00 €" is about what the sentence before it names ("Kostenvoranschlag")
            row = LOADED_ROW.match(sentence)
            subject = hit.title if row else ""  # a data sheet's row names no product: its document does
            lexical = _weighted_share(weights, f"{subject} {hit.section} {_antecedent(hit, sentence)} {sentence}")
            meaning = (float(cosine) - low) / (high - low) if high > low else 1.0
            bonus = 0.15 if asked_numbers & numbers(sentence) else 0.0
            if "\n" not in sentence and row and (rows.named(sentence, own, hit.text, mail) or row.group(1) in places):
                bonus += _ROW_BONUS  # the row of the thing or country the customer names ("Brotmesser …")
            elif "\n" in sentence and row:
                bonus += _ROW_BONUS  # a whole table, asked about as a whole (_whole_tables)
            # the kind of answer counts in proportion to the topic: a period alone is no answer to "wie lange"
            kind = 1.0 + (_TYPE_BONUS if any(answer.search(sentence) for answer in wanted) else 0.0)
            score = ((0.45 * lexical + 0.55 * meaning) * kind + bonus) * (1.0 - _RANK_PENALTY * rank)
            scored.append((hit, sentence, score))
        scored.sort(key=lambda item: item[2], reverse=True)
        return scored

    def _best_sentences(
        self, scored: list[tuple[SearchHit, str, float]], weights: dict[str, float], query: str, said: str = ""
    ) -> list[tuple[SearchHit, str, float]]:
        """The best sentence, then further ones: from the best sentence's own passage (the section that answers
        the question usually says the condition, price or period in the next sentence) when they score
        ``same_passage_ratio`` of the best, from other passages when they score ``next_sentence_ratio`` of it and
        add words of the question."""
        best = scored[0]
        chosen = [best]
        covered = set(content_terms(f"{best[0].section} {best[1]}"))
        total = sum(weights.values()) or 1.0
        for item in scored[1:]:
            if len(chosen) >= self.policy.sentences_per_question:
                break
            same = item[0].chunk_id == best[0].chunk_id
            ratio = self.policy.same_passage_ratio if same else self.policy.next_sentence_ratio
            terms = set(content_terms(f"{item[0].section} {item[1]}"))
            adds = sum(weights[t] for t in weights if t in terms and t not in covered) / total
            near = same and (adds >= _ADDS / 2 or _distance(best, item) <= _NEAR)  # the section's next sentences
            if item[2] >= ratio * best[2] and (near or adds >= _ADDS or item[2] >= 0.9 * best[2]) \
                    and _fits(item, chosen, query, said):
                chosen.append(item)
                covered |= terms
        return chosen

    # --- the model --------------------------------------------------------------------------------------------

    def _generate(
        self, question: Question, passages: list[SearchHit], on_token: TokenSink | None, timings: dict[str, float],
        usage: dict[str, int],
    ) -> str:
        step = time.perf_counter()
        shown = [p.model_copy(update={"text": trim_passage(question.query, p, self.policy.passage_chars)})
                 for p in passages]
        messages = self.prompt.render(self.company, question=question.query, passages=shown)
        _add(timings, "prompt_ms", step)
        step = time.perf_counter()
        pieces: list[str] = []
        for piece in self.llm.stream(messages, self.prompt.meta.params):
            if not pieces and "first_token_ms" not in timings:
                timings["first_token_ms"] = _ms(step)
            pieces.append(piece)
            if on_token:
                on_token(piece)
        _add(timings, "generate_ms", step)
        usage["prompt_tokens"] = usage.get("prompt_tokens", 0) + count_tokens(
            self.llm, "\n".join(m["content"] for m in messages))
        usage["completion_tokens"] = usage.get("completion_tokens", 0) + len(pieces)  # one token per piece
        return "".join(pieces)

    @staticmethod
    def _verified(
        generated: str, question: str, passages: list[SearchHit], mail: str
    ) -> tuple[list[tuple[str, SearchHit]], int]:
        kept: list[tuple[str, SearchHit]] = []
        rejected = 0
        for sentence in dict.fromkeys(sentences(generated)):  # the tiny model repeats itself
            verdict = verify_sentence(sentence, question, passages)
            clean = _without_citations(sentence)
            if verdict.passage is None or _echo(clean, mail) or clean[-1:] not in ".!?":
                rejected += 1
            else:
                kept.append((clean, passages[verdict.passage - 1]))
        return kept, rejected

    @staticmethod
    def _compose(
        answered: Answered, model_kept: list[tuple[str, SearchHit]], chosen: list[tuple[SearchHit, str, float]]
    ) -> None:
        """Model sentences that the sources back and that say more than the chosen source sentences, then each
        chosen source sentence the model did not already say."""
        ordered = sorted(chosen, key=lambda c: _position(c[0], c[1]))
        model_kept = [(text, hit) for text, hit in model_kept
                      if not any(overlap(text, sentence) >= 0.8 for _, sentence, _ in ordered)]
        said = " ".join(text for text, _ in model_kept)
        parts = [text for text, _ in model_kept]
        quotes = [(hit, _best_quote(hit, text)) for text, hit in model_kept]
        for hit, sentence, _ in ordered:
            if not said or overlap(sentence, said) < 0.7:
                parts.append(_finished(_affirmed(sentence, hit.section) or _readable(sentence)))
                quotes.append((hit, sentence))
        answered.text = _joined(parts)
        unique = {(hit.chunk_id, quote): (hit, quote) for hit, quote in quotes}
        answered.quotes = list(unique.values())
        answered.kept = len(model_kept)
        answered.method = "generated" if model_kept else "extractive"
        if answered.rejected:
            answered.notes.append(f"{answered.rejected} Modellsatz/-sätze ohne Beleg verworfen.")

    # --- proven answers ---------------------------------------------------------------------------------------

    def _proven(
        self, question: str, query: str, vector: np.ndarray, places: frozenset[str]
    ) -> tuple[ProvenAnswer, float] | None:
        """An approved answer to the same question in other words; compared with the question alone (the query
        may carry the subject or context, the approved question is the customer's own)."""
        if self.policy.proven_threshold > 1.0:  # switched off (evaluation measures the pipeline, not earlier work)
            return None
        self.retriever.refresh()  # the index asks which words the documents use
        return self.proven.match(question, vector if query == question else None, places,
                                 self.policy.proven_threshold)


def _from_proven(question: str, proven: ProvenAnswer, similarity: float) -> Answered:
    """The approved paragraph; its support is the questions' similarity, and the agent reads where it came from."""
    answered = Answered(question, _without_citations(proven.answer), handover=False, method="proven",
                        support=similarity)
    answered.proven = [Citation(**c) for c in json.loads(proven.citations)]
    origin = f" (gelernt aus Ticket {proven.ticket_id})" if proven.ticket_id is not None else ""
    answered.notes.append(f"Bewährte Antwort Nr. {proven.id}{origin}, freigegeben von {proven.approved_by}.")
    return answered


def _query(question: Question, subject: str, single: bool) -> str:
    """What retrieval searches with: the question (with its context when it is short), and the subject when the
    mail asks one thing (a subject sums it up) or the question is short ("Was kostet das?" under "Versand nach
    Österreich")."""
    # a question that names its topic searches alone (context like "wir wohnen in Winterthur" only adds noise:
    # measured 0.32 → 0.38 fact coverage); a short one ("Gilt da noch Garantie?") needs its context
    query = question.text if len(content_terms(question.text)) >= 4 else question.query
    if subject and (single or len(content_terms(query)) < 4) and subject.lower() not in query.lower():
        query = f"{subject}: {query}"
    return query


_ADDS = 0.15  # a sentence from another passage must add this share of the question's (idf-weighted) words
_RANK_PENALTY = 0.1  # per rank of the sentence's passage in retrieval
_TOPIC_TERMS = 4  # an ask with fewer content words needs its context to say what it is about
_CONTEXT_WEIGHT = 0.4  # a context word counts this share of a question word when choosing sentences
_FOCUS_SHARE = 0.5  # share of the question's own meaning (vs. the query with context) in the sentence score

# What kind of answer a question wants: "Was kostet …?" a price, "Wie lange …?" a period. A sentence that
# gives that kind of answer is preferred over one that only shares the topic ("Kochkurse finden regelmäßig
# statt" for "Was kostet der Kochkurs?").
_ANSWER_TYPES = [
    (re.compile(r"(?i)\b(?:kost\w*|preis\w*|teuer|gebühr\w*|zuschlag|aufpreis|berechne\w*|umsonst|gratis|"
                r"wie ?viel euro|versandkostenfrei)"),
     re.compile(r"(?i)\d\s?€|\bEuro\b|\bkosten(?:los|frei)\b|\bgratis\b|\bohne Aufpreis\b")),
    (re.compile(r"(?i)\bwie lange?\b|\bdauer\w*|\bbis wann\b|\bfrist\w*|\bgültig\w*"),
     re.compile(r"(?i)\b(?:\d+|eine[nr]?|zwei|drei|vier|fünf|sechs|sieben|acht|zehn|vierzehn|dreißig)(?:\s?[–-]\s?\d+)?\s?"
                r"(?:Werktage?n?|Arbeitstage?n?|Tage?n?|Wochen?|Monate?n?|Jahre?n?|Stunden?|Minuten?)\b")),
    # "Wie viele Leute …?": a count; "Wie schwer …?", "Wie laut …?", "Wie viel Watt …?", "Wie groß …?": its measure
    (re.compile(r"(?i)\bwie viele\b|\bwieviele\b|\banzahl\b"),
     re.compile(r"(?i)\b\d+\s?(?:[–-]\s?\d+\s?)?(?:Personen|Teilnehmer\w*|Stück|Plätze|Stufen)\b")),
    (re.compile(r"(?i)\bwie schwer\b|\bgewicht\b|\bwiegt\b"), re.compile(r"\b\d+(?:[,.]\d+)?\s?(?:kg|g)\b")),
    (re.compile(r"(?i)\bwie laut\b|\blautstärke\b|\bgeräusch\w*"), re.compile(r"\bdB\b|\bdB\(A\)")),
    (re.compile(r"(?i)\bwatt\b|\bleistung\b|\bwie stark\b"), re.compile(r"\b\d+\s?(?:Watt|W)\b")),
    (re.compile(r"(?i)\bwie (?:groß|breit|hoch|tief)\b|\bmaße\b|\bdurchmesser\b"),
     re.compile(r"\b\d+(?:[,.]\d+)?\s?(?:cm|mm|m|Liter|l)\b")),  # a bowl's size is its volume
    # "Bei wie viel Grad …?", "Wie heiß …?": a temperature
    (re.compile(r"(?i)\bgrad\b|\btemperatur\w*|\bwie heiß\b"), re.compile(r"\b\d+\s?°\s?C\b|\b\d+\s?Grad\b")),
    (re.compile(r"(?i)\bwie viel\b|\bfassungsvermögen\b|\bpasst\b|\bpassen\b"),
     re.compile(r"\b\d+(?:[,.]\d+)?\s?(?:kg|g|Liter|l|ml)\b")),
    # "Wer ist …?", "An wen …?", the contact person: a name with an address to write to
    (re.compile(r"(?i)\bwer\b|\ban wen\b|\bansprechpartner\w*|\bkontaktdaten\b|\bbeauftragte\w*|"
                r"\bwelche (?:adresse|e-mail|telefonnummer)\b|\bwohin\b"),
     re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+|\b\d{5}\s+[A-ZÄÖÜ]\w+|\b\d{3,5}\s\d{2,}[\s\d-]*\d\b")),
    # "Wo ist …?": an address
    (re.compile(r"(?i)\bwo\b|\badresse\b|\banschrift\b|\banfahrt\b"),
     re.compile(r"\b\w+(?:straße|str\.|weg|platz|allee)\s\d+|\b\d{5}\s+[A-ZÄÖÜ]\w+")),
    # "Was muss ich tun …?", "Wie melde ich …?": the steps, said as instructions ("Melden Sie …", "Senden Sie …")
    (re.compile(r"(?i)\bwas (?:muss|soll|kann) ich (?:da )?tun\b|\bwie (?:kann|muss|soll) (?:ich|man)\b|"
                r"\bwie (?:gehe|melde|beantrage|schicke|sende|bestelle|"
                r"storniere|kündige|ändere|lösche)\b|\bwie funktioniert\b|\bwie läuft\b|\bablauf\b|\bvorgehen\b"),
     re.compile(r"(?m)^(?:Bitte )?[A-ZÄÖÜ][a-zäöüß]+en Sie\b|^- ")),
    (re.compile(r"(?i)\bwann\b|\böffnungszeit\w*|\bgeöffnet\b|\berreichbar\b"),
     re.compile(r"(?i)\d{1,2}[:.]\d{2}\s?(?:–\s?\d{1,2}[:.]\d{2}\s?)?Uhr|\b(?:Montag|Dienstag|Mittwoch|Donnerstag|"
                r"Freitag|Samstag|Sonntag)\b")),
]
_TYPE_BONUS = 0.2
_ROW_BONUS = 0.15
_SIBLINGS_OF = 2  # the best hits whose whole section is read (a table split over chunks)
_NEAR = 2  # a sentence of the best sentence's passage that adds no word of the question must stand this close to it
_TYPED_RATIO = 0.6  # a sentence of the wanted kind must score this share of the ask's best to answer it first

# "…, und wie lange dauert das?": a second ask joined by "und"/"oder" and a question word.
_SECOND_ASK = re.compile(
    r",?\s+(?:und|oder|sowie)\s+(?=(?:wie|was|wann|wo|wohin|woher|welche[rsmn]?|wer|warum|wieso|ob|kann|können|"
    r"muss|müssen|gibt|ist|sind|kommen|kommt|fallen|fällt|geht|dauert|bekomme|erhalte)\b)",
    re.I,
)


def _wanted(ask: str) -> list[re.Pattern[str]]:
    """The kinds of answer an ask wants (a price for "Was kostet …?", a period for "Wie lange …?")."""
    return [answer for question, answer in _ANSWER_TYPES if question.search(ask)]


def _typed_first(ask: str, ranked: list[tuple[SearchHit, str, float]]) -> list[tuple[SearchHit, str, float]]:
    """An ask for a kind of answer (a measure, a price, a period, steps) is answered first by the best sentence that
    gives one, if it scores near the best ("… max. 78 dB(A)" before "Das Rührwerk R5 ist eine kraftvolle
    Küchenmaschine" for "Wie laut …?")."""
    wanted = _wanted(ask)
    if not wanted or not ranked or any(answer.search(ranked[0][1]) for answer in wanted):
        return ranked
    typed = next((c for c in ranked[1:] if c[2] >= _TYPED_RATIO * ranked[0][2]
                  and any(answer.search(c[1]) for answer in wanted)), None)
    if typed is None:
        return ranked
    return [(typed[0], typed[1], ranked[0][2])] + [c for c in ranked if c is not typed]


def _fits(
    item: tuple[SearchHit, str, float], chosen: list[tuple[SearchHit, str, float]], query: str, said: str = ""
) -> bool:
    """A further sentence neither repeats a chosen one nor is another row of a chosen row's table whose key the
    customer did not name (asked about Österreich, the Deutschland row is no answer)."""
    if any(overlap(item[1], c[1]) >= 0.7 for c in chosen) or _two_prices(item, chosen, query):
        return False
    # a data sheet's property row got here by its name or by the kind of value asked for; any other row must be named
    row = rows.key_of(item[1]) is not None and not rows.is_property(item[1])
    sibling = any(c[0].chunk_id == item[0].chunk_id and rows.key_of(c[1]) is not None for c in chosen)
    return not (row and sibling and not rows.named(item[1], query, item[0].text, said))


# Words every price sentence has; two prices conflict only when they name the same asked thing ("Gravur").
_PRICE_WORDS = frozenset(
    ["kostet", "kosten", "preis", "preise", "betragen", "beträgt", "berechnen", "gebühr", "gebühren", "euro"])


def _two_prices(
    item: tuple[SearchHit, str, float], chosen: Sequence[tuple[SearchHit | None, str, float]], asked: str
) -> bool:
    """A price from another passage for the same asked thing as a chosen price (the private engraving's 11,50 €
    beside the logo engraving's 3,50 €) would leave the customer with two prices: the better-scored one stays.
    ``asked``: the question (within a paragraph) or the whole mail (against earlier paragraphs, hit None)."""
    if "€" not in item[1]:
        return False
    terms = set(content_terms(item[1])) & (set(content_terms(asked)) - _PRICE_WORDS)
    return any((c[0] is None or c[0].chunk_id != item[0].chunk_id) and c[1] not in item[0].text and "€" in c[1]
               and terms & set(content_terms(c[1])) for c in chosen)


# A sentence that leans on the one before it ("Danach können Sie …", "Dafür berechnen wir …").
_ANAPHOR = re.compile(r"^(?:Danach|Dabei|Dafür|Dazu|Damit|Dadurch|Deshalb|Daher|Darüber hinaus|Dann|Dies|Diese[rsmn]?|"
                      r"Hierfür|Hierzu|Stattdessen|Ebenso|Auch dann|In diesem Fall|In diesen Fällen)\b")


# … or one that points back in its middle ("Bitte geben Sie dazu …", "… direkt an diese Adresse").
_POINTS_BACK = re.compile(
    r"\b(?:dazu|hierzu|diese[rnms]? (?:Adresse|Nummer|Stelle|Seite|Frist|Formular)|"
    r"(?:geschieht|passiert|erfolgt|dauert) das)\b")  # "In der Regel geschieht das innerhalb von 5 Werktagen"


def _leans(sentence: str) -> bool:
    return bool(_ANAPHOR.match(sentence) or _POINTS_BACK.search(sentence))


def _with_siblings(hits: list[SearchHit], retriever: Retriever, first: int) -> list[SearchHit]:
    """The first hits followed each by the rest of its section, then the other hits; a data sheet's table is read
    whole wherever it was found (its "Gewicht" row may stand in the chunk after the one retrieved)."""
    out: list[SearchHit] = []
    seen = {h.chunk_id for h in hits}
    for number, hit in enumerate(hits):
        out.append(hit)
        if number < first or any(rows.is_property(s) for s in _order(hit.text)):
            added = [s for s in retriever.siblings(hit) if s.chunk_id not in seen]
            seen.update(s.chunk_id for s in added)
            out += added
    return out


@functools.lru_cache(maxsize=2048)
def _order(text: str) -> tuple[str, ...]:
    """A passage's sentences as the candidates are written, in document order (asked for many times per
    question: once split)."""
    return tuple(_clean(x) for x in sentences(text))


def _distance(one: tuple[SearchHit, str, float], other: tuple[SearchHit, str, float]) -> int:
    """How many sentences apart two sentences of one passage stand."""
    order = _order(one[0].text)
    if one[1] not in order or other[1] not in order:
        return len(order)
    return abs(order.index(one[1]) - order.index(other[1]))


def _antecedent(hit: SearchHit, sentence: str) -> str:
    """The sentence before a sentence that leans on it, in its passage; "" for any other."""
    if not _leans(sentence):
        return ""
    order = _order(hit.text)
    at = order.index(sentence) if sentence in order else 0
    return order[at - 1] if at > 0 else ""


def _with_antecedents(
    chosen: list[tuple[SearchHit, str, float]], used: set[str]
) -> list[tuple[SearchHit, str, float]]:
    """Each chosen sentence that leans on the one before it brings that one along (document order is restored
    when composing); one whose antecedent is not in its passage (a chunk boundary) is left out."""
    kept: list[tuple[SearchHit, str, float]] = []
    for hit, sentence, score in chosen:
        if not _leans(sentence):
            kept.append((hit, sentence, score))
            continue
        before = _antecedent(hit, sentence)
        if before and _usable(before) and not _leans(before) and before not in used:
            if all(before != c[1] for c in chosen + kept):
                kept.append((hit, before, score))
            kept.append((hit, sentence, score))
    return _with_continuations(kept, used)  # a "Dann schreiben Sie uns …" without its "if" answers nothing


# "Der Link ist 24 Stunden gültig." continues "Sie erhalten … eine E-Mail mit einem Link …": a definite article and a
# noun the sentence before named.
_DEFINITE = re.compile(r"^(?:Der|Die|Das|Diese[rs]?)\s+([A-ZÄÖÜ][\w-]{3,})\s")
_INTRODUCED = re.compile(r"\bein(?:e[nmrs]?)?\s+([A-ZÄÖÜ][\w-]{7,})")
_TAKEN_UP = re.compile(r"\b(?:der|die|das|den|dem|des|diese[nmrs]?)\s+([A-ZÄÖÜ][\w-]{7,})")


def _continues(sentence: str, before: str) -> bool:
    match = _DEFINITE.match(sentence)
    if match is not None and match.group(1).lower()[:-1] in before.lower():
        return True
    # "… wird die Prüfpauschale … verrechnet" after "Dafür berechnen wir eine Prüfpauschale …": what the sentence
    # before introduced ("eine …") is taken up again ("die …")
    introduced = {m.lower() for m in _INTRODUCED.findall(before)}
    return any(m.lower() in introduced for m in _TAKEN_UP.findall(sentence))


def _with_continuations(
    chosen: list[tuple[SearchHit, str, float]], used: set[str]
) -> list[tuple[SearchHit, str, float]]:
    """A chosen sentence brings the sentence of its passage that continues it by a definite reference (after it,
    or before it when the chosen one is the continuation: "Der Gutschein gilt …" after "… Gutschein über 10 %")."""
    have = {c[1] for c in chosen}
    out = list(chosen)
    for hit, sentence, score in chosen:
        order = _order(hit.text)
        if sentence not in order:
            continue
        at = order.index(sentence)
        near = []
        if at + 1 < len(order) and _continues(order[at + 1], sentence):
            near.append(order[at + 1])
        if at > 0 and _continues(sentence, order[at - 1]):
            near.append(order[at - 1])
        for other in near:
            if other not in have and other not in used and _usable(other) and not _leans(other):
                out.append((hit, other, score))
                have.add(other)
    return out


def _told(sentence: str, told: str) -> bool:
    """The quoted thread already gave this: its figures (at least two, all of them) or its words."""
    if not told:
        return False
    figures = numbers(sentence)
    return (len(figures) >= 2 and figures <= numbers(told)) or _echo(sentence, told)


def _other_country(sentence: str, places: frozenset[str]) -> bool:
    """Asked from or about Austria, "innerhalb Deutschlands 95,00 €" is another country's answer."""
    named = countries(sentence, hints=False)
    # "Wir liefern nach Deutschland, Österreich und in die Schweiz" answers "nach Italien?" too: by its list
    return bool(places and named and not named & places) and len(named) < 3


def _ask_parts(text: str, min_terms: int = 2) -> list[str]:
    """The asks of a question: its sentences ("Muss ich sie einbrennen? Und wenn ja: bei wie viel Grad …?") and the
    parts joined by "und" and a question word ("…, und wie lange dauert das?")."""
    pieces = [p for sentence in re.split(r"(?<=\?)\s+", text) for p in _SECOND_ASK.split(sentence)]
    return [p.strip(" ,") for p in pieces if len(content_terms(p)) >= min_terms]


def _asks(query: str, context: str = "") -> list[str]:
    """The asks of one question; a later ask keeps the first ask's topic ("… nach Österreich – wie lange dauert
    die Lieferung?")."""
    # the context a short question was searched with is no ask of its own: only the question is cut into asks
    at = query.find(context) if context else -1
    head, own = (query[: at + len(context)], query[at + len(context):]) if at >= 0 else ("", query)
    parts = _ask_parts(own, 1)
    if len(parts) < 2:
        return [query]
    if head:
        parts[0] = f"{head} {parts[0]}"
    elif context and len(content_terms(parts[0])) < _TOPIC_TERMS:  # "Was kostet das für uns beide" after "Kochkurs"
        parts[0] = f"{context} {parts[0]}"
    return [parts[0]] + [f"{parts[0]} – {p}" for p in parts[1:]]


_ENUMERATOR = re.compile(r"^(?:\(\d{1,2}\)|\d{1,2}\.(?=\s)|[a-z]\)|[-•*–])\s*")
_ORDINAL_START = re.compile(r"^\d{1,2}\.\s+")
_WHOLE = re.compile(r"^[A-ZÄÖÜ0-9„\"(].{23,498}[.!?)“\"]$", re.S)
_WHOLE_START = re.compile(r"^[A-ZÄÖÜ0-9„\"(]")


def _clean(sentence: str) -> str:
    """Without a leading list or paragraph number ("(2) Bei Vorkasse …" → "Bei Vorkasse …")."""
    sentence = sentence.strip()
    ordinal = _ORDINAL_START.match(sentence)
    if ordinal and ORDINAL_NOUN.match(sentence[ordinal.end():]):
        return sentence  # "1. Mahnung – Gebühr: 2,50 €": the ordinal belongs to the key
    return _ENUMERATOR.sub("", sentence)


# Sentences about the document itself ("Auf dieser Seite finden Sie …"): true, but never an answer.
_SIGNPOST = re.compile(r"^(?:Auf dieser Seite|Diese Seite|Hier (?:erfahren|finden|lesen) Sie|Im Folgenden|"
                       r"Mit den folgenden|Nachfolgend|Unten finden Sie|Weitere Informationen finden Sie)\b")


def _usable(sentence: str) -> bool:
    """A whole sentence a letter can carry: capitalised start (a lower-case start is the tail of a sentence cut
    by a page break), a real ending, not a heading, a list intro or a signpost of the document."""
    if is_contact(sentence):
        return True  # "Markus Albers, Vertrieb Firmenkunden" / "Telefon: …" / "E-Mail: …": whole as a card
    if is_list(sentence):  # a lead-in with its items, as the document lists them; each item a whole phrase
        lines = [line.strip() for line in sentence.split("\n") if line.strip()]
        if not lines[0].endswith(":") and any(line[-1:] not in ".!?" for line in lines):
            return False  # "- Risse und Brüche im Guss" without "Die Garantie umfasst:" says nothing
        items = readable_list(sentence).split("\n")[1:]
        return (bool(_WHOLE_START.match(sentence)) and len(sentence) <= 900 and not _SIGNPOST.match(sentence)
                and all(_WHOLE_START.match(item[2:]) for item in items) and items[-1][-1:] not in ",;:")
    if LOADED_ROW.match(sentence) and (_WHOLE_START.match(sentence) or rows.RANGE_START.match(sentence)) \
            and sentence.endswith("."):
        return True  # a table row is a whole statement, however short ("Gewicht – Wert: 7,8 kg.", "ab 500 € – …")
    if _ANSWER_WORD.match(sentence) and _SUBORDINATE.match(_ANSWER_WORD.sub("", sentence)):
        return False  # "Ja, solange Ihre Bestellung …": the yes belongs to the FAQ heading, the rest is no sentence
    if _LABELLED.match(sentence):
        return True  # "… erreichen Sie unter: Jonas Weidemann, … E-Mail: datenschutz@…": no full stop, but whole
    return (bool(_WHOLE.match(sentence)) and not sentence.endswith((":", "?")) and not _SIGNPOST.match(sentence))
    # a document's own question ("Sie suchen ein Geschenk …?") is a teaser, never an answer


# A sentence that gives its information after a colon and ends with it (an address, a number), without a full stop.
_LABELLED = re.compile(r"^[A-ZÄÖÜ][^\n:]{15,200}:\s[^\n]{3,300}(?:@[\w-]+\.[a-z]{2,}|\.de(?:/\S*)?|\d)$")


def _finished(sentence: str) -> str:
    """A labelled line ends with a full stop in the letter (the quote stays the document's text)."""
    return sentence if sentence[-1:] in ".!?)“\"" or "\n" in sentence else f"{sentence}."


# An FAQ answer starts with the yes or no to its heading; in a letter the statement stands alone.
_ANSWER_WORD = re.compile(r"^(?:Ja|Nein),\s+")
_SUBORDINATE = re.compile(r"(?i)^(?:solange|sofern|soweit|wenn|falls|sobald|weil|da|dass|ob|bis|nachdem|bevor|"
                          r"aber nur|allerdings nur|nur)\b")


def _readable(sentence: str) -> str:
    """A document's sentence as the letter carries it: a table with its rows, a list, a row, a statement."""
    if is_contact(sentence):
        return "\n".join(f"- {line.strip()}" for line in sentence.split("\n") if line.strip())
    table = readable_table(sentence)
    return table if table != sentence else readable_list(readable_row(_standalone(sentence)))


# An FAQ's yes/no question: "Kann ich meine Bestellung nachträglich ändern oder stornieren?"
_YES_NO = re.compile(r"^(Kann|Darf|Muss|Soll) (ich|man) (.{5,150})\?$")
_MODALS = {"kann": "können", "darf": "dürfen", "muss": "müssen", "soll": "sollen"}
# The customer's words in the heading become the letter's: "meine" → "Ihre", "Ihre Produkte" → "unsere Produkte"
_PERSON = {"meine": "Ihre", "mein": "Ihr", "meinen": "Ihren", "meinem": "Ihrem", "meiner": "Ihrer", "meines": "Ihres",
           "mich": "sich", "mir": "sich", "Ihre": "unsere", "Ihr": "unser", "Ihren": "unseren", "Ihrem": "unserem",
           "Ihrer": "unserer", "Ihres": "unseres", "Ihnen": "uns", "Sie": "wir"}


def _affirmed(sentence: str, section: str) -> str | None:
    """ "Ja, solange …" under "Kann ich meine Bestellung … stornieren?" says, in a letter: "Sie können Ihre Bestellung
    … stornieren, solange …" (alone, the yes belongs to a heading the customer never sees)."""
    if not sentence.startswith("Ja, ") or not _SUBORDINATE.match(sentence[4:]):
        return None
    heading = _YES_NO.match(section.split(" › ")[-1].strip())
    if heading is None:
        return None
    modal, who, rest = heading.groups()
    rest = re.sub(r"\b\w+\b", lambda w: _PERSON.get(w.group(), w.group()), rest)
    opening = f"Sie {_MODALS[modal.lower()]}" if who == "ich" else f"Man {modal.lower()}"
    return f"{opening} {rest}, {sentence[4:].rstrip('.')}."


def _standalone(sentence: str) -> str:
    """ "Nein, Sonderrabatte … bieten wir nicht an." → "Sonderrabatte … bieten wir nicht an." """
    rest = _ANSWER_WORD.sub("", sentence)
    return rest[:1].upper() + rest[1:] if rest != sentence else sentence


def _weighted_share(weights: dict[str, float], text: str) -> float:
    """Share of the question's words (rare ones weigh more) found in the text, compounds included: "Versand"
    counts in "Versandkosten", "Versandkosten" in "Versand … kosten"."""
    if not weights:
        return 0.0
    present = set(content_terms(text))
    return sum(w for t, w in weights.items() if _present(t, present)) / sum(weights.values())


def _present(term: str, present: set[str]) -> bool:
    return any(_found(t, present) for t in same_as(term))


def _found(term: str, present: set[str]) -> bool:
    if term in present:
        return True
    if len(term) >= 4 and any(term in word for word in present if len(word) > len(term)):
        return True
    parts = [word for word in present if len(word) >= 4 and word in term]
    return sum(len(p) for p in parts) >= 0.8 * len(term)


def _echo(sentence: str, mail: str) -> bool:
    """A sentence that mostly repeats the customer's own words is no answer (a customer must never get their
    own sentences back as information)."""
    tokens = words(sentence)
    if len(tokens) < 4 or not mail:
        return False
    pairs = set(zip(tokens, tokens[1:], strict=False))
    mail_tokens = words(mail)
    mail_pairs = set(zip(mail_tokens, mail_tokens[1:], strict=False))
    return len(pairs & mail_pairs) / len(pairs) >= 0.6


def _joined(parts: list[str]) -> str:
    """Sentences of one paragraph joined by spaces; a list stands on its own lines."""
    text = ""
    for part in parts:
        lines = "\n" in part or "\n" in text
        text = part if not text else f"{text}{chr(10) if lines else ' '}{part}"
    return text


def _best_quote(hit: SearchHit, text: str) -> str:
    return max(sentences(hit.text), key=lambda s: overlap(text, s), default=hit.text)


def _position(hit: SearchHit, sentence: str) -> tuple[int, int]:
    """Document order: a passage's sentences stay in the order the documents give them."""
    found = hit.text.find(sentence[:40])
    return hit.rank, found if found >= 0 else 10_000


def _without_citations(sentence: str) -> str:
    return re.sub(r"\s+([.,;:!?])", r"\1", " ".join(strip_citations(sentence).split()))


def _add(timings: dict[str, float], key: str, since: float) -> None:
    timings[key] = timings.get(key, 0.0) + _ms(since)


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000.0
