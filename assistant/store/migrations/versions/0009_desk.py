"""The review desk of a team: tickets assigned to a person and routed to the category's team, users' teams,
text modules the department maintains, and who has a ticket open (the collision warning).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    # SQLite rebuilds the table for the foreign key: it must keep AUTOINCREMENT and its counter (no ticket id is
    # handed out twice, migration 0006)
    sqlite = op.get_bind().dialect.name == "sqlite"
    seq = op.get_bind().execute(sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'tickets'")).scalar() \
        if sqlite else None
    with op.batch_alter_table("tickets", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.add_column(sa.Column("assignee_id", sa.Integer, sa.ForeignKey("users.id", name="fk_tickets_assignee"),
                                   nullable=True))
        batch.add_column(sa.Column("team", sa.String(100), nullable=True))
        batch.create_index("ix_tickets_assignee_id", ["assignee_id"])
        batch.create_index("ix_tickets_team", ["team"])
    if seq is not None:
        op.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = 'tickets'"))
        op.execute(sa.text("INSERT INTO sqlite_sequence(name, seq) SELECT 'tickets', MAX(:seq, "
                           "COALESCE((SELECT MAX(id) FROM tickets), 0))").bindparams(seq=seq))
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("team", sa.String(100), nullable=True))
    op.create_table(
        "text_modules",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(200), nullable=False, unique=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("category", sa.String(100), nullable=True),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "ticket_presence",
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("editing", sa.Boolean, nullable=False),
        sa.Column("seen_at", TZ, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ticket_presence")
    op.drop_table("text_modules")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("team")
    with op.batch_alter_table("tickets", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_index("ix_tickets_team")
        batch.drop_index("ix_tickets_assignee_id")
        batch.drop_column("team")
        batch.drop_column("assignee_id")
