"""Who has a ticket open right now, for the collision warning on the ticket page.

The page sends a heartbeat about every 20 seconds (and when its text starts or stops differing from the saved
one); each stores one row per (ticket, person): when they were last seen and whether they are editing (have
unsaved changes). Whoever was seen in the last ``PRESENCE_SECONDS`` has the ticket open; leaving the page removes
the row, and a row nobody renews simply expires (rows older than that are removed on the ticket's next
heartbeat). Presence names staff only; an erasure removes the rows of the erased tickets (assistant/privacy.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from assistant.auth import Principal
from assistant.store.db import Database
from assistant.store.tables import TicketPresence, User
from assistant.tickets.queries import get_ticket

PRESENCE_SECONDS = 60


@dataclass(frozen=True)
class Present:
    """Someone else with the ticket open."""

    name: str
    editing: bool  # has changes not yet saved


class Presence:
    def __init__(self, database: Database, seconds: int = PRESENCE_SECONDS,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.database = database
        self.seconds = seconds
        self.clock = clock

    def beat(self, ticket_id: int, user: Principal, editing: bool) -> list[Present]:
        """``user`` has the ticket open (``editing``: with unsaved changes); answers who else has."""
        now = self.clock()
        with self.database.session() as session:
            ticket = get_ticket(session, ticket_id)
            session.execute(delete(TicketPresence).where(TicketPresence.ticket_id == ticket.id,
                                                          TicketPresence.seen_at < self._since(now)))
            insert = (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)
            session.execute(insert(TicketPresence).values(ticket_id=ticket.id, user_id=user.id, editing=editing,
                                                          seen_at=now)
                            .on_conflict_do_update(index_elements=["ticket_id", "user_id"],
                                                   set_={"editing": editing, "seen_at": now}))
            return self._others(session, ticket.id, user.id, now)

    def leave(self, ticket_id: int, user: Principal) -> None:
        """``user`` left the ticket's page."""
        with self.database.session() as session:
            session.execute(delete(TicketPresence).where(TicketPresence.ticket_id == ticket_id,
                                                          TicketPresence.user_id == user.id))

    def others(self, ticket_id: int, user_id: int) -> list[Present]:
        """Who else has the ticket open, by name (for the page as it is first shown)."""
        with self.database.session() as session:
            return self._others(session, ticket_id, user_id, self.clock())

    def _since(self, now: datetime) -> datetime:
        return now - timedelta(seconds=self.seconds)

    def _others(self, session: Session, ticket_id: int, user_id: int, now: datetime) -> list[Present]:
        rows = session.execute(
            select(User.name, TicketPresence.editing).join(User, User.id == TicketPresence.user_id).where(
                TicketPresence.ticket_id == ticket_id, TicketPresence.user_id != user_id,
                TicketPresence.seen_at >= self._since(now), User.active.is_(True)).order_by(User.name)).all()
        return [Present(name, bool(editing)) for name, editing in rows]
