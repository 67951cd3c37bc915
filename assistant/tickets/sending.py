"""Sending: the only code that puts a message into the outbox — and only for text a person approved in exactly
that form — and delivers it.

Sending creates one outbox row per draft (unique), so a repeated or concurrent send returns the same message
instead of a second mail. The ticket stays ``approved`` until the mail is delivered. Delivery claims a message
with a lease (``SENDING_LEASE``): if the process dies while sending, the message is due again when the lease has
run out; a failure schedules a retry with ``backoff``. ``deliver_due`` is the worker's periodic job that tries
every message whose time has come.

A message still waiting in the outbox can be taken back (``cancel``): its row is deleted — from ``pending`` only,
in one conditional statement, as delivery claims it from ``pending`` to ``sending``, so a message is either
delivered or cancelled, never both — and the approval is void. The audit log keeps the cancelled message's
Message-ID and text hash; a later send of the same draft makes a new row.

A reply threads in the customer's mail program: ``Re: <subject> [#<ticket>]``, In-Reply-To the customer's latest
mail, References the thread's Message-IDs we know (incoming References headers are not kept, so the thread is
rebuilt from the first mail, the follow-ups and our delivered answers in time order). With
``mail_quote_customer`` the customer's latest message is quoted below the answer when it is queued: the quote is
the customer's own text, not something a person approved, so the approval and ``text_sha256`` stay bound to the
draft text alone; the outbox row's body is what is sent. After a delivery ``archive`` (if given) gets the
delivered bytes, for a copy in the mailbox's Sent folder; a failing copy is logged and never undoes the delivery.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from assistant import audit
from assistant.answer.promises import describe
from assistant.auth import Principal
from assistant.domain import DraftFlag
from assistant.errors import ConflictError
from assistant.outbox import DeliveryError, Mailer, OutgoingMail, valid_message_id
from assistant.store.db import Database
from assistant.store.tables import DraftRow, OutboxMessage, Review, Ticket, TicketMessage, utcnow
from assistant.tickets.queries import current_draft, get_ticket
from assistant.tickets.records import provenance, sha256
from assistant.tickets.review import Teacher, valid_approval
from assistant.tickets.state import OPEN_OUTBOX, Decision, OutboxStatus, TicketStatus, move
from assistant.tickets.threads import MessageKind, latest_from_customer

log = logging.getLogger("kontor.sending")
SENDING_LEASE = timedelta(minutes=5)  # a claim on a message to deliver; after it, another attempt may start
MAX_REFERENCES = 20  # ids in References: the first mail and the latest ones (RFC 5537 3.4.4 trims the same way)
MAX_QUOTED_LINES = 100
# "Re:", "AW:", "WG:", "RE[2]:" … as German and English mail programs put them in front of a subject
_REPLY_PREFIX = re.compile(r"^(?:\s*(?:re|aw|antw|wg|fw|fwd|sv)\s*(?:\[\d+\])?\s*:)+\s*", re.IGNORECASE)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min … at most one hour between delivery attempts."""
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


