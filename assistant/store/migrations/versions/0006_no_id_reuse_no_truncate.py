"""Ids are never handed out twice (SQLite: AUTOINCREMENT), and PostgreSQL refuses TRUNCATE of the audit log.

Without AUTOINCREMENT SQLite gives a new row the highest id + 1: once the newest ticket was erased (GDPR,
retention), the next ticket would get its id, and the audit entries of "ticket 12" would name another customer's
ticket. AUTOINCREMENT can only be set when a table is created, so each table whose rows can be deleted and whose
ids people see is rebuilt (batch mode copies rows, indexes and constraints; ``Database.migrate`` turns foreign
keys off around it and checks them before the commit). Its counter then starts above the highest id the audit
log ever named, so an id erased before this migration is not handed out again either. The audit log is not
rebuilt (its rows are never deleted) and keeps its append-only triggers. PostgreSQL sequences never go back.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLES = ("tickets", "drafts", "reviews", "outbox", "jobs", "labelled_examples")  # parents before children
AUDITED = {"tickets": "ticket_id", "drafts": "draft_id"}  # table → audit_log column naming its ids


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in TABLES:
            _rebuild(table, autoincrement=True)
        for table, column in AUDITED.items():
            _start_above(table, column)
    elif dialect == "postgresql":
        # the function of migration 0002 raises for any statement; a row trigger never sees a TRUNCATE
        op.execute("CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in TABLES:
            _rebuild(table, autoincrement=False)
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")


def _rebuild(table: str, autoincrement: bool) -> None:
    with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}):
        pass


def _start_above(table: str, column: str) -> None:
    """The table's counter: at least its highest id and the highest id of it the audit log names."""
    op.execute(f"DELETE FROM sqlite_sequence WHERE name = '{table}'")
    op.execute(
        f"INSERT INTO sqlite_sequence(name, seq) SELECT '{table}', MAX("
        f"COALESCE((SELECT MAX(id) FROM {table}), 0), COALESCE((SELECT MAX({column}) FROM audit_log), 0))"
    )
