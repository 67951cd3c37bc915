"""Everyday words for the documents' words (assistant/knowledge/synonyms.py) count where support is measured."""

from __future__ import annotations

from assistant.domain import SearchHit
from assistant.grounding import support
from assistant.knowledge.synonyms import same_as
from assistant.knowledge.text import content_terms


def test_a_word_means_its_group_and_an_unknown_word_only_itself() -> None:
    [porto] = content_terms("Porto")
    assert set(content_terms("Versandkosten")) <= same_as(porto)
    [pan] = content_terms("Pfanne")
    assert same_as(pan) == {pan}


def test_support_counts_the_documents_word_for_the_customers() -> None:
    hit = SearchHit(chunk_id="a", source="a.md", title="Rücksendung", section="Rücksendung",
                    text="Rücksendungen aus Deutschland sind für Sie kostenlos.", score=1.0, rank=1)
    idf = {t: 2.0 for t in content_terms("Rücksendung zurückschicken Fahrrad kostenlos")}.get
    assert support("Kann ich zurückschicken?", [hit], lambda t: idf(t) or 2.0) == 1.0
    assert support("Kann ich ein Fahrrad zurückschicken?", [hit], lambda t: idf(t) or 2.0) == 0.5  # no bicycles
