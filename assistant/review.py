"""Review and sending: edit, approve, reject, rate, correct the category, send. The only code that puts a
message into the outbox — and it does so only for text a person approved in exactly that form.

An approval stores the SHA-256 of the text it approved; an edit afterwards voids it (the ticket goes back to
``drafted``). Sending creates one outbox row per draft (unique), so a repeated or concurrent send returns
the same message instead of a second mail. The ticket stays ``approved`` until the mail is delivered.

An approval teaches: each paragraph that answered a question from the documents becomes a proven answer
(assistant/answer/learning.py); when the approval no longer holds (an edit, a reject, a message taken back) what
it taught is withdrawn. Both are audit-logged with ids and hashes.

A message still waiting in the outbox can be taken back (``cancel``): its row is deleted — from ``pending`` only,
in one conditional statement, as delivery claims it from ``pending`` to ``sending``, so a message is either
delivered or cancelled, never both — and the approval is void. The audit log keeps the cancelled message's
Message-ID and text hash; a later send of the same draft makes a new row.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from assistant import audit, jobs
from assistant.answer.learning import Approved, ProvenLearner
from assistant.answer.promises import describe
from assistant.auth import ROLES, Principal
from assistant.categorise.examples import ExampleStore
from assistant.domain import (
    ConflictError,
    Draft,
    DraftFlag,
    InputError,
    NotFoundError,
    check_transition,
    checked_text,
)
from assistant.outbox import DeliveryError, Mailer, OutgoingMail
from assistant.store.db import Database
from assistant.store.tables import DraftRow, OutboxMessage, Review, Ticket, User, utcnow
from assistant.tickets import latest_draft, valid_address

log = logging.getLogger("kontor.review")
MAX_ANSWER_CHARS = 20_000
SENDING_LEASE = timedelta(minutes=5)  # a claim on a message to deliver; after it, another attempt may start


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min … at most one hour between delivery attempts."""
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


