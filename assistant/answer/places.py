"""The countries a text names: the shop's documents distinguish them (shipping, prices), and a sentence about
another country than the customer's is no answer; an approved answer is reused only for the same countries."""

from __future__ import annotations

import re

# Countries the shop's documents distinguish; a sentence about another country than the customer's is no answer.
_COUNTRY_NAMES = {"Deutschland": r"\bDeutschlands?\b", "Österreich": r"\bÖsterreichs?\b", "Schweiz": r"\bSchweiz\b"}
_COUNTRY_HINTS = {
    "Deutschland": r"\bdeutschlandweit|\+49\b",
    "Österreich": r"\bösterreichisch|\+43\b|\.at\b|\b(?:Wien|Graz|Linz|Salzburg|Innsbruck|Klagenfurt|Villach|Wels|"
                  r"St\. Pölten|Dornbirn|Bregenz|Tirol|Vorarlberg|Kärnten|Steiermark|Burgenland)\b",
    "Schweiz": r"\bSchweizer|\bschweizerisch|\+41\b|\.ch\b|\b(?:Zürich|Genf|Basel|Bern|Lausanne|Winterthur|Luzern|"
               r"St\. Gallen|Lugano|Biel|Thun|Zug|Aargau|Graubünden|Tessin|Wallis)\b",
}


def countries(text: str, hints: bool = True) -> frozenset[str]:
    """The countries a text names (with ``hints``: also a mail's phone prefix, domain or adjective)."""
    found = {name for name, pattern in _COUNTRY_NAMES.items() if re.search(pattern, text)}
    if hints:
        found |= {name for name, pattern in _COUNTRY_HINTS.items() if re.search(pattern, text, re.I)}
    return frozenset(found)
