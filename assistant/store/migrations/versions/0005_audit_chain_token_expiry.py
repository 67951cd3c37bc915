"""Audit rows are chained by hash (tamper evidence) and API tokens expire.

`add_column` without batch mode: a batch copy of `audit_log` on SQLite would drop its append-only triggers.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("prev_sha256", sa.String(64), nullable=True))
    op.add_column("audit_log", sa.Column("row_sha256", sa.String(64), nullable=True))
    op.add_column("api_tokens", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
    op.drop_column("audit_log", "row_sha256")
    op.drop_column("audit_log", "prev_sha256")
