"""The desk in numbers, as a team lead asks for them (the Übersicht beside the learning loop). Read-only; the
database answers bounded rows (open tickets, the last weeks) and the figures are computed here, the same on SQLite
and PostgreSQL.

Definitions:
- a ticket *arrives* when Kontor receives it (its audit entry "received"; without one its ``received_at``), not at
  the e-mail's own date, which may be days older;
- *open*: not sent (the inbox's "open", ``queries.OPEN``); the backlog's age is now − arrival;
- *first response*: arrival → delivery of the ticket's first answer (a bounced answer reached nobody and does not
  count), for tickets first answered in the last ``days`` days; p50/p90 by linear interpolation between ranks;
- *volume*: tickets by week of arrival (ISO weeks in German time), per category and per routing team;
- *hand-over rate*: of the tickets that arrived in the last ``days`` days and have a draft, those with a draft that
  handed over to a person (a failed drafting hands over too), per category;
- *sent without edit*: of the answers delivered in the last ``days`` days, those whose text is the generated one,
  per person who approved them.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from assistant.store.db import Database
from assistant.store.tables import AuditEntry, DraftRow, OutboxMessage, Review, Ticket, User
from assistant.tickets.queries import OPEN
from assistant.tickets.records import sha256
from assistant.tickets.state import Decision, OutboxStatus

DAYS = 30  # the window of the rates and times
WEEKS = 8  # the weeks of the volume table
NO_CATEGORY, NO_TEAM = "ohne Kategorie", "ohne Team"


@dataclass(frozen=True)
class Backlog:
    open: int
    oldest_seconds: float | None
    median_seconds: float | None


@dataclass(frozen=True)
class FirstResponse:
    answered: int  # tickets first answered in the window
    p50_seconds: float | None
    p90_seconds: float | None


@dataclass(frozen=True)
class WeekRow:
    """One category or team: its tickets in each of ``Volume.weeks``."""

    name: str
    counts: list[int]
    total: int


@dataclass(frozen=True)
class Volume:
    weeks: list[str]  # ISO weeks, oldest first: "2026-W49"
    categories: list[WeekRow]
    teams: list[WeekRow]
    totals: list[int]  # all tickets per week


@dataclass(frozen=True)
class Handovers:
    category: str  # the German name
    tickets: int
    handed_over: int
    rate: float


@dataclass(frozen=True)
class Unedited:
    agent: str  # who approved the answer
    sent: int
    unedited: int
    share: float


@dataclass(frozen=True)
class TeamFigures:
    days: int
    backlog: Backlog
    first_response: FirstResponse
    volume: Volume
    handovers: list[Handovers]
    agents: list[Unedited]


def team_figures(database: Database, category_names: Mapping[str, str], now: datetime | None = None,
                 days: int = DAYS, weeks: int = WEEKS) -> TeamFigures:
    """The figures as of ``now`` (default: now); ``category_names``: category id → German name."""
    now = _utc(now or datetime.now(UTC)).astimezone(UTC)
    since = now - timedelta(days=days)
    week_starts = _week_starts(now, weeks)
    with database.session() as session:
        arrival = _arrival()
        return TeamFigures(
            days=days,
            backlog=_backlog(session, arrival, now),
            first_response=_first_response(session, arrival, since),
            volume=_volume(session, arrival, week_starts, category_names),
            handovers=_handovers(session, arrival, since, category_names),
            agents=_unedited(session, since),
        )


def percentile(values: list[float], share: float) -> float | None:
    """The value below which ``share`` (0…1) of ``values`` lie, interpolated linearly between ranks (numpy's
    default): p50 of 1…10 is 5,5, p90 is 9,1. None without values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * share
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def _arrival() -> ColumnElement[datetime]:
    """A ticket's arrival in Kontor, to select with ``Ticket``: its first "received" audit entry (by the audit
    log's ticket index), else its ``received_at``."""
    received = (select(func.min(AuditEntry.at)).where(AuditEntry.ticket_id == Ticket.id,
                                                      AuditEntry.action == "received").scalar_subquery())
    return func.coalesce(received, Ticket.received_at)


def _backlog(session: Session, arrival: ColumnElement[datetime], now: datetime) -> Backlog:
    ages = [max(0.0, (now - at).total_seconds())
            for at in session.scalars(select(arrival).where(Ticket.status.in_(OPEN)))]
    return Backlog(len(ages), max(ages) if ages else None, statistics.median(ages) if ages else None)


