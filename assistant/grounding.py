"""Sentence-level grounding: which source sentences answer a question, and which generated sentences are
backed by the sources. This is what keeps a tiny model honest: a generated sentence survives only if its
topic words and every number in it are found in the cited passages."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from assistant.domain import SearchHit
from assistant.knowledge.sentences import sentences  # noqa: F401 - re-exported for the answer stage
from assistant.knowledge.synonyms import same_as
from assistant.knowledge.text import char_grams, content_terms, numbers, words

CITATION = re.compile(r"\[(\d{1,2})\]")


def strip_citations(text: str) -> str:
    return CITATION.sub("", text).strip()


def cited_numbers(text: str) -> list[int]:
    return [int(n) for n in CITATION.findall(text)]


def overlap(question: str, sentence: str) -> float:
    """Share of the question's topic words found in the sentence: stems, or for compounds 4-grams."""
    q_terms = set(content_terms(question))
    if not q_terms:
        return 0.0
    s_terms = set(content_terms(sentence))
    stem_share = len(q_terms & s_terms) / len(q_terms)
    q_grams, s_grams = set(char_grams(question)), set(char_grams(sentence))
    gram_share = len(q_grams & s_grams) / len(q_grams) if q_grams else 0.0
    return max(stem_share, 0.8 * gram_share)


def support(question: str, passages: list[SearchHit], idf: Callable[[str], float]) -> float:
    """How much of the question the best passage covers, weighting rare words up: a question about a
    product the documents never mention ("Fahrräder") gets low support even if "verkaufen" matches."""
    terms = set(content_terms(question))
    if not terms or not passages:
        return 0.0
    weights = {t: max(idf(t), 0.1) for t in terms}
    best = 0.0
    for hit in passages:
        present = set(content_terms(f"{hit.title} {hit.section} {hit.text}"))
        grams = set(char_grams(hit.text))
        covered = sum(w for t, w in weights.items()
                      if any(s in present or _compound_part(s, grams) for s in same_as(t)))
        best = max(best, covered / sum(weights.values()))
    return best


def _compound_part(term: str, grams: set[str]) -> bool:
    """A long stem counts as present when all its 4-grams occur (Rücksendung inside Rücksendeetikett)."""
    return len(term) >= 6 and all(g in grams for g in char_grams(term)[1:-1])


def trim_passage(question: str, hit: SearchHit, max_chars: int) -> str:
    """Keep the passage's most relevant sentences in their original order (lean prompts prefill fast)."""
    parts = sentences(hit.text)
    if len(hit.text) <= max_chars or len(parts) <= 1:
        return hit.text[:max_chars]
    ranked = sorted(range(len(parts)), key=lambda i: overlap(question, parts[i]), reverse=True)
    keep: list[int] = []
    used = 0
    for i in ranked:
        if used + len(parts[i]) > max_chars and keep:
            continue
        keep.append(i)
        used += len(parts[i]) + 1
    return " ".join(parts[i] for i in sorted(keep))[: max_chars + 200]


@dataclass(frozen=True)
class Verdict:
    sentence: str
    passage: int | None  # the supporting passage, or None if unsupported
    reason: str = ""


def _bigrams(text: str) -> set[tuple[str, str]]:
    tokens = words(text)
    return set(zip(tokens, tokens[1:], strict=False))


def verify_sentence(
    sentence: str, question: str, passages: list[SearchHit], min_support: float = 0.8, min_order: float = 0.75
) -> Verdict:
    """A generated sentence is kept when, for one passage (plus the question), ≥ ``min_support`` of its topic
    words and all its numbers occur there, and ≥ ``min_order`` of its word pairs do (a tiny model likes to
    shuffle source words into false statements). That passage becomes its citation; the model's own [n] is
    kept only if it passes the same test."""
    body = strip_citations(sentence)
    terms = set(content_terms(body))
    if len(terms) < 2:
        return Verdict(sentence, None, "zu kurz")
    question_terms = set(content_terms(question))
    scores: dict[int, float] = {}
    for n, hit in enumerate(passages, start=1):
        if numbers(body) - numbers(hit.text) - numbers(question):
            continue  # a number the passage does not contain: invented price, deadline or limit
        source_terms = set(content_terms(f"{hit.title} {hit.section} {hit.text}")) | question_terms
        pairs = _bigrams(body)
        order = len(pairs & (_bigrams(hit.text) | _bigrams(question))) / len(pairs) if pairs else 0.0
        scores[n] = len(terms & source_terms) / len(terms) if order >= min_order else 0.0
    if not scores:
        return Verdict(sentence, None, "Zahl steht in keiner Quelle")
    claimed = [n for n in cited_numbers(sentence) if scores.get(n, 0.0) >= min_support]
    best = max(scores, key=lambda n: scores[n])
    if claimed:
        return Verdict(sentence, claimed[0])
    if scores[best] < min_support:
        return Verdict(sentence, None, f"nur {scores[best]:.0%} belegt")
    return Verdict(sentence, best)
