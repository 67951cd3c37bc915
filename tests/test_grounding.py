from __future__ import annotations

from assistant.domain import SearchHit
from assistant.grounding import support, verify_sentence

PASSAGE = SearchHit(
    rank=1, score=1.0, source="versand.md", title="Versand", chunk_id="c1",
    text="Wir liefern nach Deutschland, Österreich und in die Schweiz. Lieferungen in andere Länder sind "
    "derzeit leider nicht möglich.",
)


def test_copied_sentence_is_supported() -> None:
    sentence = "Wir liefern nach Deutschland, Österreich und in die Schweiz [1]."
    verdict = verify_sentence(sentence, "Liefern Sie?", [PASSAGE])
    assert verdict.passage == 1


def test_shuffled_source_words_are_rejected() -> None:
    verdict = verify_sentence(
        "Wir liefern nach Deutschland und in die Schweiz sind derzeit leider nichts mögliche.", "Liefern Sie?",
        [PASSAGE],
    )
    assert verdict.passage is None


def test_invented_number_is_rejected() -> None:
    verdict = verify_sentence("Wir liefern nach Österreich in 2 Tagen.", "Liefern Sie?", [PASSAGE])
    assert verdict.passage is None


def test_support_is_low_for_words_the_documents_never_use() -> None:
    idf = {"liefert": 1.0, "fahrrad": 6.0, "osterreich": 1.5}.get
    assert support("Liefern Sie nach Österreich?", [PASSAGE], lambda t: idf(t, 1.0)) > 0.5
    assert support("Liefern Sie Fahrrad?", [PASSAGE], lambda t: idf(t, 1.0)) < 0.5
