"""Proven answers: a paragraph a person approved is reused when another customer asks the same question in other
words (the answers are learned in assistant/answer/learning.py or entered with ``kontor proven add``).

Reused only when it cannot be the wrong answer (bench/proven_answers.py measures it on the evaluation cases):
the e5 similarity of the two questions reaches the threshold, they share their topic words both ways, and neither
swaps a word the documents use for another ("samstags"/"sonntags geöffnet": e5 0.951, "per PayPal"/"per Rechnung
bezahlen": 0.945) nor narrows one down ("Pfanne"/"Edelstahlpfanne") – a word only one of them adds ("als Hotel",
"in Kassel") is context, and a word the documents never use is the customer's own ("umsonst"); they name the
same numbers ("28 cm" is not "24 cm"), the mail names the same countries as the one the answer was
approved for (shipping to Austria is not shipping to Switzerland; the company's own country counts as naming
none), and both questions name their topic: "Was kostet das?" means something else in every mail.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

import numpy as np

from assistant.answer.places import countries
from assistant.embeddings import Embedder
from assistant.grounding import overlap
from assistant.knowledge.catalogue import Catalogue, ProvenAnswer
from assistant.knowledge.text import content_terms, numbers

TOPIC_TERMS = 4  # content words of a question that names its topic (as question.py searches it alone) …
SHORT_TERMS = 3  # … or of a shorter one that does not point back into the mail
SAME_TOPIC = 0.6  # share of each question's topic words the other one has
# Words that point back into the mail: "bei diesem Bestellwert", "Gibt es dafür einen Rabatt?", "trotzdem" …
_REFERS = (r"(?i:\b(?:dies\w*|da(?:für|zu|von|mit|rauf|ran|rüber|bei|durch|gegen|nach|rin)|sowas|so was|solch\w*|"
           r"trotzdem|dennoch|stattdessen)\b)")
_REFERS_BACK = re.compile(_REFERS)
# … and in a short question also a pronoun: "Geht das?", "Gibt es da einen Gutschein?" (an article before a
# noun, "das Messer", points nowhere).
_POINTS_BACK = re.compile(_REFERS + r"|\b(?i:der|die|das|den|dem|da)\b(?=\s*[?!.,]|\s*$|\s+[a-zäöüß])")


# Words that change how a question is put, not what it asks ("per PayPal" / "mit PayPal", "ungefähr", "möchte").
_FILLER = frozenset(content_terms(
    "per via eigentlich ungefähr etwa ca circa gern gerne mal kurz genau überhaupt bereits schon noch eher lieber "
    "wohl eben halt einfach denn möchte möchten bräuchte hätte hätten bzw euer eurem euren eurer eures richtig "
    "besten außerdem zudem übrigens vielleicht"
))


def stands_alone(question: str) -> bool:
    """The question names its topic ("Was kostet der Versand nach Österreich?", not "Was kostet das?")."""
    terms = len(set(content_terms(question)) - _FILLER)
    if terms >= TOPIC_TERMS:
        return not _REFERS_BACK.search(question)
    return terms == SHORT_TERMS and not _POINTS_BACK.search(question)


# A question's vector depends on the embedder only: kept for the life of the process (an answerer is made per
# draft), so each proven question is embedded once, not once per question of every mail.
_VECTORS: dict[tuple[str, str], np.ndarray] = {}
_VECTORS_LOCK = threading.Lock()


class ProvenIndex:
    """The proven answers of a catalogue, matched by their questions' vectors."""

    def __init__(self, catalogue: Catalogue, embedder: Embedder, home: str = "Deutschland",
                 known: Callable[[str], bool] = lambda _: True) -> None:
        self.catalogue = catalogue
        self.embedder = embedder
        self.home = home  # the company's country: a mail that names no country is written from there
        self.known = known  # whether the documents use a stemmed word (default: every word counts)

    def match(
        self, question: str, vector: np.ndarray | None, places: frozenset[str], threshold: float,
        conditions: bool = True,
    ) -> tuple[ProvenAnswer, float] | None:
        """The proven answer to reuse for ``question`` and the similarity, or None. ``vector``: the question's
        query vector if at hand (else computed here, only when there is something to compare). ``conditions=False``
        leaves out the conditions besides similarity and topic words (only to measure what they prevent:
        bench/proven_answers.py)."""
        candidates = self.catalogue.proven_answers()
        if not candidates or (conditions and not stands_alone(question)):
            return None
        if vector is None:
            vector = self.embedder.embed_query([question])[0]
        similarity = self._matrix(candidates) @ vector
        places = places - {self.home}
        for i in sorted(range(len(candidates)), key=lambda i: -float(similarity[i])):
            if similarity[i] < threshold:
                break
            chosen = candidates[i]
            same_topic = min(overlap(question, chosen.question), overlap(chosen.question, question))
            if not conditions:  # the nearest one only, as Kontor did before the conditions
                return (chosen, float(similarity[i])) if same_topic >= SAME_TOPIC else None
            if same_topic >= SAME_TOPIC and self._fits(question, places, chosen):
                return chosen, float(similarity[i])
        return None

    def _matrix(self, candidates: list[ProvenAnswer]) -> np.ndarray:
        keys = [(self.embedder.identity, c.question) for c in candidates]
        with _VECTORS_LOCK:
            missing = list(dict.fromkeys(key for key in keys if key not in _VECTORS))
            if missing:
                for key, row in zip(missing, self.embedder.embed_query([q for _, q in missing]), strict=True):
                    _VECTORS[key] = row
            return np.stack([_VECTORS[key] for key in keys])

    def _fits(self, question: str, places: frozenset[str], proven: ProvenAnswer) -> bool:
        """An answer entered by hand holds for the countries its question names."""
        approved_for = proven.country_set() | countries(proven.question, hints=False)
        return (stands_alone(proven.question) and numbers(question) == numbers(proven.question)
                and places == approved_for - {self.home} and self._same_thing(question, proven.question))

    def _same_thing(self, a: str, b: str) -> bool:
        """Neither question swaps a word the documents use for another, nor narrows one of the other's words
        down ("Edelstahlpfanne" for "Pfanne"); one that only adds such a word ("als Hotel") asks the same."""
        mine, theirs = set(content_terms(a)) - _FILLER, set(content_terms(b)) - _FILLER
        own, other = self._telling(mine, theirs), self._telling(theirs, mine)
        narrows = any(word in term for term in own for word in theirs if len(word) >= 4) or any(
            word in term for term in other for word in mine if len(word) >= 4)
        return not (own and other) and not narrows

    def _telling(self, terms: set[str], others: set[str]) -> list[str]:
        """The words of ``terms`` the other question lacks (as the word, inside a compound or in parts) that the
        documents use, alone or as part of the word ("Keramikmesser" holds "Messer")."""
        return [t for t in terms if not t.isdigit() and not _found(t, others)
                and (self.known(t) or self._holds_known(t))]

    def _holds_known(self, term: str) -> bool:
        return any(self.known(term[i:j]) for i in range(len(term) - 3) for j in range(i + 4, len(term) + 1)
                   if (i, j) != (0, len(term)))


def _found(term: str, others: set[str]) -> bool:
    """The term, or a longer word holding it ("pfann" in "gusseisenpfann"), or words that make it up ("versand"
    and "kost" for "versandkost")."""
    if term in others or any(term in word for word in others if len(term) >= 4 and len(word) > len(term)):
        return True
    return sum(len(word) for word in others if len(word) >= 4 and word in term) >= 0.8 * len(term)