class Sending:
    def __init__(self, database: Database, mailer: Callable[[], Mailer], sender: tuple[str, str],
                 teacher: Teacher, promises: Callable[[str], list[DraftFlag]] = lambda _: [], *,
                 reply_to: str = "", quote_customer: bool = False,
                 archive: Callable[[bytes], None] | None = None) -> None:
        self.database = database
        self.mailer = mailer  # built on first delivery
        self.sender = sender  # (address, display name)
        self.teacher = teacher  # a message taken back withdraws what its approval taught
        self.promises = promises  # the promises in a text that need a person's explicit confirmation
        self.reply_to = reply_to
        self.quote_customer = quote_customer
        self.archive = archive  # keeps a copy of each delivered mail (the mailbox's Sent folder)

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
            draft, ticket = current_draft(session, draft_id)
            if ticket.status != TicketStatus.APPROVED:
                raise ConflictError("Senden geht nur nach Freigabe des aktuellen Textes")
            approval = valid_approval(session, draft)
            if approval is None:
                raise ConflictError("Der Text wurde nach der Freigabe geändert – bitte erneut freigeben")
            if not ticket.customer_email:
                raise ConflictError("Für diesen Kunden ist keine E-Mail-Adresse bekannt")
            self._check_promises(session, draft, ticket, user, confirmed)
            digest = sha256(draft.text)  # of the approved text alone: a quote below it is the customer's
            domain = self.sender[0].rpartition("@")[2] or "kontor.local"
            in_reply_to, references = _thread(session, ticket)
            body = draft.text
            if self.quote_customer:  # the customer's own text below the approved one, not part of the approval
                body = body.rstrip("\n") + _quote(*latest_from_customer(session, ticket)[:3])
            message = OutboxMessage(
                draft_id=draft.id, ticket_id=ticket.id,
                message_id=f"<kontor-{ticket.id}-{draft.id}-{digest[:12]}@{domain}>",
                to_address=ticket.customer_email, to_name=_display_name(ticket.customer),
                subject=_reply_subject(ticket.subject, ticket.id), body=body, text_sha256=digest,
                status=OutboxStatus.PENDING.value, attempts=0,
                in_reply_to=in_reply_to, references=" ".join(references) or None,
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
            draft, ticket = current_draft(session, draft_id)
            taken = session.execute(
                delete(OutboxMessage)
                .where(OutboxMessage.draft_id == draft.id, OutboxMessage.status == OutboxStatus.PENDING)
                .returning(OutboxMessage.message_id, OutboxMessage.text_sha256, OutboxMessage.attempts)
            ).one_or_none()
            if taken is None:
                raise ConflictError(_not_cancellable(session, draft.id))
            session.add(Review(draft_id=draft.id, decision=Decision.CANCELLED.value, text_sha256=taken.text_sha256,
                               reviewer_id=user.id))  # voids the approval: sending again needs a new one
            move(ticket, TicketStatus.DRAFTED)
            self.teacher.withdraw(session, draft, ticket, user)
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
                    OutboxMessage.id == outbox_id, OutboxMessage.status.in_(OPEN_OUTBOX),
                    OutboxMessage.next_attempt_at <= now,
                ).values(status=OutboxStatus.SENDING.value, next_attempt_at=now + SENDING_LEASE)
            )
            message = session.get(OutboxMessage, outbox_id)
            if message is None:  # taken back by a person before anyone claimed it
                raise ConflictError("Die Antwort wurde aus dem Postausgang zurückgeholt und nicht gesendet")
            if claimed.rowcount != 1:  # type: ignore[attr-defined]  # delivered, waiting, or being sent
                return message
            mail = OutgoingMail(
                message_id=message.message_id, sender=self.sender[0], sender_name=self.sender[1],
                to=message.to_address, to_name=message.to_name, subject=message.subject, body=message.body,
                in_reply_to=message.in_reply_to, references=tuple((message.references or "").split()),
                reply_to=self.reply_to,
            )
        try:
            data = self.mailer().deliver(mail)
        except DeliveryError as exc:
            return self._delivery_failed(outbox_id, str(exc))
        with self.database.session() as session:
            message = session.get(OutboxMessage, outbox_id)
            assert message is not None
            message.status, message.delivered_at = OutboxStatus.DELIVERED.value, utcnow()
            message.attempts += 1
            ticket = get_ticket(session, message.ticket_id)
            move(ticket, TicketStatus.SENT)
            draft = session.get(DraftRow, message.draft_id)
            assert draft is not None
            audit.record(session, "system", "sent", ticket_id=ticket.id, draft_id=message.draft_id,
                         text_sha256=message.text_sha256, message_id=message.message_id,
                         **provenance(draft))  # type: ignore[arg-type]
        if data is not None:  # None: delivered before (a retry after a crash), nothing new to copy
            self._archive(message, data)
        return message

    def _archive(self, message: OutboxMessage, data: bytes) -> None:
        """The copy in the Sent folder comes after the delivery is recorded: a slow or failing copy must
        neither hold up nor undo it (a crash in between loses the copy, never duplicates the mail)."""
        if self.archive is None:
            return
        try:
            self.archive(data)
        except Exception as exc:  # noqa: BLE001 - the mail is out; the copy is a convenience
            log.warning("copy of %s to the Sent folder failed: %s", message.message_id, exc)
            with self.database.session() as session:  # the error's type only: its text might quote the mail
                audit.record(session, "system", "archive_failed", ticket_id=message.ticket_id,
                             draft_id=message.draft_id, message_id=message.message_id, error=type(exc).__name__)

    def _delivery_failed(self, outbox_id: int, reason: str) -> OutboxMessage:
        log.warning("delivery of outbox message %s failed: %s", outbox_id, reason)
        with self.database.session() as session:
            message = session.get(OutboxMessage, outbox_id)
            assert message is not None
            message.status = OutboxStatus.PENDING.value
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
                OutboxMessage.status.in_(OPEN_OUTBOX), OutboxMessage.next_attempt_at <= now)))
        for outbox_id in due:
            try:
                self.deliver(outbox_id)
            except ConflictError:
                log.info("outbox message %s was taken back before delivery", outbox_id)
            except Exception:  # noqa: BLE001 - logged; the lease makes it due again later
                log.exception("delivery of outbox message %s failed unexpectedly", outbox_id)
        return len(due)