class Workflow:
    def __init__(self, database: Database, examples: ExampleStore, mailer: Callable[[], Mailer],
                 sender: tuple[str, str], wake_jobs: Callable[[], None] = lambda: None,
                 promises: Callable[[str], list[DraftFlag]] = lambda _: [],
                 proven: ProvenLearner | None = None) -> None:
        self.database = database
        self.proven = proven  # learns proven answers from approvals; None: nothing is learned
        self.promises = promises  # the promises in a text that need a person's explicit confirmation
        self.examples = examples
        self.mailer = mailer
        self.sender = sender  # (address, display name)
        self.wake_jobs = wake_jobs

    # --- drafts from the background job --------------------------------------------------------------------

    def save_draft(self, ticket_id: int, draft: Draft, category: tuple[str, float, str] | None) -> int:
        with self.database.session() as session:
            ticket = _ticket(session, ticket_id)
            _refuse_while_sending(session, ticket.id)
            target = "needs_human" if draft.handover else "drafted"
            check_transition(ticket.status, target)
            row = DraftRow(
                ticket_id=ticket.id, text=draft.answer, generated_text=draft.answer,
                citations=[c.model_dump() for c in draft.citations],
                sections=[s.model_dump() for s in draft.sections], notes=draft.notes,
                flags=[f.model_dump() for f in self.promises(draft.answer)],
                source_chunk_ids=[c.chunk_id for c in draft.citations], category=category[0] if category else None,
                handover=draft.handover, method=draft.method, prompt_version=draft.prompt_version,
                model=draft.model, model_sha256=draft.model_sha256, timings_ms=draft.timings_ms,
            )
            session.add(row)
            if category and ticket.category_method != "person":  # a person's correction outranks the machine
                ticket.category, ticket.category_confidence, ticket.category_method = category
            _move(ticket, target)
            session.flush()
            audit.record(session, "system", "drafted", ticket_id=ticket.id, draft_id=row.id,
                         text_sha256=sha256(row.text), prompt_version=row.prompt_version,
                         model_sha256=row.model_sha256, sources=row.source_chunk_ids, handover=draft.handover,
                         category=row.category)
            return row.id

    def give_up(self, ticket_id: int, reason: str) -> None:
        """Drafting failed for good: an empty draft for a person to write, status ``needs_human``."""
        with self.database.session() as session:
            ticket = _ticket(session, ticket_id)
            if latest_draft(session, ticket.id) is not None:  # a failed regenerate keeps the current draft
                audit.record(session, "system", "draft_failed", ticket_id=ticket.id, reason=reason, kept=True)
                return
            row = DraftRow(ticket_id=ticket.id, text="", generated_text="", citations=[], source_chunk_ids=[],
                           handover=True, method="failed", prompt_version="", model="", model_sha256="",
                           timings_ms={})
            session.add(row)
            _move(ticket, "needs_human")
            session.flush()
            audit.record(session, "system", "draft_failed", ticket_id=ticket.id, draft_id=row.id, reason=reason)

    def regenerate(self, ticket_id: int, user: Principal) -> None:
        with self.database.session() as session:
            ticket = _ticket(session, ticket_id)
            if ticket.status == "sent":
                raise ConflictError("Die Antwort ist schon gesendet")
            _refuse_while_sending(session, ticket.id)
            jobs.enqueue(session, "draft", ticket.id)
            audit.record(session, user.name, "regenerate_requested", ticket_id=ticket.id)
        self.wake_jobs()

    # --- a person's review -----------------------------------------------------------------------------------

    def edit(self, draft_id: int, text: str, user: Principal) -> DraftRow:
        text = checked_text(text, MAX_ANSWER_CHARS, "Der Antworttext")
        with self.database.session() as session:
            draft, ticket = _current_draft(session, draft_id)
            if ticket.status == "sent":
                raise ConflictError("Die Antwort ist schon gesendet und kann nicht mehr geändert werden")
            _refuse_while_sending(session, ticket.id)
            if text == draft.text:
                return draft
            draft.text, draft.updated_at = text, utcnow()
            draft.flags = [f.model_dump() for f in self.promises(text)]  # an added promise is flagged too
            if ticket.status == "approved":
                _move(ticket, "drafted")  # the approval was for the old text
                self._withdraw(session, draft, ticket, user)
            session.add(Review(draft_id=draft.id, decision="edited", text_sha256=sha256(text), edited_text=text,
                               reviewer_id=user.id))
            audit.record(session, user.name, "edited", ticket_id=ticket.id, draft_id=draft.id,
                         text_sha256=sha256(text), **_provenance(draft))  # type: ignore[arg-type]
            return draft

    def set_recipient(self, ticket_id: int, address: str, user: Principal) -> Ticket:
        """Correct the address the answer goes to (the sender could not be parsed, or the customer asked)."""
        address = address.strip()
        if not valid_address(address):
            raise InputError("Das ist keine gültige E-Mail-Adresse (Beispiel: name@firma.de)")
        with self.database.session() as session:
            ticket = _ticket(session, ticket_id)
            if ticket.status == "sent":
                raise ConflictError("Die Antwort ist schon gesendet")
            _refuse_while_sending(session, ticket.id)
            ticket.customer_email = address
            audit.record(session, user.name, "recipient_corrected", ticket_id=ticket.id,
                         address_sha256=sha256(address.lower()))  # the audit log keeps no addresses
            return ticket

    def approve(self, draft_id: int, user: Principal) -> DraftRow:
        if not user.has_role("agent"):
            raise ConflictError("Freigeben dürfen nur Kundendienst-Mitarbeitende")
        learned: list[int] = []
        try:
            with self.database.session() as session:
                draft, ticket, new = _approval(session, draft_id, user)
                if new:
                    learned = self._learn(session, draft, ticket, user)
                return draft
        except BaseException:
            if self.proven is not None:
                self.proven.forget(learned)  # the approval did not happen, so it taught nothing
            raise

    def _learn(self, session: Session, draft: DraftRow, ticket: Ticket, user: Principal) -> list[int]:
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

    def _withdraw(self, session: Session, draft: DraftRow, ticket: Ticket, user: Principal) -> None:
        """The draft's approval no longer holds: neither does what it taught."""
        if self.proven is None:
            return
        removed = self.proven.withdraw(draft.id)
        if removed:
            audit.record(session, user.name, "proven_withdrawn", ticket_id=ticket.id, draft_id=draft.id,
                         proven=removed)

    def reject(self, draft_id: int, user: Principal, comment: str = "") -> DraftRow:
        with self.database.session() as session:
            draft, ticket = _current_draft(session, draft_id)
            _refuse_while_sending(session, ticket.id)
            check_transition(ticket.status, "rejected")
            session.add(Review(draft_id=draft.id, decision="rejected", comment=comment[:2000] or None,
                               reviewer_id=user.id))
            _move(ticket, "rejected")
            self._withdraw(session, draft, ticket, user)
            # the comment is free text: it stays on the review row, which an erasure reaches
            audit.record(session, user.name, "rejected", ticket_id=ticket.id, draft_id=draft.id,
                         text_sha256=sha256(draft.text), **_provenance(draft))  # type: ignore[arg-type]
            return draft

    def rate(self, draft_id: int, score: int, comment: str, user: Principal) -> None:
        if not 1 <= score <= 5:
            raise ValueError("Die Bewertung muss zwischen 1 und 5 liegen")
        with self.database.session() as session:
            draft = session.get(DraftRow, draft_id)
            if draft is None:
                raise NotFoundError(f"Entwurf {draft_id} gibt es nicht")
            session.add(Review(draft_id=draft.id, decision="rated", rating=score, comment=comment[:2000] or None,
                               reviewer_id=user.id))
            audit.record(session, user.name, "rated", ticket_id=draft.ticket_id, draft_id=draft.id, score=score)

    def recategorise(self, ticket_id: int, category: str, user: Principal) -> Ticket:
        """A person's category becomes a labelled example at once; the next categorisation learns from it."""
        with self.database.session() as session:
            ticket = _ticket(session, ticket_id)
            text = f"{ticket.subject}\n{ticket.body}"
        learned = self.examples.add(text, category, source="review", user=user.name)
        with self.database.session() as session:
            ticket = _ticket(session, ticket_id)
            previous = ticket.category
            ticket.category, ticket.category_confidence, ticket.category_method = learned.category, 1.0, "person"
            ticket.updated_at = utcnow()
            current = latest_draft(session, ticket.id)
            if current is not None:
                session.add(Review(draft_id=current.id, decision="recategorised",
                                   category_correction=learned.category, reviewer_id=user.id))
            audit.record(session, user.name, "recategorised", ticket_id=ticket.id,
                         draft_id=current.id if current else None, previous=previous, category=learned.category)
            return ticket

    # --- sending ---------------------------------------------------------------------------------------------

    def send(self, draft_id: int, user: Principal, confirm: Collection[str] = ()) -> OutboxMessage:
        """``confirm``: the kinds of promise the person confirmed (all flagged kinds must be among them)."""
        try:
            message_id = self._queue_for_sending(draft_id, user, set(confirm))
        except IntegrityError:  # a concurrent send of the same draft won the race: same message, no second
            with self.database.session() as session:
                existing = session.scalar(select(OutboxMessage).where(OutboxMessage.draft_id == draft_id))
                if existing is None:
                    raise
                message_id = existing.id
        return self.deliver(message_id)

    def _check_promises(self, session: Session, draft: DraftRow, ticket: Ticket, user: Principal,
                        confirmed: set[str]) -> None:
        """A text that promises money, a discount, compensation, an unusual period or a legal commitment is sent
        only when the person confirmed exactly those kinds; the confirmation lands in the audit log (the kinds
        and the text's hash, not the sentences: the audit log keeps no customer text)."""
        flags = self.promises(draft.text)
        missing = sorted({f.kind for f in flags} - confirmed)
        if missing:
            raise ConflictError(_flag_message([f for f in flags if f.kind in missing]),
                                {"flags": [f.model_dump() for f in flags], "unconfirmed": missing})
        if flags:
            audit.record(session, user.name, "promises_confirmed", ticket_id=ticket.id, draft_id=draft.id,
                         text_sha256=sha256(draft.text), kinds=sorted({f.kind for f in flags}))

    def _queue_for_sending(self, draft_id: int, user: Principal, confirmed: set[str]) -> int:
        with self.database.session() as session:
            existing = session.scalar(select(OutboxMessage).where(OutboxMessage.draft_id == draft_id))
            if existing is not None:
                return existing.id  # idempotent: sending again never makes a second mail
            draft, ticket = _current_draft(session, draft_id)
            if ticket.status != "approved":
                raise ConflictError("Senden geht nur nach Freigabe des aktuellen Textes")
            approval = _valid_approval(session, draft)
            if approval is None:
                raise ConflictError("Der Text wurde nach der Freigabe geändert – bitte erneut freigeben")
            if not ticket.customer_email:
                raise ConflictError("Für diesen Kunden ist keine E-Mail-Adresse bekannt")
            self._check_promises(session, draft, ticket, user, confirmed)
            digest = sha256(draft.text)
            domain = self.sender[0].rpartition("@")[2] or "kontor.local"
            message = OutboxMessage(
                draft_id=draft.id, ticket_id=ticket.id,
                message_id=f"<kontor-{ticket.id}-{draft.id}-{digest[:12]}@{domain}>",
                to_address=ticket.customer_email, to_name=_display_name(ticket.customer),
                subject=_reply_subject(ticket.subject), body=draft.text, text_sha256=digest, status="pending",
                attempts=0,
            )
            session.add(message)
            session.flush()
            audit.record(session, user.name, "send_requested", ticket_id=ticket.id, draft_id=draft.id,
                         text_sha256=digest, prompt_version=draft.prompt_version, model_sha256=draft.model_sha256,
                         sources=draft.source_chunk_ids, approved_by_review=approval.id)
            return message.id

    def cancel(self, draft_id: int, user: Principal) -> DraftRow:
        """Take the draft's message back from the outbox before it is delivered (e.g. the server keeps refusing
        it): never sent, approval void, the ticket open again for edit, reject and regenerate."""
        with self.database.session() as session:
            draft, ticket = _current_draft(session, draft_id)
            taken = session.execute(
                delete(OutboxMessage).where(OutboxMessage.draft_id == draft.id, OutboxMessage.status == "pending")
                .returning(OutboxMessage.message_id, OutboxMessage.text_sha256, OutboxMessage.attempts)
            ).one_or_none()
            if taken is None:
                raise ConflictError(_not_cancellable(session, draft.id))
            session.add(Review(draft_id=draft.id, decision="cancelled", text_sha256=taken.text_sha256,
                               reviewer_id=user.id))  # voids the approval: sending again needs a new one
            _move(ticket, "drafted")
            self._withdraw(session, draft, ticket, user)
            audit.record(session, user.name, "send_cancelled", ticket_id=ticket.id, draft_id=draft.id,
                         text_sha256=taken.text_sha256, message_id=taken.message_id, attempts=taken.attempts)
            return draft

    def deliver(self, outbox_id: int) -> OutboxMessage:
        """One delivery attempt, by whoever claims the message first (a request or the worker): success marks
        the ticket sent; failure schedules a retry with backoff. A claim is a lease: if the process dies
        while sending, the message is tried again when the lease has run out."""
        now = datetime.now(UTC)
        with self.database.session() as session:
            claimed = session.execute(
                update(OutboxMessage).where(
                    OutboxMessage.id == outbox_id, OutboxMessage.status.in_(("pending", "sending")),
                    OutboxMessage.next_attempt_at <= now,
                ).values(status="sending", next_attempt_at=now + SENDING_LEASE)
            )
            message = session.get(OutboxMessage, outbox_id)
            if message is None:  # taken back by a person before anyone claimed it
                raise ConflictError("Die Antwort wurde aus dem Postausgang zurückgeholt und nicht gesendet")
            if claimed.rowcount != 1:  # type: ignore[attr-defined]  # delivered, waiting, or being sent
                return message
            mail = OutgoingMail(
                message_id=message.message_id, sender=self.sender[0], sender_name=self.sender[1],
                to=message.to_address, to_name=message.to_name, subject=message.subject, body=message.body,
            )
        try:
            self.mailer().deliver(mail)
        except DeliveryError as exc:
            return self._delivery_failed(outbox_id, str(exc))
        with self.database.session() as session:
            message = session.get(OutboxMessage, outbox_id)
            assert message is not None
            message.status, message.delivered_at = "delivered", utcnow()
            message.attempts += 1
            ticket = _ticket(session, message.ticket_id)
            _move(ticket, "sent")
            draft = session.get(DraftRow, message.draft_id)
            assert draft is not None
            audit.record(session, "system", "sent", ticket_id=ticket.id, draft_id=message.draft_id,
                         text_sha256=message.text_sha256, message_id=message.message_id,
                         **_provenance(draft))  # type: ignore[arg-type]
            return message

    def _delivery_failed(self, outbox_id: int, reason: str) -> OutboxMessage:
        log.warning("delivery of outbox message %s failed: %s", outbox_id, reason)
        with self.database.session() as session:
            message = session.get(OutboxMessage, outbox_id)
            assert message is not None
            message.status = "pending"
            message.attempts += 1
            message.last_error = reason[:2000]
            message.next_attempt_at = datetime.now(UTC) + backoff(message.attempts)
            # the reason may quote the address (a server's refusal): it stays in the outbox row's last_error
            audit.record(session, "system", "delivery_failed", ticket_id=message.ticket_id,
                         draft_id=message.draft_id, attempt=message.attempts)
            return message

    def deliver_due(self) -> int:
        """Try every message whose time has come (called by the job worker); one broken message does not
        hold up the others."""
        now = datetime.now(UTC)
        with self.database.session() as session:
            due = list(session.scalars(select(OutboxMessage.id).where(
                OutboxMessage.status.in_(("pending", "sending")), OutboxMessage.next_attempt_at <= now)))
        for outbox_id in due:
            try:
                self.deliver(outbox_id)
            except ConflictError:
                log.info("outbox message %s was taken back before delivery", outbox_id)
            except Exception:  # noqa: BLE001 - logged; the lease makes it due again later
                log.exception("delivery of outbox message %s failed unexpectedly", outbox_id)
        return len(due)