def _first_response(session: Session, arrival: ColumnElement[datetime], since: datetime) -> FirstResponse:
    first = (select(OutboxMessage.ticket_id, func.min(OutboxMessage.delivered_at).label("at"))
             .where(OutboxMessage.status == OutboxStatus.DELIVERED, OutboxMessage.delivered_at.is_not(None))
             .group_by(OutboxMessage.ticket_id).subquery())
    rows = session.execute(select(arrival, first.c.at).select_from(Ticket)
                           .join(first, first.c.ticket_id == Ticket.id).where(first.c.at >= since)).all()
    waits = [max(0.0, (_utc(answered) - _utc(arrived)).total_seconds()) for arrived, answered in rows]
    return FirstResponse(len(waits), percentile(waits, 0.5), percentile(waits, 0.9))


def _volume(session: Session, arrival: ColumnElement[datetime], starts: list[datetime],
            names: Mapping[str, str]) -> Volume:
    keys = [_iso_week(start.date()) for start in starts]
    categories: dict[str, Counter[str]] = defaultdict(Counter)
    teams: dict[str, Counter[str]] = defaultdict(Counter)
    totals: Counter[str] = Counter()
    for category, team, at in session.execute(select(Ticket.category, Ticket.team, arrival)
                                              .where(arrival >= starts[0].astimezone(UTC))).all():
        key = _iso_week(_local(at).date())
        categories[_category(category, names)][key] += 1
        teams[team or NO_TEAM][key] += 1
        totals[key] += 1
    return Volume(keys, _rows(categories, keys), _rows(teams, keys), [totals[k] for k in keys])


def _handovers(session: Session, arrival: ColumnElement[datetime], since: datetime,
               names: Mapping[str, str]) -> list[Handovers]:
    handed: dict[int, bool] = {}
    category_of: dict[int, str] = {}
    for ticket_id, category, handover in session.execute(
            select(Ticket.id, Ticket.category, DraftRow.handover).join(DraftRow, DraftRow.ticket_id == Ticket.id)
            .where(arrival >= since)).all():
        handed[ticket_id] = handed.get(ticket_id, False) or bool(handover)
        category_of[ticket_id] = _category(category, names)
    tickets, over = Counter(category_of.values()), Counter(category_of[t] for t, h in handed.items() if h)
    return sorted((Handovers(name, count, over[name], over[name] / count) for name, count in tickets.items()),
                  key=lambda row: (-row.rate, -row.tickets, row.category))


def _unedited(session: Session, since: datetime) -> list[Unedited]:
    sent = session.execute(
        select(OutboxMessage.draft_id, OutboxMessage.text_sha256, DraftRow.generated_text)
        .join(DraftRow, DraftRow.id == OutboxMessage.draft_id)
        .where(OutboxMessage.delivered_at.is_not(None), OutboxMessage.delivered_at >= since)).all()
    if not sent:
        return []
    approvals: dict[int, list[tuple[str | None, str]]] = defaultdict(list)  # draft → (text hash, who), in order
    for draft_id, digest, name in session.execute(
            select(Review.draft_id, Review.text_sha256, User.name).join(User, User.id == Review.reviewer_id)
            .where(Review.decision == Decision.APPROVED, Review.draft_id.in_({row[0] for row in sent}))
            .order_by(Review.id)).all():
        approvals[draft_id].append((digest, name))
    counted: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for draft_id, digest, generated in sent:
        given = approvals.get(draft_id, [])
        # the approval of exactly the sent text; the last one if several
        who = next((name for text, name in reversed(given) if text == digest), given[-1][1] if given else "–")
        counted[who][0] += 1
        counted[who][1] += bool(generated) and digest == sha256(generated)
    return [Unedited(name, total, plain, plain / total) for name, (total, plain) in sorted(counted.items())]


def _rows(counts: dict[str, Counter[str]], keys: list[str]) -> list[WeekRow]:
    rows = [WeekRow(name, [by_week[k] for k in keys], sum(by_week[k] for k in keys))
            for name, by_week in counts.items()]
    return sorted(rows, key=lambda row: (-row.total, row.name))


def _category(category: str | None, names: Mapping[str, str]) -> str:
    return names.get(category, category) if category else NO_CATEGORY


def _zone() -> tzinfo:
    try:
        return ZoneInfo("Europe/Berlin")
    except ZoneInfoNotFoundError:  # no time zone data on this machine
        return UTC


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _local(moment: datetime) -> datetime:
    return _utc(moment).astimezone(_zone())


def _week_starts(now: datetime, weeks: int) -> list[datetime]:
    """The Mondays (00:00 German time) of the last ``weeks`` weeks, this one last."""
    today = _local(now).date()
    monday = today - timedelta(days=today.weekday())
    return [datetime.combine(monday - timedelta(weeks=back), time(), _zone()) for back in range(weeks - 1, -1, -1)]


def _iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"
