"""A bounce for an answer Kontor sent: the mail server accepted it, the customer's server did not.

The outbox message is marked ``bounced`` with the reason, and the ticket comes back to the review desk with a
copy of the sent text as its current draft (the outbox keeps one message per draft, so a new send needs a new
draft and a new approval), and a note that says what happened — the agent corrects the recipient and sends again.
"""

from __future__ import annotations

from sqlalchemy import select

from assistant import audit
from assistant.store.db import Database
from assistant.store.tables import DraftRow, OutboxMessage, Ticket
from assistant.tickets.state import OutboxStatus, TicketStatus, reopen


def record_bounce(database: Database, message_id: str | None, reason: str | None) -> int | None:
    """Mark the bounced answer; returns its ticket id, or None when the bounce names no answer of ours."""
    if not message_id:
        return None
    reason = " ".join((reason or "unbekannter Grund").split())[:500]
    with database.session() as session:
        message = session.scalar(select(OutboxMessage).where(OutboxMessage.message_id == message_id))
        if message is None or message.status == OutboxStatus.BOUNCED:
            return message.ticket_id if message is not None else None
        message.status, message.last_error = OutboxStatus.BOUNCED.value, f"Unzustellbar: {reason}"
        ticket = session.get(Ticket, message.ticket_id)
        sent = session.get(DraftRow, message.draft_id)
        if ticket is not None and sent is not None and ticket.status == TicketStatus.SENT:
            session.add(DraftRow(
                ticket_id=ticket.id, text=sent.text, generated_text=sent.generated_text, citations=sent.citations,
                sections=sent.sections, flags=sent.flags, source_chunk_ids=sent.source_chunk_ids,
                category=sent.category, handover=False, method=sent.method, prompt_version=sent.prompt_version,
                model=sent.model, model_sha256=sent.model_sha256, timings_ms={},
                notes=[f"Die gesendete Antwort kam als unzustellbar zurück ({reason}). Bitte Empfänger prüfen "
                       "und erneut freigeben."]))
            reopen(ticket, TicketStatus.DRAFTED)
        audit.record(session, "system", "bounced", ticket_id=message.ticket_id, draft_id=message.draft_id,
                     message_id=message.message_id)  # the reason may quote the address: it stays in the outbox row
        return message.ticket_id
