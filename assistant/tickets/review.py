"""A person's review: edit, approve, reject, rate, correct the category or the recipient, ask for a new draft.

An approval stores the SHA-256 of the text it approved; an edit afterwards voids it (the ticket goes back to
``drafted``). Only an approval of exactly the current text lets ``sending`` put it into the outbox.

An approval teaches: each paragraph that answered a question from the documents becomes a proven answer
(assistant/answer/learning.py); when the approval no longer holds (an edit, a reject, a message taken back) what
it taught is withdrawn. Both are audit-logged with ids and hashes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from assistant import audit, jobs
from assistant.answer.learning import Approved, ProvenLearner
from assistant.auth import ROLES, Principal
from assistant.categorise.examples import AddResult, ExampleStore
from assistant.domain import DraftFlag, checked_text
from assistant.errors import ConflictError, InputError
from assistant.jobs import JobKind
from assistant.store.db import Database
from assistant.store.tables import AuditEntry, DraftRow, Review, Ticket, User, utcnow
from assistant.tickets.assignment import Routing
from assistant.tickets.intake import valid_address
from assistant.tickets.queries import (
    current_draft,
    get_draft,
    get_ticket,
    latest_draft,
    refuse_while_sending,
    ticket_text,
)
from assistant.tickets.records import provenance, sha256
from assistant.tickets.state import Decision, TicketStatus, check_transition, move

log = logging.getLogger("kontor.review")
MAX_ANSWER_CHARS = 20_000


class ReviewDesk:
    def __init__(self, database: Database, examples: ExampleStore, wake_jobs: Callable[[], None] = lambda: None,
                 promises: Callable[[str], list[DraftFlag]] = lambda _: [],
                 proven: ProvenLearner | None = None, routing: Routing | None = None) -> None:
        self.database = database
        self.routing = routing  # the ticket's team follows the category a person chose (None: no routing)
        self.examples = examples
        self.wake_jobs = wake_jobs
        self.promises = promises  # the promises in a text that need a person's explicit confirmation
        self.teacher = Teacher(proven)

    def regenerate(self, ticket_id: int, user: Principal) -> None:
        with self.database.session() as session:
            ticket = get_ticket(session, ticket_id)
            if ticket.status == TicketStatus.SENT:
                raise ConflictError("Die Antwort ist schon gesendet")
            refuse_while_sending(session, ticket.id)
            jobs.enqueue(session, JobKind.DRAFT, ticket.id, priority=jobs.Priority.REDRAFT)
            audit.record(session, user.name, "regenerate_requested", ticket_id=ticket.id)
        self.wake_jobs()

    def edit(self, draft_id: int, text: str, user: Principal) -> DraftRow:
        text = checked_text(text, MAX_ANSWER_CHARS, "Der Antworttext")
        with self.database.session() as session:
            draft, ticket = current_draft(session, draft_id)
            if ticket.status == TicketStatus.SENT:
                raise ConflictError("Die Antwort ist schon gesendet und kann nicht mehr geändert werden")
            refuse_while_sending(session, ticket.id)
            if text == draft.text:
                return draft
            draft.text, draft.updated_at = text, utcnow()
            draft.flags = [f.model_dump() for f in self.promises(text)]  # an added promise is flagged too
            if ticket.status == TicketStatus.APPROVED:
                move(ticket, TicketStatus.DRAFTED)  # the approval was for the old text
                self.teacher.withdraw(session, draft, ticket, user)
            session.add(Review(draft_id=draft.id, decision=Decision.EDITED.value, text_sha256=sha256(text),
                               edited_text=text, reviewer_id=user.id))
            audit.record(session, user.name, "edited", ticket_id=ticket.id, draft_id=draft.id,
                         text_sha256=sha256(text), **provenance(draft))  # type: ignore[arg-type]
            return draft

    def set_recipient(self, ticket_id: int, address: str, user: Principal) -> Ticket:
        """Correct the address the answer goes to (the sender could not be parsed, or the customer asked)."""
        address = address.strip()
        if not valid_address(address):
            raise InputError("Das ist keine gültige E-Mail-Adresse (Beispiel: name@firma.de)")
        with self.database.session() as session:
            ticket = get_ticket(session, ticket_id)
            if ticket.status == TicketStatus.SENT:
                raise ConflictError("Die Antwort ist schon gesendet")
            refuse_while_sending(session, ticket.id)
            ticket.customer_email = address
            audit.record(session, user.name, "recipient_corrected", ticket_id=ticket.id,
                         address_sha256=sha256(address.lower()))  # the audit log keeps no addresses
            return ticket

    def approve(self, draft_id: int, user: Principal) -> DraftRow:
        learned: list[int] = []
        try:
            with self.database.session() as session:
                draft, ticket, new = _approval(session, draft_id, user)
                if new:
                    learned = self.teacher.learn(session, draft, ticket, user)
                return draft
        except BaseException:
            self.teacher.forget(learned)  # the approval did not happen, so it taught nothing
            raise

    def reject(self, draft_id: int, user: Principal, comment: str = "") -> DraftRow:
        with self.database.session() as session:
            draft, ticket = current_draft(session, draft_id)
            refuse_while_sending(session, ticket.id)
            check_transition(ticket.status, TicketStatus.REJECTED)
            session.add(Review(draft_id=draft.id, decision=Decision.REJECTED.value, comment=comment[:2000] or None,
                               reviewer_id=user.id))
            move(ticket, TicketStatus.REJECTED)
            self.teacher.withdraw(session, draft, ticket, user)
            # the comment is free text: it stays on the review row, which an erasure reaches
            audit.record(session, user.name, "rejected", ticket_id=ticket.id, draft_id=draft.id,
                         text_sha256=sha256(draft.text), **provenance(draft))  # type: ignore[arg-type]
            return draft

    def rate(self, draft_id: int, score: int, comment: str, user: Principal,
             handover_needed: bool | None = None) -> None:
        """``handover_needed``: the reviewer's verdict on the hand-over (None: not given); it is kept in the
        rating's audit entry, and an evaluation case made from the ticket takes it as its expectation."""
        if not 1 <= score <= 5:
            raise InputError("Die Bewertung muss zwischen 1 und 5 liegen")
        with self.database.session() as session:
            draft = get_draft(session, draft_id)
            session.add(Review(draft_id=draft.id, decision=Decision.RATED.value, rating=score,
                               comment=comment[:2000] or None, reviewer_id=user.id))
            audit.record(session, user.name, "rated", ticket_id=draft.ticket_id, draft_id=draft.id, score=score,
                         handover_needed=handover_needed)

    def recategorise(self, ticket_id: int, category: str, user: Principal) -> Ticket:
        """A person's category becomes a labelled example at once, in the same transaction; the next
        categorisation learns from it. The example is the text categorisation reads when drafting."""
        with self.database.session() as session:
            ticket = get_ticket(session, ticket_id)
            text = ticket_text(ticket)[: self.examples.max_chars]
            learned = self.examples.add(text, category, source="review", user=user.name, session=session)
            previous = ticket.category
            previous_confidence, previous_method = ticket.category_confidence, ticket.category_method
            ticket.category, ticket.category_confidence, ticket.category_method = learned.category, 1.0, "person"
            if self.routing is not None:
                self.routing.set_by_person(ticket)
            ticket.updated_at = utcnow()
            current = latest_draft(session, ticket.id)
            if current is not None:
                session.add(Review(draft_id=current.id, decision=Decision.RECATEGORISED.value,
                                   category_correction=learned.category, reviewer_id=user.id))
            # what an undo needs to take it back: the ticket's earlier category and what became of the example
            audit.record(session, user.name, "recategorised", ticket_id=ticket.id,
                         draft_id=current.id if current else None, previous=previous, category=learned.category,
                         previous_confidence=previous_confidence, previous_method=previous_method,
                         example_id=learned.id, example_status=learned.status, example_previous=learned.previous)
            return ticket

    def undo_recategorise(self, ticket_id: int, user: Principal) -> Ticket:
        """Take back the ticket's last category correction: its earlier category returns and the labelled example
        the correction made is withdrawn (removed, or its old label restored). Once per correction."""
        with self.database.session() as session:
            ticket = get_ticket(session, ticket_id)
            last = session.scalar(select(AuditEntry).where(
                AuditEntry.ticket_id == ticket.id,
                AuditEntry.action.in_(("recategorised", "recategorise_undone"))).order_by(AuditEntry.id.desc()))
            if last is None or last.action != "recategorised" or ticket.category != last.detail.get("category"):
                raise ConflictError("Es gibt keine Kategorie-Änderung, die sich rückgängig machen lässt")
            detail = last.detail
            status = detail.get("example_status")
            if detail.get("example_id") is not None and status in ("added", "relabelled", "duplicate"):
                self.examples.withdraw(session, AddResult(status, int(detail["example_id"]), str(detail["category"]),
                                                          detail.get("example_previous")))
            ticket.category = detail.get("previous")
            ticket.category_confidence = detail.get("previous_confidence")
            ticket.category_method = detail.get("previous_method")
            if self.routing is not None:
                self.routing.follow(ticket, detail.get("category"))
            ticket.updated_at = utcnow()
            audit.record(session, user.name, "recategorise_undone", ticket_id=ticket.id, category=ticket.category,
                         withdrawn=detail.get("category"), example_id=detail.get("example_id"),
                         example_status=status)
            return ticket


