"""Attachments of imported mails: a row per file, kept in ``<home>/attachments`` under ``stored_name``, or left
out over the limits (``left_out`` says why).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("stored_name", sa.String(64), nullable=True, unique=True),
        sa.Column("left_out", sa.String(200), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sqlite_autoincrement=True,  # erased rows' ids are never handed out again (migration 0006)
    )


def downgrade() -> None:
    op.drop_table("attachments")
