"""From review to evaluation case: a reviewed ticket becomes ``eval/cases/answer-NNN.yaml`` — the approved text
as reference, the reviewers' ratings, the (corrected) category — with personal data replaced before anything
is written."""

from __future__ import annotations

import re
import threading
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from assistant import audit
from assistant.errors import ConflictError, NotFoundError
from assistant.evaluate.anonymise import anonymise
from assistant.evaluate.cases import EvalCase
from assistant.store.db import Database
from assistant.store.tables import AuditEntry, DraftRow, Review, Ticket, User
from assistant.tickets.queries import latest_draft

# a fact worth checking: an amount, a duration or a limit with its unit
_UNITS = r"(?:€|EUR|Euro|Tage|Tagen|Werktage|Werktagen|Wochen|Monate|Monaten|Jahre|Jahren|Uhr|%|kg|cm)"
_FACT = re.compile(rf"(?:\d+\s?[–-]\s?)?\d+(?:[.,]\d+)?\s?{_UNITS}\b|\d+(?:[.,]\d+)?\s?€")


_WRITING = threading.Lock()  # check and write as one step: two clicks never make two cases


def case_from_ticket(database: Database, eval_dir: Path, company: dict[str, str], ticket_id: int,
                     author: str) -> Path:
    """One case per ticket: a second call answers 409 naming the existing case (duplicates would skew the gate).
    ``company``: the company facts (knowledge/company.yaml); its own name, domain, phone and address are kept."""
    cases = eval_dir / "cases"
    with _WRITING:
        existing = _existing_case(database, cases, ticket_id)
        if existing is not None:
            raise ConflictError(f"Für Ticket {ticket_id} gibt es schon den Evaluationsfall {existing}",
                                {"case": existing})
        return _write_case(database, cases, company, ticket_id, author)


def _existing_case(database: Database, folder: Path, ticket_id: int) -> str | None:
    with database.session() as session:
        for entry in session.scalars(select(AuditEntry).where(
                AuditEntry.ticket_id == ticket_id, AuditEntry.action == "eval_case_created")):
            case = str(entry.detail.get("case", ""))
            if case and (folder / f"{case}.yaml").is_file():
                return case  # a case someone deleted on purpose may be made again
    return None


def _write_case(database: Database, folder: Path, company: dict[str, str], ticket_id: int, author: str) -> Path:
    with database.session() as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            raise NotFoundError(f"Ticket {ticket_id} gibt es nicht")
        if ticket.status not in ("approved", "sent"):
            raise ConflictError("Nur geprüfte Tickets (freigegeben oder gesendet) werden Evaluationsfälle")
        draft = latest_draft(session, ticket.id)
        assert draft is not None
        ratings = session.execute(select(Review, User.name).join(User, User.id == Review.reviewer_id).where(
            Review.draft_id == draft.id, Review.decision == "rated")).all()
        verdict = _handover_verdict(session, draft.id)
        case = _case(folder, company, ticket, draft, [(r, name) for r, name in ratings], verdict)
    path = folder / f"{case['id']}.yaml"
    EvalCase(**case)  # the same checks as every shipped case, before anything is written
    temporary = path.with_suffix(".tmp")
    temporary.write_text(f"# aus Ticket (anonymisiert), angelegt von {author}\n"
                         + yaml.safe_dump(case, allow_unicode=True, sort_keys=False, width=110), encoding="utf-8")
    temporary.replace(path)
    with database.session() as session:
        audit.record(session, author, "eval_case_created", ticket_id=ticket_id, case=case["id"])
    return path


def _handover_verdict(session: Session, draft_id: int) -> bool | None:
    """The reviewer's word on whether the hand-over was needed (the newest rating that gave it), or None."""
    for entry in session.scalars(select(AuditEntry).where(AuditEntry.draft_id == draft_id,
                                                          AuditEntry.action == "rated").order_by(AuditEntry.id.desc())):
        needed = entry.detail.get("handover_needed")
        if isinstance(needed, bool):
            return needed
    return None


def _case(folder: Path, company: dict[str, str], ticket: Ticket, draft: DraftRow,
          ratings: list[tuple[Review, str]], verdict: bool | None = None) -> dict[str, Any]:
    """``verdict``: the reviewer said whether the hand-over was needed; it decides the expectation (otherwise: a
    hand-over is expected when the answer has no fact from the documents)."""
    name = parseaddr(ticket.customer)[0] or ticket.customer
    names = [name] if "@" not in name else []

    own = [company.get(k, "") for k in ("name", "domain", "phone")]
    own += [part.strip() for part in company.get("address", "").split(",")]  # street and town separately

    def clean(text: str) -> str:
        return anonymise(text, names, keep=[k for k in own if k])

    reference = clean(draft.text)
    quotes = " ".join(c.get("quote", "") for c in draft.citations)
    sources = sorted({c["source"] for c in draft.citations if not str(c.get("source", "")).startswith("proven/")})
    facts = [f for f in dict.fromkeys(_FACT.findall(reference)) if f in quotes] if sources else []
    handover = not sources or not facts  # answered by hand, not from the documents: a hand-over is right
    if verdict is not None:  # the reviewer knows better than the guess
        handover = verdict
    version = int(draft.prompt_version.rsplit("@v", 1)[1]) if "@v" in draft.prompt_version else None
    return {
        "id": _next_id(folder),
        "task": "answer",
        "input": {"subject": clean(ticket.subject), "body": clean(ticket.body), "customer": clean(ticket.customer)},
        "expectations": {"category": ticket.category, "facts": [] if handover else facts, "forbidden": [],
                         "sources": [] if handover else sources, "handover": handover},
        "reference_answer": reference,
        "ratings": [
            {"rater": rater, "score": review.rating, "comment": clean(review.comment or ""),
             "date": review.created_at.date().isoformat(), "prompt_version": version}
            for review, rater in ratings if review.rating and version
        ],
    }


def _next_id(folder: Path) -> str:
    numbers = [int(p.stem.split("-")[1]) for p in folder.glob("answer-*.yaml") if p.stem.split("-")[1].isdigit()]
    return f"answer-{max(numbers, default=0) + 1:03d}"
