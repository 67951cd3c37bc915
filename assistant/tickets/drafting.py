"""Drafting, the stage after intake: the background job behind every new ticket (and every "Neu entwerfen")
categorises the ticket, drafts the answer and stores both for review. It takes the parts it uses — the
categoriser, the answerer, the live stream — not the container that builds them.

A mail longer than ``max_ticket_chars`` (intake keeps it whole) is drafted and categorised from its beginning,
and the draft says so; attachments left out at intake are named in the draft's notes. Attachments themselves are
never read here: the model sees the mail's text only. A follow-up mail (assistant/tickets/threads.py) is drafted
from the customer's newest message — the questions come from it alone —, with the conversation before it as context:
the customer's earlier messages say what a short follow-up refers to, and the answers we sent are not repeated (both
bounded, the newest kept). Categorisation keeps reading the ticket's first message."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from email.utils import parseaddr

from sqlalchemy.orm import Session

from assistant import audit
from assistant.answer import Answerer
from assistant.answer.drafter import Conversation
from assistant.categorise.categoriser import Categoriser
from assistant.domain import Draft, DraftFlag
from assistant.errors import InputError
from assistant.live import LiveDrafts
from assistant.store.db import Database
from assistant.store.tables import DraftRow, Job, Ticket
from assistant.tickets.assignment import Routing
from assistant.tickets.attachments import left_out_note, of_tickets
from assistant.tickets.queries import get_ticket, latest_draft, refuse_while_sending, ticket_text
from assistant.tickets.records import sha256
from assistant.tickets.state import TicketStatus, check_transition, move
from assistant.tickets.threads import before_latest, latest_customer_text

log = logging.getLogger("kontor.drafting")
Category = tuple[str, float, str]  # (category id, confidence, method)
CONVERSATION_CHARS = 8_000  # of the earlier customer messages, and of our earlier answers, each: the newest kept


class Drafting:
    def __init__(self, database: Database, categoriser: Callable[[], Categoriser], answerer: Callable[[], Answerer],
                 live: LiveDrafts, max_question_chars: int,
                 model_problem: Callable[[], str | None] = lambda: None,
                 promises: Callable[[str], list[DraftFlag]] = lambda _: [], max_ticket_chars: int = 20_000,
                 routing: Routing | None = None) -> None:
        self.database = database
        self.categoriser = categoriser  # built on first use: a worker that never drafts never loads them
        self.answerer = answerer
        self.live = live
        self.max_question_chars = max_question_chars
        self.model_problem = model_problem  # why the configured model cannot be used now, or None
        self.promises = promises  # the promises in a text that need a person's explicit confirmation
        self.max_ticket_chars = max_ticket_chars  # of a long mail, what drafting reads
        self.routing = routing  # the ticket's team follows its category (None: no routing)

    # --- the job ------------------------------------------------------------------------------------------

    def run(self, job: Job) -> None:
        """The ``draft`` job: categorise, draft, save (skipped when a re-run finds the work done)."""
        assert job.ticket_id is not None
        ticket_id = job.ticket_id
        with self.database.session() as session:
            ticket = session.get(Ticket, ticket_id)
            if ticket is None or ticket.status == TicketStatus.SENT or _already_done(session, job):
                return
            latest, follow_up = latest_customer_text(session, ticket)
            subject, body = ticket.subject, latest[: self.max_ticket_chars]
            text = ticket_text(ticket)[: len(subject) + 2 + self.max_ticket_chars]
            customer = parseaddr(ticket.customer)[0] or None
            notes = self._intake_notes(session, ticket)
            conversation = earlier_conversation(session, ticket) if follow_up else None
            if follow_up:
                notes.append("Der Entwurf beantwortet die neueste Nachricht des Kunden; den Verlauf zeigt das "
                             "Ticket.")
        if problem := self.model_problem():  # a changed model file: to a person at once, not after 3 retries
            log.warning("ticket %s not drafted: %s", ticket_id, problem)
            self.give_up(ticket_id, f"Kein Entwurf möglich: {problem}")
            return
        category = self._categorise(ticket_id, text)
        self.live.start(ticket_id)
        try:
            draft = self.answerer().reply(subject, body, customer,
                                          on_token=lambda piece: self.live.append(ticket_id, piece),
                                          conversation=conversation)
            draft.notes = [*notes, *draft.notes]
            self.save_draft(ticket_id, draft, category)
        finally:
            self.live.finish(ticket_id)

    def run_failed(self, job: Job) -> None:
        """The job failed for good (``MAX_ATTEMPTS``): a person takes the ticket."""
        if job.ticket_id is not None:
            self.give_up(job.ticket_id, "Entwurf nach mehreren Versuchen fehlgeschlagen")

    def _intake_notes(self, session: Session, ticket: Ticket) -> list[str]:
        """What the agent must know of the mail that the draft cannot say: it was read in part, attachments
        were left out."""
        notes = []
        if len(ticket.body) > self.max_ticket_chars:
            notes.append(f"Die Nachricht ist sehr lang – der Entwurf beruht auf den ersten "
                         f"{self.max_ticket_chars:,} Zeichen.".replace(",", "."))
        if left_out := left_out_note(of_tickets(session, [ticket.id])):
            notes.append(left_out)
        return notes

    def _categorise(self, ticket_id: int, text: str) -> Category | None:
        try:
            result = self.categoriser().categorise(text[: self.max_question_chars])
        except InputError as exc:  # CategoryError is one: a draft without a category is still a draft
            log.warning("ticket %s not categorised: %s", ticket_id, exc)
            return None
        return result.category, result.confidence, result.method

    # --- storing the outcome --------------------------------------------------------------------------------

    def save_draft(self, ticket_id: int, draft: Draft, category: Category | None) -> int:
        with self.database.session() as session:
            ticket = get_ticket(session, ticket_id)
            refuse_while_sending(session, ticket.id)
            target = TicketStatus.NEEDS_HUMAN if draft.handover else TicketStatus.DRAFTED
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
                previous = ticket.category
                ticket.category, ticket.category_confidence, ticket.category_method = category
                if self.routing is not None:
                    self.routing.follow(ticket, previous)
            move(ticket, target)
            session.flush()
            audit.record(session, "system", "drafted", ticket_id=ticket.id, draft_id=row.id,
                         text_sha256=sha256(row.text), prompt_version=row.prompt_version,
                         model_sha256=row.model_sha256, sources=row.source_chunk_ids, handover=draft.handover,
                         category=row.category, model=row.model)  # a model server's file has no hash: its name
            return row.id

    def give_up(self, ticket_id: int, reason: str) -> None:
        """Drafting failed for good: an empty draft for a person to write, status ``needs_human``."""
        with self.database.session() as session:
            ticket = get_ticket(session, ticket_id)
            if latest_draft(session, ticket.id) is not None:  # a failed regenerate keeps the current draft
                audit.record(session, "system", "draft_failed", ticket_id=ticket.id, reason=reason, kept=True)
                return
            row = DraftRow(ticket_id=ticket.id, text="", generated_text="", citations=[], source_chunk_ids=[],
                           handover=True, method="failed", prompt_version="", model="", model_sha256="",
                           timings_ms={}, notes=self._intake_notes(session, ticket))
            session.add(row)
            move(ticket, TicketStatus.NEEDS_HUMAN)
            session.flush()
            audit.record(session, "system", "draft_failed", ticket_id=ticket.id, draft_id=row.id, reason=reason)


def earlier_conversation(session: Session, ticket: Ticket) -> Conversation:
    """The conversation before the customer's newest message, as the drafter takes it: their earlier messages and
    the answers we sent, oldest first, each side at most ``CONVERSATION_CHARS`` (notes never)."""
    entries = before_latest(session, ticket)
    return Conversation(customer=_newest(e.body for e in entries if e.kind == "customer"),
                        told=_newest(e.body for e in entries if e.kind == "answer"))


def _newest(texts: Iterable[str], limit: int = CONVERSATION_CHARS) -> tuple[str, ...]:
    """The newest texts that fit into ``limit`` characters, oldest first; the oldest one that fits in part is cut
    at its end (a message's own words come first, its quoted history last)."""
    kept: list[str] = []
    for text in reversed(list(texts)):
        if limit <= 0:
            break
        kept.append(text[:limit])
        limit -= len(text)
    return tuple(reversed(kept))


def _already_done(session: Session, job: Job) -> bool:
    """A job re-run after a crash between saving the draft and finishing the job must not draft again."""
    assert job.ticket_id is not None
    newest = latest_draft(session, job.ticket_id)
    return newest is not None and newest.created_at >= job.created_at
