"""Text modules (Textbausteine): short texts the department maintains and agents insert while editing an answer.

A module may hold two placeholders, ``{kunde}`` (the customer's name, for the salutation) and ``{agent}`` (the name
of the agent who inserts it); anything else in braces is refused when the module is written. Filling them is a
plain replace (``fill``), no template engine: a module is text, never code. A module may belong to a category; the
ticket page offers that category's modules first. Each change is in the audit log with the module's id and title.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from assistant import audit
from assistant.categorise.categories import CategorySet
from assistant.domain import checked_text
from assistant.errors import ConflictError, InputError, NotFoundError
from assistant.store.db import Database
from assistant.store.tables import TextModule, utcnow

MAX_TITLE_CHARS = 200
MAX_BODY_CHARS = 5000
PLACEHOLDERS = ("{kunde}", "{agent}")
_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS))
_BRACED = re.compile(r"\{[^{}]*\}")


@dataclass(frozen=True)
class TextModuleInfo:
    id: int
    title: str
    body: str
    category: str | None
    created_by: str
    updated_at: datetime


def checked_body(body: object) -> str:
    """The module's text, stripped; refused (German) when empty, too long or with a placeholder other than
    ``{kunde}`` and ``{agent}`` – or a lone brace, which would look like one to the agent."""
    text = checked_text(body, MAX_BODY_CHARS, "Der Text des Textbausteins")
    rest = text
    for placeholder in PLACEHOLDERS:
        rest = rest.replace(placeholder, "")
    if found := _BRACED.search(rest):
        name = found.group() if len(found.group()) <= 42 else found.group()[:40] + "…}"
        raise InputError(f"Unbekannter Platzhalter {name}: erlaubt sind nur {{kunde}} (Name des Kunden) "
                         "und {agent} (Name der Person, die ihn einfügt).")
    if "{" in rest or "}" in rest:
        raise InputError("Der Text enthält eine einzelne geschweifte Klammer: Platzhalter sind nur {kunde} und "
                         "{agent}.")
    return text


def fill(body: str, customer: str, agent: str) -> str:
    """The module's text with its placeholders filled, a plain replace. Without a customer's name, ``{kunde}`` goes
    with the blank before it ("Guten Tag {kunde}," becomes "Guten Tag,")."""
    if not customer:
        body = body.replace(" {kunde}", "{kunde}")
    names = {"{kunde}": customer, "{agent}": agent}
    return _PLACEHOLDER.sub(lambda found: names[found.group()], body)  # one pass: a name is never read again


class TextModules:
    """The department's text modules on the database, categories checked against the company's list."""

    def __init__(self, database: Database, categories: CategorySet) -> None:
        self.database = database
        self.categories = categories

    def listed(self, category: str | None = None) -> list[TextModuleInfo]:
        """Every module by title; those of ``category`` first."""
        with self.database.session() as session:
            rows = [_info(row) for row in session.scalars(select(TextModule))]
        return sorted(rows, key=lambda m: (bool(category) and m.category != category, m.title.casefold(), m.id))

    def get(self, module_id: int) -> TextModuleInfo:
        with self.database.session() as session:
            return _info(_row(session, module_id))

    def create(self, title: object, body: object, category: object, actor: str) -> TextModuleInfo:
        clean = self._checked(title, body, category)
        try:
            with self.database.session() as session:
                _refuse_duplicate(session, clean[0])
                row = TextModule(title=clean[0], body=clean[1], category=clean[2], created_by=actor,
                                 updated_at=utcnow())
                session.add(row)
                session.flush()
                audit.record(session, actor, "text_module_created", text_module_id=row.id, title=row.title)
                return _info(row)
        except IntegrityError:  # the same title saved by someone else a moment ago: the unique index refused it
            raise _duplicate(clean[0]) from None

    def update(self, module_id: int, title: object, body: object, category: object, actor: str) -> TextModuleInfo:
        clean = self._checked(title, body, category)
        try:
            with self.database.session() as session:
                row = _row(session, module_id)
                _refuse_duplicate(session, clean[0], module_id)
                row.title, row.body, row.category, row.updated_at = *clean, utcnow()
                session.flush()
                audit.record(session, actor, "text_module_updated", text_module_id=row.id, title=row.title)
                return _info(row)
        except IntegrityError:
            raise _duplicate(clean[0]) from None

    def delete(self, module_id: int, actor: str) -> TextModuleInfo:
        with self.database.session() as session:
            row = _row(session, module_id)
            gone = _info(row)
            session.delete(row)
            audit.record(session, actor, "text_module_deleted", text_module_id=gone.id, title=gone.title)
            return gone

    def _checked(self, title: object, body: object, category: object) -> tuple[str, str, str | None]:
        clean_title = " ".join(checked_text(title, MAX_TITLE_CHARS, "Der Titel").split())
        if category is not None and not isinstance(category, str):
            raise InputError("Die Kategorie muss Text sein.")
        known = self.categories.get(category.strip()).id if category and category.strip() else None
        return clean_title, checked_body(body), known


def _duplicate(title: str) -> ConflictError:
    return ConflictError(f"Einen Textbaustein mit dem Titel „{title}“ gibt es schon – bitte einen anderen Titel "
                         "wählen oder den vorhandenen bearbeiten")


def _refuse_duplicate(session: Session, title: str, module_id: int | None = None) -> None:
    """Titles are unique regardless of case: "Rückruf" and "rückruf" side by side would confuse the agent."""
    others = session.scalars(select(TextModule.title).where(TextModule.id != (module_id or 0)))
    if any(other.casefold() == title.casefold() for other in others):
        raise _duplicate(title)


def _row(session: Session, module_id: int) -> TextModule:
    row = session.get(TextModule, module_id)
    if row is None:
        raise NotFoundError(f"Textbaustein {module_id} gibt es nicht")
    return row


def _info(row: TextModule) -> TextModuleInfo:
    return TextModuleInfo(id=row.id, title=row.title, body=row.body, category=row.category,
                          created_by=row.created_by, updated_at=row.updated_at)