def _refuse_while_sending(session: Session, ticket_id: int) -> None:
    """Once a text is in the outbox, nothing may change what that ticket's answer is."""
    pending = session.scalar(select(OutboxMessage.id).where(
        OutboxMessage.ticket_id == ticket_id, OutboxMessage.status.in_(("pending", "sending"))))
    if pending is not None:
        raise ConflictError("Die Antwort ist schon im Postausgang und wird zugestellt – Änderungen sind gesperrt")


def _not_cancellable(session: Session, draft_id: int) -> str:
    status = session.scalar(select(OutboxMessage.status).where(OutboxMessage.draft_id == draft_id))
    if status == "delivered":
        return "Die Antwort ist schon zugestellt – zurückholen geht nicht mehr"
    if status == "sending":
        return "Die Antwort wird gerade zugestellt – zurückholen geht nur, solange sie wartet"
    return "Diese Antwort wartet nicht im Postausgang"


def _flag_message(flags: list[DraftFlag]) -> str:
    return ("Der Text enthält Zusagen, die Sie ausdrücklich bestätigen müssen: " + describe(flags)
            + ". Bitte prüfen und beim Senden bestätigen.")


def _provenance(draft: DraftRow) -> dict[str, object]:
    return {"prompt_version": draft.prompt_version or None, "model_sha256": draft.model_sha256 or None,
            "sources": draft.source_chunk_ids}