def _not_cancellable(session: Session, draft_id: int) -> str:
    status = session.scalar(select(OutboxMessage.status).where(OutboxMessage.draft_id == draft_id))
    if status == OutboxStatus.DELIVERED:
        return "Die Antwort ist schon zugestellt – zurückholen geht nicht mehr"
    if status == OutboxStatus.SENDING:
        return "Die Antwort wird gerade zugestellt – zurückholen geht nur, solange sie wartet"
    return "Diese Antwort wartet nicht im Postausgang"


def _flag_message(flags: list[DraftFlag]) -> str:
    return ("Der Text enthält Zusagen, die Sie ausdrücklich bestätigen müssen: " + describe(flags)
            + ". Bitte prüfen und beim Senden bestätigen.")


def _display_name(customer: str) -> str:
    name, address = parseaddr(customer)
    return name or ("" if address == customer else customer)


def _reply_subject(subject: str, ticket_id: int) -> str:
    """``Re: <subject> [#<id>]``: one "Re:" instead of the mail programs' "AW: Re: WG:" chain; the ticket number
    lets a reply find its ticket even when a mail program drops the thread headers."""
    subject = _REPLY_PREFIX.sub("", " ".join(subject.split()))
    tag = f"[#{ticket_id}]"
    return f"Re: {subject if tag in subject else f'{subject} {tag}'.strip()}"


def _thread(session: Session, ticket: Ticket) -> tuple[str | None, list[str]]:
    """(In-Reply-To, References) of an answer on ``ticket``: the customer's latest mail, and the thread's ids
    in time order with the first mail first. Ids that are not well-formed are left out; a ticket from the web
    form or the API has none."""
    follow_ups = session.execute(
        select(TicketMessage.created_at, TicketMessage.message_id)
        .where(TicketMessage.ticket_id == ticket.id, TicketMessage.kind == MessageKind.CUSTOMER,
               TicketMessage.message_id.is_not(None))
        .order_by(TicketMessage.created_at, TicketMessage.id)).all()
    answers = session.execute(
        select(OutboxMessage.delivered_at, OutboxMessage.created_at, OutboxMessage.message_id)
        .where(OutboxMessage.ticket_id == ticket.id, OutboxMessage.status == OutboxStatus.DELIVERED)).all()
    later = sorted([(at, mid) for at, mid in follow_ups] + [(at or made, mid) for at, made, mid in answers],
                   key=lambda pair: pair[0])  # stable: equal times keep the follow-ups first
    first = [ticket.message_id or ""]
    ids = list(dict.fromkeys(_valid([*first, *(mid for _, mid in later)])))
    if len(ids) > MAX_REFERENCES:
        ids = ids[:1] + ids[1 - MAX_REFERENCES:]
    from_customer = _valid([*first, *(mid for _, mid in follow_ups)])
    return (from_customer[-1] if from_customer else None), ids


def _valid(message_ids: list[str | None]) -> list[str]:
    return [i for i in ((m or "").strip() for m in message_ids) if valid_message_id(i)]


def _quote(author: str, at: datetime, text: str) -> str:
    """The customer's message below the answer, as mail programs quote it: an attribution line, then each line
    behind "> ", cut after ``MAX_QUOTED_LINES`` lines."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n").split("\n")
    if len(lines) > MAX_QUOTED_LINES:
        lines = [*lines[:MAX_QUOTED_LINES], "[…]"]
    quoted = "\n".join(f"> {line}".rstrip() for line in lines)
    return f"\n\nAm {_local(at):%d.%m.%Y um %H:%M} schrieb {' '.join(author.split())}:\n{quoted}\n"


def _local(moment: datetime) -> datetime:
    try:
        return moment.astimezone(ZoneInfo("Europe/Berlin"))
    except ZoneInfoNotFoundError:  # no time zone data on this machine
        return moment.astimezone(UTC)
