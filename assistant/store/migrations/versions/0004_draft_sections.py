"""Drafts keep their paragraphs (question, text, sources per paragraph), the notes for the agent and the promises
in their current text that a person must confirm before sending.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("drafts") as batch:
        batch.add_column(sa.Column("sections", sa.JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("notes", sa.JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("flags", sa.JSON, nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("drafts") as batch:
        batch.drop_column("flags")
        batch.drop_column("notes")
        batch.drop_column("sections")