class Teacher:
    """What approvals teach (proven answers), and taking it back when the approval no longer holds."""

    def __init__(self, proven: ProvenLearner | None) -> None:
        self.proven = proven  # None: nothing is learned

    def learn(self, session: Session, draft: DraftRow, ticket: Ticket, user: Principal) -> list[int]:
        """The approved draft's answers become proven answers; the audit log names them by id and hash. A draft
        once rejected teaches nothing, even when the hand-written text that replaced it is approved."""
        if self.proven is None or draft.handover or _was_rejected(session, draft):
            return []
        learned = self.proven.learn(Approved(
            ticket_id=ticket.id, draft_id=draft.id, approved_by=user.name, customer=ticket.customer,
            customer_email=ticket.customer_email or "", subject=ticket.subject, body=ticket.body,
            generated=draft.generated_text, text=draft.text, sections=draft.sections or [],
            citations=draft.citations or [],
        ))
        if learned.ids:
            audit.record(session, user.name, "proven_learned", ticket_id=ticket.id, draft_id=draft.id,
                         text_sha256=sha256(draft.text), proven=learned.ids,
                         question_sha256=[sha256(lesson.question) for lesson in learned.lessons],
                         answer_sha256=[sha256(lesson.answer) for lesson in learned.lessons],
                         skipped=dict(learned.skipped))
        return learned.ids

    def forget(self, ids: list[int]) -> None:
        if self.proven is not None and ids:
            self.proven.forget(ids)

    def withdraw(self, session: Session, draft: DraftRow, ticket: Ticket, user: Principal) -> None:
        """The draft's approval no longer holds: neither does what it taught."""
        if self.proven is None:
            return
        removed = self.proven.withdraw(draft.id)
        if removed:
            audit.record(session, user.name, "proven_withdrawn", ticket_id=ticket.id, draft_id=draft.id,
                         proven=removed)


