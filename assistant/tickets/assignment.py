"""Who is responsible for a ticket: the person it is assigned to and the team it is routed to.

Routing: each category names its routing team (``knowledge/categories.yaml``), and a ticket's team follows its
category – when drafting stores the machine's category (unless a person sent the ticket to another team by hand:
then its team is no longer the one of its earlier category), and always when a person corrects the category.

Assignment is a person's act: take a ticket ("Übernehmen"), give it to a colleague, send it to a team, or take
the person or the team off it. The audit log names the staff involved (ids and names) and the teams – never
customer text. Assigning changes neither the ticket's status nor its ``updated_at`` (the inbox's "Heute gesendet"
goes by that)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from assistant import audit
from assistant.auth import Principal
from assistant.categorise.categories import CategorySet
from assistant.errors import InputError
from assistant.store.db import Database
from assistant.store.tables import Ticket, User
from assistant.tickets.queries import get_ticket


class Routing:
    """The routing team of each category, from the category list (read when first needed)."""

    def __init__(self, categories: Callable[[], CategorySet]) -> None:
        self.categories = categories

    def teams(self) -> list[str]:
        """Every routing team, in the order the category list first names it."""
        return list(dict.fromkeys(c.team for c in self.categories().categories if c.team))

    def team_of(self, category: str | None) -> str | None:
        found = next((c for c in self.categories().categories if c.id == category), None)
        return found.team or None if found else None

    def follow(self, ticket: Ticket, previous_category: str | None) -> None:
        """The machine set the ticket's category (it was ``previous_category``): the team follows, unless a person
        sent the ticket to a team other than that of its earlier category."""
        if ticket.team is None or ticket.team == self.team_of(previous_category):
            ticket.team = self.team_of(ticket.category)

    def set_by_person(self, ticket: Ticket) -> None:
        """A person chose the ticket's category: its team is that category's team."""
        ticket.team = self.team_of(ticket.category)


class Keep(Enum):
    """Leave this part of the assignment as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True)
class Assigned:
    """A ticket's assignment: the person (None: nobody) and the team (None: none)."""

    ticket_id: int
    assignee_id: int | None
    assignee: str | None
    team: str | None


@dataclass(frozen=True)
class Colleague:
    """A person a ticket can be given to: an active user, with their team."""

    id: int
    name: str
    team: str | None


@dataclass(frozen=True)
class AssignmentCard:
    """What the ticket page shows and offers: who and which team has the ticket, whom and which team it can go to."""

    assigned: Assigned
    colleagues: list[Colleague]
    teams: list[str]


class Assignment:
    def __init__(self, database: Database, routing: Routing) -> None:
        self.database = database
        self.routing = routing

    def assign(self, ticket_id: int, actor: Principal, user: str | None | Literal[Keep.KEEP] = KEEP,
               team: str | None | Literal[Keep.KEEP] = KEEP) -> Assigned:
        """Give the ticket to ``user`` (a name; None: nobody) and/or ``team`` (None: no team); ``KEEP`` leaves that
        part as it is. Audit-logged when something changes."""
        if team is not KEEP and team is not None and team not in self.routing.teams():
            raise InputError(f"Das Team '{team}' gibt es nicht. Teams: {', '.join(self.routing.teams())}")
        with self.database.session() as session:
            ticket = get_ticket(session, ticket_id)
            before = _assigned(session, ticket)
            if user is not KEEP:
                ticket.assignee_id = _colleague(session, user).id if user is not None else None
            if team is not KEEP:
                ticket.team = team
            after = _assigned(session, ticket)
            if after != before:
                audit.record(session, actor.name, "assigned", ticket_id=ticket.id, assignee_id=after.assignee_id,
                             assignee=after.assignee, team=after.team, previous_assignee_id=before.assignee_id,
                             previous_assignee=before.assignee, previous_team=before.team)
            return after

    def card(self, ticket_id: int) -> AssignmentCard:
        with self.database.session() as session:
            assigned = _assigned(session, get_ticket(session, ticket_id))
            colleagues = [Colleague(u.id, u.name, u.team) for u in session.scalars(
                select(User).where(User.active.is_(True)).order_by(User.name))]
        return AssignmentCard(assigned, colleagues, self.routing.teams())


def team_of_user(database: Database, user_id: int) -> str | None:
    """The user's team (for the inbox's "Mein Team"), None when they have none."""
    with database.session() as session:
        return session.scalar(select(User.team).where(User.id == user_id))


def _colleague(session: Session, name: str) -> User:
    found = session.scalar(select(User).where(User.name == name.strip(), User.active.is_(True)))
    if found is None:
        raise InputError(f"Einen aktiven Benutzer '{name}' gibt es nicht")
    return found


def _assigned(session: Session, ticket: Ticket) -> Assigned:
    name = session.scalar(select(User.name).where(User.id == ticket.assignee_id)) if ticket.assignee_id else None
    return Assigned(ticket.id, ticket.assignee_id, name, ticket.team)
