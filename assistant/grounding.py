"""Sentence-level grounding: which source sentences answer a question, and which generated sentences are
backed by the sources. This is what keeps a tiny model honest: a generated sentence survives only if its
topic words and every number in it are found in the cited passages."""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.domain import SearchHit
from assistant.knowledge.text import char_grams, content_terms, numbers

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-ZÄÖÜ0-9„\"(\[])|\n+")
_CITATION = re.compile(r"\[(\d{1,2})\]")


def sentences(text: str) -> list[str]:
    return [s.strip(" -•*\t") for s in _SENTENCE.split(text) if len(s.strip(" -•*\t")) > 2]


def strip_citations(text: str) -> str:
    return _CITATION.sub("", text).strip()


def cited_numbers(text: str) -> list[int]:
    return [int(n) for n in _CITATION.findall(text)]


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


@dataclass(frozen=True)
class Evidence:
    passage: int  # 1-based index into the passages given to the prompt
    sentence: str
    score: float


def best_evidence(question: str, passages: list[SearchHit], limit: int = 2) -> list[Evidence]:
    """The source sentences that answer the question best; earlier (better ranked) passages win ties."""
    found = []
    for n, hit in enumerate(passages, start=1):
        for sentence in sentences(hit.text):
            score = overlap(question, f"{hit.section} {sentence}") * (1.0 - 0.05 * (n - 1))
            if len(sentence) >= 20:
                found.append(Evidence(n, sentence, score))
    found.sort(key=lambda e: e.score, reverse=True)
    return found[:limit]


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


def verify_sentence(sentence: str, question: str, passages: list[SearchHit], min_support: float = 0.7) -> Verdict:
    """A generated sentence is kept when ≥ ``min_support`` of its topic words and all its numbers occur in
    one passage (or the question). That passage becomes its citation: the model's own [n] is kept only if
    it passes the same test."""
    body = strip_citations(sentence)
    terms = set(content_terms(body))
    if len(terms) < 2:
        return Verdict(sentence, None, "zu kurz")
    question_terms = set(content_terms(question))
    support: dict[int, float] = {}
    for n, hit in enumerate(passages, start=1):
        if numbers(body) - numbers(hit.text) - numbers(question):
            continue  # a number the passage does not contain: invented price, deadline or limit
        source_terms = set(content_terms(f"{hit.title} {hit.section} {hit.text}")) | question_terms
        support[n] = len(terms & source_terms) / len(terms)
    if not support:
        return Verdict(sentence, None, "Zahl steht in keiner Quelle")
    claimed = [n for n in cited_numbers(sentence) if support.get(n, 0.0) >= min_support]
    best = max(support, key=lambda n: support[n])
    if claimed:
        return Verdict(sentence, claimed[0])
    if support[best] < min_support:
        return Verdict(sentence, None, f"nur {support[best]:.0%} belegt")
    return Verdict(sentence, best)