def valid_approval(session: Session, draft: DraftRow) -> Review | None:
    """The approval that still holds: the last approve/edit/cancel act is an approval of exactly the current
    text, by a user who may approve."""
    acts = (Decision.APPROVED, Decision.EDITED, Decision.CANCELLED)
    last = session.scalar(
        select(Review).where(Review.draft_id == draft.id, Review.decision.in_(acts)).order_by(Review.id.desc())
    )
    if last is None or last.decision != Decision.APPROVED or last.text_sha256 != sha256(draft.text):
        return None
    reviewer = session.get(User, last.reviewer_id)
    if reviewer is None or not reviewer.active or reviewer.role not in ROLES:
        return None
    return last


def _approval(session: Session, draft_id: int, user: Principal) -> tuple[DraftRow, Ticket, bool]:
    """Approve the current text; False when it is approved in exactly this form already."""
    draft, ticket = current_draft(session, draft_id)
    if not draft.text.strip():
        raise ConflictError("Ein leerer Entwurf kann nicht freigegeben werden")
    if not valid_address(ticket.customer_email):
        raise ConflictError("Für diesen Kunden ist keine gültige E-Mail-Adresse bekannt – bitte zuerst die "
                            "Empfängeradresse eintragen", {"field": "recipient"})
    if ticket.status == TicketStatus.APPROVED and valid_approval(session, draft) is not None:
        return draft, ticket, False
    if ticket.status == TicketStatus.REJECTED and not _edited_since_rejection(session, draft):
        raise ConflictError("Nach dem Verwerfen bitte zuerst die Antwort von Hand schreiben")
    if ticket.status != TicketStatus.APPROVED:  # approved without a valid approval (e.g. approver removed): re-approve
        move(ticket, TicketStatus.APPROVED)
    digest = sha256(draft.text)
    session.add(Review(draft_id=draft.id, decision=Decision.APPROVED.value, text_sha256=digest, reviewer_id=user.id))
    audit.record(session, user.name, "approved", ticket_id=ticket.id, draft_id=draft.id, text_sha256=digest,
                 **provenance(draft))  # type: ignore[arg-type]
    return draft, ticket, True


def _was_rejected(session: Session, draft: DraftRow) -> bool:
    return session.scalar(select(Review.id).where(Review.draft_id == draft.id, Review.decision == Decision.REJECTED)
                          .limit(1)) is not None


def _edited_since_rejection(session: Session, draft: DraftRow) -> bool:
    acts = (Decision.REJECTED, Decision.EDITED)
    last = session.scalar(select(Review.decision).where(Review.draft_id == draft.id, Review.decision.in_(acts))
                          .order_by(Review.id.desc()))
    return last == Decision.EDITED
