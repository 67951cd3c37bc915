"""German text normalisation shared by lexical ranking, extractive answers and support checks."""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"\w+", re.UNICODE)

# Function words that carry no topic; kept short on purpose (negations and numbers stay).
GERMAN_STOPWORDS = frozenset(
    """
    aber alle allem allen aller alles als also am an andere anderen anderer anderes auch auf aus bei
    beim bin bis bist da dabei damit dann das dass dem den denn der des dessen deshalb die dies diese
    diesem diesen dieser dieses doch dort du durch ein eine einem einen einer eines er es etwas euch
    euer eure für gegen gewesen hab habe haben hat hatte hatten hier hin hinter ich ihm ihn ihnen ihr
    ihre ihrem ihren ihrer ihres im in indem ins ist jede jedem jeden jeder jedes jene jenem jenen jener
    jenes jetzt kann können könnte man manche mein meine meinem meinen meiner meines mich mir mit muss
    musste nach nun nur ob oder ohne sehr sein seine seinem seinen seiner seines selbst sich sie sind so
    solche soll sollte sondern sonst über um und uns unsere unserem unseren unser unter viel vom von vor
    war waren warst was weil welche welchem welchen welcher welches wenn wer werde werden wie wieder
    will wir wird wirst wo wollen wollte würde würden zu zum zur zwar zwischen bitte hallo guten tag
    gibt geben wurde wurden worden sehr geehrte geehrter damen herren the of and to a in is it
    """.split()  # noqa: SIM905 - a word list people can read and extend
)


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer  # PyStemmer: Snowball German stemmer, a small C extension

    return Stemmer.Stemmer("german")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def content_terms(text: str) -> list[str]:
    """Stemmed topic words: what BM25 ranks on and what support checks compare."""
    tokens = [w for w in words(text) if w not in GERMAN_STOPWORDS and (len(w) > 1 or w.isdigit())]
    return list(_stemmer().stemWords(tokens))


def numbers(text: str) -> set[str]:
    """Numbers as written (1.200 / 4,90 / 14), used to catch invented prices, days and limits."""
    return {n.rstrip(".,") for n in re.findall(r"\d[\d.,]*", text)}


def char_grams(text: str, n: int = 4) -> list[str]:
    """Character n-grams of each topic word, padded with spaces: matches the parts of German compounds
    (Versandkosten ~ Versand) that a stemmer leaves whole."""
    grams: list[str] = []
    for word in words(text):
        if word in GERMAN_STOPWORDS:
            continue
        padded = f" {word} "
        grams.extend(padded[i : i + n] for i in range(max(1, len(padded) - n + 1)))
    return grams
