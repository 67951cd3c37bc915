"""The errors Kontor reports to people. Each carries its HTTP status, so the web app answers
``{"detail": <the German sentence>}`` with that status and the CLI prints the sentence and exits 1 — both from
this one base class, without a list of types to keep in step. Anything else is a bug (500, traceback in the log).
"""

from __future__ import annotations

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
