"""A desk's history with known times, written straight into the tables, for the team lead's figures on the
Übersicht (tests/test_team_figures.py, tests/test_e2e_overview.py). Relative to ``now``:

- ten answered tickets that arrived 2 days ago (minus k hours) and were answered after k = 1 … 10 hours:
  first response p50 5,5 Std., p90 9,1 Std.;
  k = 1 … 6 "Lieferverzug" (Versandteam), hand-over on k = 1, 2 (2 of 6), approved by anna, unedited k = 1 … 3;
  k = 7 … 10 "Rechnung und Zahlung" (Buchhaltung), hand-over on k = 7 (1 of 4), approved by eva, edited k = 10;
- three open tickets, 1 hour, 3 hours and 5 days old: "Kundenkonto" drafted, "Kundenkonto" handed over (1 of 2),
  and one not drafted yet without category or team;
- one ticket answered 60 days ago after 100 hours, by anna, unedited: outside every window.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from assistant.store.db import Database
from assistant.store.tables import DraftRow, OutboxMessage, Review, Ticket
from assistant.tickets.records import sha256

GENERATED = "Guten Tag,\n\nvielen Dank für Ihre Nachricht.\n\nMit freundlichen Grüßen"
TEAMS = {"lieferverzug": "Versandteam", "rechnung_zahlung": "Buchhaltung", "kundenkonto": "Onlineshop-Team"}


def build(database: Database, now: datetime, users: dict[str, int]) -> None:
    """``users``: name → id of anna and eva."""
    with database.session() as session:
        def ticket(arrived: datetime, status: str, category: str | None) -> Ticket:
            row = Ticket(customer="Erika Muster <erika@example.org>", customer_email="erika@example.org",
                         channel="email", subject="Frage", body="Guten Tag, eine Frage.", status=status,
                         received_at=arrived, updated_at=arrived, category=category,
                         team=TEAMS.get(category or ""))
            session.add(row)
            session.flush()
            return row

        def draft(row: Ticket, handover: bool, text: str = GENERATED) -> DraftRow:
            made = DraftRow(ticket_id=row.id, text=text, generated_text=GENERATED, category=row.category,
                            handover=handover, method="documents", prompt_version="answer@v1", model="fake",
                            model_sha256="0" * 64, created_at=row.received_at + timedelta(minutes=1))
            session.add(made)
            session.flush()
            return made

        def answered(arrived: datetime, after: timedelta, category: str, handover: bool, approver: str,
                     edited: bool) -> None:
            row = ticket(arrived, "sent", category)
            made = draft(row, handover, GENERATED + "\nPS: von Hand ergänzt." if edited else GENERATED)
            session.add(Review(draft_id=made.id, decision="approved", text_sha256=sha256(made.text),
                               reviewer_id=users[approver], created_at=arrived + after))
            session.add(OutboxMessage(
                draft_id=made.id, ticket_id=row.id, message_id=f"<answer-{row.id}@example.org>",
                to_address="erika@example.org", to_name="Erika Muster", subject="Re: Frage", body=made.text,
                text_sha256=sha256(made.text), status="delivered", attempts=1, created_at=arrived + after,
                next_attempt_at=arrived + after, delivered_at=arrived + after))

        for k in range(1, 11):
            arrived = now - timedelta(days=2, hours=k)
            category = "lieferverzug" if k <= 6 else "rechnung_zahlung"
            answered(arrived, timedelta(hours=k), category, handover=k in (1, 2, 7),
                     approver="anna" if k <= 6 else "eva", edited=k in (4, 5, 6, 10))
        draft(ticket(now - timedelta(hours=1), "drafted", "kundenkonto"), handover=False)
        draft(ticket(now - timedelta(hours=3), "needs_human", "kundenkonto"), handover=True)
        ticket(now - timedelta(days=5), "new", None)
        answered(now - timedelta(days=60), timedelta(hours=100), "lieferverzug", handover=True, approver="anna",
                 edited=False)
