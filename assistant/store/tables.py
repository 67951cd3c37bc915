"""The stored tables. Changing a table means a new Alembic migration in ``migrations/versions``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps come back timezone-aware (UTC) from every database; SQLite alone would return naive ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


# Rows that can be erased and whose ids people or the audit log name: SQLite must never hand an id out twice
# (migration 0006); PostgreSQL sequences never do.
NO_ID_REUSE = {"sqlite_autoincrement": True}


class LabelledExample(Base):
    """A text with the category a person gave it: what the categoriser learns from."""

    __tablename__ = "labelled_examples"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    text_hash: Mapped[str] = mapped_column(String(64), unique=True)  # of the normalised text: one label per text
    category: Mapped[str] = mapped_column(String(100), index=True)
    source: Mapped[str] = mapped_column(String(20))  # import | review | cli
    created_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))  # agent | expert | admin
    team: Mapped[str | None] = mapped_column(String(100), nullable=True)  # a routing team of categories.yaml
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ApiToken(Base):
    """Personal token for scripts; only its SHA-256 is stored, the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)  # None: never (legacy rows)


class BrowserSession(Base):
    __tablename__ = "browser_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer: Mapped[str] = mapped_column(String(300))  # name and/or e-mail address as given
    customer_email: Mapped[str | None] = mapped_column(String(300), nullable=True)
    channel: Mapped[str] = mapped_column(String(20))  # api | email | web
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(500), unique=True, nullable=True)  # of an .eml
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(20), index=True)
    category: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    category_confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    category_method: Mapped[str | None] = mapped_column(String(30), nullable=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    team: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)  # the category's routing team
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Attachment(Base):
    """A file of an imported mail (assistant/tickets/attachments.py): stored under ``stored_name`` in
    ``<home>/attachments``, or left out over the limits (``left_out`` says why, so the agent is not misled);
    ``name`` is the sender's file name, display text only."""

    __tablename__ = "attachments"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))  # from the file's first bytes, never text/html
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    stored_name: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)  # None: left out
    left_out: Mapped[str | None] = mapped_column(String(200), nullable=True)  # why it was not kept (limits)
    message_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # of a follow-up (ticket_messages.id)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class TicketMessage(Base):
    """A message on a ticket after its first one (``Ticket.body``): a customer's follow-up mail (``in``) or an
    internal note (``note``: never sent, never read by the model as the customer's text). Sent answers are the
    delivered outbox rows; the conversation is all three in time order (assistant/tickets/threads.py)."""

    __tablename__ = "ticket_messages"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # in | note
    author: Mapped[str] = mapped_column(String(300))  # the sender as given, or the user's name
    body: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(500), unique=True, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class TextModule(Base):
    """A text module (Textbaustein) the department maintains; agents insert it while editing an answer."""

    __tablename__ = "text_modules"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200), unique=True)
    body: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(100), nullable=True)  # offered first for this category
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class TicketPresence(Base):
    """Who has a ticket open right now (a heartbeat from the ticket page), for the collision warning."""

    __tablename__ = "ticket_presence"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    editing: Mapped[bool] = mapped_column(Boolean, default=False)  # has unsaved changes
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class MailImport(Base):
    """One mail seen in the shared mailbox (assistant/mailbox/fetch.py): by (mailbox, UIDVALIDITY, UID) a mail
    is handled once, also when the process died between storing it and flagging it on the server."""

    __tablename__ = "mail_imports"
    __table_args__ = (UniqueConstraint("mailbox", "uidvalidity", "uid"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(300))  # user@host/folder
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[str | None] = mapped_column(String(500), nullable=True, index=True)
    outcome: Mapped[str] = mapped_column(String(20))  # assistant.mailbox.fetch.Outcome
    ticket_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    detail: Mapped[str | None] = mapped_column(String(500), nullable=True)
    done: Mapped[bool] = mapped_column(Boolean, default=False)  # flagged or moved on the server
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class MailboxState(Base):
    """The last fetch of a mailbox, for the Übersicht and /api/health (any process may fetch)."""

    __tablename__ = "mailbox_state"

    mailbox: Mapped[str] = mapped_column(String(300), primary_key=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    last_error_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # in a row, for the backoff
    imported: Mapped[int] = mapped_column(Integer, default=0)  # tickets and follow-ups, in total


class DraftRow(Base):
    __tablename__ = "drafts"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    generated_text: Mapped[str] = mapped_column(Text)  # as the model/pipeline wrote it, for edit distance
    citations: Mapped[list[Any]] = mapped_column(JSON, default=list)
    sections: Mapped[list[Any]] = mapped_column(JSON, default=list)  # DraftSection dumps: paragraph + its sources
    notes: Mapped[list[Any]] = mapped_column(JSON, default=list)  # hints for the agent (language, hand-over, …)
    flags: Mapped[list[Any]] = mapped_column(JSON, default=list)  # promises in the current text to confirm
    source_chunk_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    category: Mapped[str | None] = mapped_column(String(100), nullable=True)
    handover: Mapped[bool] = mapped_column(Boolean, default=False)
    method: Mapped[str] = mapped_column(String(30))
    prompt_version: Mapped[str] = mapped_column(String(50))
    model: Mapped[str] = mapped_column(String(200))
    model_sha256: Mapped[str] = mapped_column(String(64))
    timings_ms: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Review(Base):
    """A person's act on a draft: approve (binds to the text's SHA-256), reject, edit, rating, category."""

    __tablename__ = "reviews"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("drafts.id"), index=True)
    # assistant.tickets.state.Decision
    decision: Mapped[str] = mapped_column(String(20))
    text_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    edited_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    category_correction: Mapped[str | None] = mapped_column(String(100), nullable=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class OutboxMessage(Base):
    """One approved answer to deliver. One per draft (unique): sending twice cannot make a second mail."""

    __tablename__ = "outbox"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("drafts.id"), unique=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    message_id: Mapped[str] = mapped_column(String(300), unique=True)
    to_address: Mapped[str] = mapped_column(String(300))
    to_name: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(600))
    body: Mapped[str] = mapped_column(Text)
    text_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), index=True)  # assistant.tickets.state.OutboxStatus
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(500), nullable=True)  # the customer's message answered
    references: Mapped[str | None] = mapped_column(Text, nullable=True)  # the thread's Message-IDs, space-separated
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Job(Base):
    """Background work backed by the database, so a restart resumes it."""

    __tablename__ = "jobs"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))  # assistant.jobs.JobKind
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)  # assistant.jobs.JobStatus
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    priority: Mapped[int] = mapped_column(Integer, server_default="0")  # assistant.jobs.Priority: lower first
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)  # a running job's claim
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class AuditEntry(Base):
    """Append-only: the application never updates or deletes a row (guarded in code and by the database)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))  # user name, or "system"
    action: Mapped[str] = mapped_column(String(50))
    ticket_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    draft_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    text_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    prompt_version: Mapped[str | None] = mapped_column(String(50), nullable=True)
    model_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sources: Mapped[list[Any]] = mapped_column(JSON, default=list)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)  # hash chain: previous row's hash
    row_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)  # of this row's content + prev_sha256


class EvalRun(Base):
    """One evaluation run of a prompt version; a passed gate run is what promotion requires."""

    __tablename__ = "eval_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task: Mapped[str] = mapped_column(String(30))
    prompt_ref: Mapped[str] = mapped_column(String(50), index=True)
    prompt_sha256: Mapped[str] = mapped_column(String(64))
    model_sha256: Mapped[str] = mapped_column(String(64))
    cases: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    gate_passed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    report_dir: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class EvalCacheEntry(Base):
    """Result of one case under one (prompt file, model file, knowledge index, input): re-running an unchanged
    version costs nothing, and an interrupted run resumes where it stopped."""

    __tablename__ = "eval_cache"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    task: Mapped[str] = mapped_column(String(30))
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