def _ticket(session: Session, ticket_id: int) -> Ticket:
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFoundError(f"Ticket {ticket_id} gibt es nicht")
    return ticket


def _current_draft(session: Session, draft_id: int) -> tuple[DraftRow, Ticket]:
    draft = session.get(DraftRow, draft_id)
    if draft is None:
        raise NotFoundError(f"Entwurf {draft_id} gibt es nicht")
    latest = latest_draft(session, draft.ticket_id)
    if latest is None or latest.id != draft.id:
        raise ConflictError("Das ist nicht mehr der aktuelle Entwurf dieses Tickets")
    return draft, _ticket(session, draft.ticket_id)


def _valid_approval(session: Session, draft: DraftRow) -> Review | None:
    """The approval that still holds: the last approve/edit/cancel act is an approval of exactly the current
    text, by a user who may approve."""
    last = session.scalar(
        select(Review).where(Review.draft_id == draft.id, Review.decision.in_(("approved", "edited", "cancelled")))
        .order_by(Review.id.desc())
    )
    if last is None or last.decision != "approved" or last.text_sha256 != sha256(draft.text):
        return None
    reviewer = session.get(User, last.reviewer_id)
    if reviewer is None or not reviewer.active or reviewer.role not in ROLES:
        return None
    return last


def _approval(session: Session, draft_id: int, user: Principal) -> tuple[DraftRow, Ticket, bool]:
    """Approve the current text; False when it is approved in exactly this form already."""
    draft, ticket = _current_draft(session, draft_id)
    if not draft.text.strip():
        raise ConflictError("Ein leerer Entwurf kann nicht freigegeben werden")
    if not valid_address(ticket.customer_email):
        raise ConflictError("Für diesen Kunden ist keine gültige E-Mail-Adresse bekannt – bitte zuerst die "
                            "Empfängeradresse eintragen", {"field": "recipient"})
    if ticket.status == "approved" and _valid_approval(session, draft) is not None:
        return draft, ticket, False
    if ticket.status == "rejected" and not _edited_since_rejection(session, draft):
        raise ConflictError("Nach dem Verwerfen bitte zuerst die Antwort von Hand schreiben")
    if ticket.status != "approved":  # approved without a valid approval (e.g. approver removed): re-approve
        _move(ticket, "approved")
    digest = sha256(draft.text)
    session.add(Review(draft_id=draft.id, decision="approved", text_sha256=digest, reviewer_id=user.id))
    audit.record(session, user.name, "approved", ticket_id=ticket.id, draft_id=draft.id, text_sha256=digest,
                 **_provenance(draft))  # type: ignore[arg-type]
    return draft, ticket, True


def _was_rejected(session: Session, draft: DraftRow) -> bool:
    return session.scalar(select(Review.id).where(Review.draft_id == draft.id, Review.decision == "rejected")
                          .limit(1)) is not None


def _edited_since_rejection(session: Session, draft: DraftRow) -> bool:
    last = session.scalar(select(Review.decision).where(
        Review.draft_id == draft.id, Review.decision.in_(("rejected", "edited"))).order_by(Review.id.desc()))
    return last == "edited"


def _move(ticket: Ticket, target: str) -> None:
    check_transition(ticket.status, target)
    ticket.status, ticket.updated_at = target, utcnow()


def _display_name(customer: str) -> str:
    name, address = parseaddr(customer)
    return name or ("" if address == customer else customer)


def _reply_subject(subject: str) -> str:
    subject = " ".join(subject.split())
    return subject if subject.lower().startswith(("re:", "aw:")) else f"Re: {subject}"
