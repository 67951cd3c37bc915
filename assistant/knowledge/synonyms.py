"""Words customers and documents use for the same thing ("zurückschicken" / "Rücksendung", "Porto" /
"Versandkosten"): a small list of everyday German for a shop's customer service, not read off any evaluation case.

Used where Kontor decides whether the documents cover a question (support, the words a sentence shares with the
question); retrieval keeps its own channels (the embedder carries meaning there).
"""

from __future__ import annotations

import functools

from assistant.knowledge.text import content_terms

_GROUPS = [
    "schicken senden versenden verschicken liefern zustellen Versand Lieferung Zustellung",
    "zurückschicken zurücksenden Rücksendung Retoure zurückgeben Rückgabe",
    "kaputt defekt beschädigt Schaden gebrochen",
    "Porto Versandkosten",
    "bezahlen zahlen Zahlung",
    "stornieren Stornierung Storno",
    "Rabatt Nachlass",
    "umtauschen Umtausch tauschen",
    "anrufen Telefon Hotline",
    "Adresse Anschrift",
    "offen geöffnet Öffnungszeiten",
    "Anleitung Bedienungsanleitung Gebrauchsanleitung",
    "Reklamation reklamieren Beschwerde",
    "kündigen Kündigung abmelden Abmeldung",
]


@functools.cache
def _table() -> dict[str, frozenset[str]]:
    table: dict[str, frozenset[str]] = {}
    for group in _GROUPS:
        stems = frozenset(content_terms(group))
        for stem in stems:
            table[stem] = table.get(stem, frozenset()) | stems
    return table


def same_as(term: str) -> frozenset[str]:
    """The stems that mean what this stemmed word means (itself included)."""
    return _table().get(term, frozenset([term]))

