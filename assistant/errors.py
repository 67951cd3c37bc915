"""The errors Kontor reports to people. Each carries its HTTP status, so the web app answers
``{"detail": <the German sentence>}`` with that status and the CLI prints the sentence and exits 1 — both from
this one base class, without a list of types to keep in step. Anything else is a bug (500, traceback in the log).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class KontorError(Exception):
    """A German sentence for people; ``extra`` goes into the JSON answer beside ``detail``."""

    status: ClassVar[int] = 400

    def __init__(self, message: str = "", extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.extra = extra or {}

    def headers(self) -> dict[str, str] | None:
        """HTTP headers of the answer (e.g. ``Retry-After``)."""
        return None


class InputError(KontorError, ValueError):
    """Text from a person or a file is empty, too long or not text."""

    status = 422


class TooLargeError(InputError):
    """A message or file is longer than allowed."""

    status = 413


class NotFoundError(KontorError, LookupError):
    """No such ticket, draft or user."""

    status = 404


class ConflictError(KontorError, RuntimeError):
    """The action does not fit the object's current state."""

    status = 409


class UnavailableError(KontorError, RuntimeError):
    """A part Kontor needs (model, vector index, mail server) cannot serve the request now."""

    status = 503


# --- a field pydantic refused, in German (the API's 422 and the CLI's usage errors) ------------------------------

REASONS = {  # pydantic error type → what is wrong, in German
    "missing": "fehlt", "extra_forbidden": "ist unbekannt", "json_invalid": "ist kein gültiges JSON",
    "string_too_short": "ist zu kurz (mindestens {min_length} Zeichen)",
    "string_too_long": "ist zu lang (höchstens {max_length} Zeichen)",
    "too_short": "hat zu wenige Einträge (mindestens {min_length})",
    "too_long": "hat zu viele Einträge (höchstens {max_length})",
    "greater_than_equal": "muss mindestens {ge} sein", "less_than_equal": "darf höchstens {le} sein",
    "greater_than": "muss größer als {gt} sein", "less_than": "muss kleiner als {lt} sein",
    "int_parsing": "muss eine ganze Zahl sein", "int_type": "muss eine ganze Zahl sein",
    "int_from_float": "muss eine ganze Zahl sein", "float_parsing": "muss eine Zahl sein",
    "bool_parsing": "muss true oder false sein",
    "bool_type": "muss true oder false sein", "string_type": "muss ein Text sein",
    "list_type": "muss eine Liste sein", "model_attributes_type": "muss ein JSON-Objekt sein",
    "dict_type": "muss ein JSON-Objekt sein", "string_pattern_mismatch": "hat nicht die erwartete Form",
    "literal_error": "muss einer dieser Werte sein: {expected}", "enum": "muss einer dieser Werte sein: {expected}",
    "value_error": "ist ungültig", "string_unicode": "muss ein Text in UTF-8 sein",
}


def reason(error: Mapping[str, Any]) -> str:
    """What is wrong with a field, from one of pydantic's error dicts: "darf höchstens 50 sein"."""
    says = REASONS.get(str(error.get("type")), "ist ungültig")
    try:
        return says.format(**error.get("ctx", {})).replace("' or '", "' oder '")
    except (KeyError, IndexError, ValueError):
        return "ist ungültig"
