"""The shared mailbox: follow-up messages and internal notes on a ticket, the mails seen in the mailbox (each
handled once), the mailbox's last fetch, and the thread headers of an outgoing answer.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ticket_messages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), nullable=False, index=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("author", sa.String(300), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("message_id", sa.String(500), nullable=True, unique=True),
        sa.Column("created_at", TZ, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "mail_imports",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("mailbox", sa.String(300), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger, nullable=False),
        sa.Column("uid", sa.BigInteger, nullable=False),
        sa.Column("message_id", sa.String(500), nullable=True, index=True),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("ticket_id", sa.Integer, nullable=True, index=True),
        sa.Column("detail", sa.String(500), nullable=True),
        sa.Column("done", sa.Boolean, nullable=False),
        sa.Column("imported_at", TZ, nullable=False),
        sa.UniqueConstraint("mailbox", "uidvalidity", "uid"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "mailbox_state",
        sa.Column("mailbox", sa.String(300), primary_key=True),
        sa.Column("last_success_at", TZ, nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("last_error_at", TZ, nullable=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("imported", sa.Integer, nullable=False),
    )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("in_reply_to", sa.String(500), nullable=True))
        batch.add_column(sa.Column("references", sa.Text, nullable=True))
    with op.batch_alter_table("attachments") as batch:
        batch.add_column(sa.Column("message_id", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attachments") as batch:
        batch.drop_column("message_id")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("references")
        batch.drop_column("in_reply_to")
    op.drop_table("mailbox_state")
    op.drop_table("mail_imports")
    op.drop_table("ticket_messages")
