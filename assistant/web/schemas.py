"""What the JSON API takes and answers, as pydantic models: every route that answers JSON names its model, so the
OpenAPI spec documents every answer. The answer models forbid unknown fields: a field a query adds without adding
it here fails loudly in the tests (a response model would otherwise drop it silently)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from assistant.auth import Role, TokenInfo
from assistant.domain import AnswerMethod, Citation, DraftFlag, DraftSection
from assistant.prompts import Task
from assistant.tickets.state import OutboxStatus, TicketStatus
from assistant.tickets.threads import MAX_NOTE_CHARS

PromiseKind = Literal["money", "discount", "compensation", "deadline", "legal"]


class Out(BaseModel):
    """An answer: exactly these fields."""

    model_config = ConfigDict(extra="forbid")


# --- requests ------------------------------------------------------------------------------------------------

class Login(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class TextIn(BaseModel):
    text: str = Field(min_length=1, max_length=100_000)


class AskIn(BaseModel):
    text: str = Field(min_length=1, max_length=8000)


class CategoryIn(BaseModel):
    category: str = Field(min_length=1, max_length=100)


class RejectIn(BaseModel):
    comment: str = Field("", max_length=2000)


class RatingIn(BaseModel):
    score: int = Field(ge=1, le=5)
    comment: str = Field("", max_length=2000)
    handover_needed: bool | None = Field(None, description="the reviewer's verdict: was a hand-over needed?")


class SendIn(BaseModel):
    """The kinds of promise the agent confirmed after reading them (``flags`` of the draft)."""

    confirm: list[PromiseKind] = Field(default_factory=list, max_length=5)


class RecipientIn(BaseModel):
    email: str = Field(min_length=3, max_length=254)


class NoteIn(BaseModel):
    """An internal note on a ticket, for colleagues."""

    text: str = Field(min_length=1, max_length=MAX_NOTE_CHARS)


class PasswordIn(BaseModel):
    password: str = Field(min_length=1, max_length=1000)


class OwnPasswordIn(BaseModel):
    current: str = Field(min_length=1, max_length=1000)
    new: str = Field(min_length=1, max_length=1000)


class PromptIn(BaseModel):
    """The parts of the new version: ``system`` and ``user`` for prompts, ``letter`` for the reply letter."""

    from_version: int = Field(ge=1)
    system: str = Field("", max_length=20_000)
    user: str = Field("", max_length=20_000)
    letter: str = Field("", max_length=20_000)
    note: str = Field("", max_length=500)

    def parts(self) -> dict[str, str]:
        return {"system": self.system, "user": self.user, "letter": self.letter}


class EvaluationIn(BaseModel):
    task: Task
    prompt: str = Field("candidate", pattern=r"^(production|candidate|v?\d{1,4})$")


# --- accounts and session ------------------------------------------------------------------------------------

class Me(Out):
    name: str
    role: str


class Session(Me):
    """A browser session started: the cookie is set; ``csrf_token`` goes with every change (``X-CSRF-Token``)."""

    csrf_token: str


class Ended(Out):
    ended: int


class UserIn(BaseModel):
    """A new user (the rules of ``kontor users add``: a name without blanks, a known role and team)."""

    name: str = Field(min_length=1, max_length=100)
    role: Role
    password: str = Field(min_length=1, max_length=1000)
    team: str | None = Field(None, max_length=100, description="a routing team of the category list, or none")


class RoleIn(BaseModel):
    role: Role


class TeamIn(BaseModel):
    team: str | None = Field(max_length=100, description="a routing team of the category list; null: none")


class TokenIn(BaseModel):
    label: str = Field(min_length=1, max_length=100, description="what the token is for")
    days: int | None = Field(None, ge=1, le=3650, description="valid this many days (default: token_days)")


class NewToken(Out):
    """A token just created: ``token`` is shown this once (only its hash is stored)."""

    token: str
    info: TokenInfo


class Teams(Out):
    teams: list[str] = Field(description="the routing teams of the category list, in its order")


# --- tickets, drafts, outbox (``assistant.tickets.queries``) ---------------------------------------------------

class Ticket(Out):
    id: int
    customer: str
    customer_email: str | None
    channel: str
    subject: str
    body: str
    received_at: str
    status: TicketStatus
    category: str | None
    category_confidence: float | None
    category_method: str | None
    assignee_id: int | None = Field(description="the user the ticket is assigned to")
    team: str | None = Field(description="the team it is routed to (its category's, unless a person chose one)")


class Outbox(Out):
    """The answer's message in the outbox: waiting, being sent, or delivered."""

    id: int
    draft_id: int
    ticket_id: int
    message_id: str
    to: str
    status: OutboxStatus
    attempts: int
    last_error: str | None
    next_attempt_at: str | None = Field(description="null once delivered")
    delivered_at: str | None


class WrittenBy(Out):
    kind: Literal["machine", "edited", "hand"] = Field(
        description="the model's unedited text, the model's text edited by a person, or written by a person")
    name: str | None = Field(description="who changed it last (null for the model's text)")


class Draft(Out):
    """The ticket's current draft: the text, each paragraph with its sources, the promises to confirm."""

    id: int
    ticket_id: int
    text: str
    citations: list[Citation]
    sections: list[DraftSection] = Field(description="paragraphs with their sources")
    notes: list[str] = Field(description="hints for the agent (language, hand-over, …)")
    flags: list[DraftFlag] = Field(description="promises to confirm before sending")
    category: str | None
    status: TicketStatus = Field(description="the ticket's status")
    handover: bool
    method: str
    prompt_version: str
    model: str
    model_sha256: str
    sources: list[str] = Field(description="chunk ids of the cited passages")
    timings_ms: dict[str, int | float]
    ratings: list[int]
    created_at: str
    updated_at: str
    written_by: WrittenBy = Field(description="who wrote the text now in the draft")
    approved_by: str | None = Field(description="whose approval is the draft's last")


class OlderDraft(Out):
    """A draft that is no longer its ticket's current one (a newer draft replaced it)."""

    id: int
    ticket_id: int
    current: Literal[False]


class TicketView(Ticket):
    """The ticket with its newest outbox message and its current draft (each null until there is one)."""

    outbox: Outbox | None
    draft: Draft | None
    queue_position: int | None = Field(description="place of its drafting job in the queue (1: next or now)")


class DraftQueued(Out):
    queued: Literal[True]
    ticket_id: int


class ConversationEntry(Out):
    """One message of a ticket's conversation (``assistant.tickets.threads.conversation``), oldest first."""

    kind: Literal["customer", "answer", "note"] = Field(
        description="customer: the first mail or a follow-up; answer: a reply Kontor delivered; note: internal")
    author: str = Field(description="the customer as given, the answer's recipient, or the note's writer")
    at: str
    body: str


class SentReply(Out):
    """An answer delivered to the customer on an earlier ticket."""

    at: str = Field(description="when it was delivered")
    to: str = Field(description="the address it went to")
    body: str = Field(description="the text sent")


class EarlierTicket(Out):
    """One of the customer's other tickets (same e-mail address; ``assistant.tickets.queries.history``)."""

    id: int
    subject: str
    received_at: str
    status: str
    replies: list[SentReply] = Field(description="the answers delivered on it, oldest first")


class AssignIn(BaseModel):
    """Give a ticket to a person and/or a team (a name; null: nobody, no team). A field left out stays as it is."""

    user: str | None = Field(None, min_length=1, max_length=100)
    team: str | None = Field(None, min_length=1, max_length=100)


class Assigned(Out):
    """Who is responsible for a ticket (``assistant.tickets.assignment``)."""

    ticket_id: int
    assignee_id: int | None
    assignee: str | None = Field(description="the assigned user's name")
    team: str | None


class PresenceIn(BaseModel):
    editing: bool = Field(False, description="the page's text differs from the saved one")


class Present(Out):
    name: str
    editing: bool = Field(description="has changes not yet saved")


class Presence(Out):
    """Who else has the ticket open (seen in the last 60 seconds), by name."""

    others: list[Present]


class Note(Out):
    """An internal note: never sent, never read by the model as the customer's text."""

    id: int
    ticket_id: int
    kind: Literal["note"]
    author: str
    at: str
    body: str


class Attachment(Out):
    """A file of an imported mail (``assistant.tickets.attachments``): download it from ``url``; one left out
    over the limits has no ``url`` and says why in ``left_out``."""

    id: int
    ticket_id: int
    name: str = Field(description="the sender's file name, as display text")
    content_type: str = Field(description="by the file's content, not by what the mail claimed")
    size: int
    sha256: str
    created_at: str
    downloadable: bool
    left_out: str | None
    url: str | None


# --- knowledge -----------------------------------------------------------------------------------------------

class SearchResult(Out):
    rank: int
    score: float
    source: str
    title: str
    chunk_id: str
    text: str
    internal: bool = Field(description="from a document marked 'nur intern': never quoted to a customer")


class Answer(Out):
    """A draft answer to a free text (nothing is stored)."""

    answer: str
    citations: list[Citation]
    sections: list[DraftSection]
    flags: list[DraftFlag]
    handover: bool
    method: AnswerMethod
    prompt_version: str
    model: str
    model_sha256: str
    notes: list[str]
    timings_ms: dict[str, float]


class Document(Out):
    """A knowledge document: indexed, or a file waiting for the next index run."""

    model_config = ConfigDict(from_attributes=True)
    source: str
    title: str
    chunks: int
    size: int
    sha256: str | None
    indexed: bool
    indexed_at: str | None
    internal: bool


class Uploaded(Out):
    source: str
    internal: bool
    queued: Literal[True]
    task_id: str


class DocumentDeleted(Out):
    source: str
    deleted: Literal[True]
    queued: bool = Field(description="true: a re-index is running; the next run removes the entries")


class TaskStarted(Out):
    task_id: str


class TaskStatus(Out):
    """Background work (re-indexing, an evaluation) and how far it is."""

    id: str
    kind: str
    status: Literal["running", "done", "failed"]
    done: int
    total: int
    item: str
    result: dict[str, Any] | None
    error: str | None
    started_at: str
    finished_at: str | None


# --- prompts -------------------------------------------------------------------------------------------------

class PromptVersionInfo(Out):
    version: int
    author: str
    created: str
    note: str
    locked: bool = Field(description="released once: the file never changes again")
    labels: list[str] = Field(description="production and/or candidate")


class PromptDiff(Out):
    diff: str
    a: str
    b: str


class PromptText(Out):
    task: str
    version: int
    text: str


class PromptCreated(Out):
    task: str
    version: int


class PromptPromoted(Out):
    task: str
    production: int


# --- evaluation and dashboard --------------------------------------------------------------------------------

class EvalCase(Out):
    case: str
    file: str


class Evaluation(Out):
    id: int
    task: str
    prompt_ref: str
    gate_passed: bool | None
    cases: int
    started_at: str
    finished_at: str | None
    metrics: dict[str, Any]
    report: str | None = Field(description="the HTML report's URL, when there is one")


class Metrics(Out):
    """The learning loop's numbers for a group of drafts (``assistant.dashboard``)."""

    drafts: int
    reviewed: int
    approved: int
    approved_unedited: int
    approval_rate_unedited: float | None
    edit_distance: float | None
    rating: float | None
    ratings: int
    handover_rate: float | None
    median_ready_seconds: float | None


class _ByVersion(Out):
    prompt_version: str | None


class _ByWeek(_ByVersion):
    week: str = Field(description="ISO week of drafting, e.g. 2025-W07")


class VersionMetrics(Metrics, _ByVersion):  # the last base's fields come first, as in the dashboard's rows
    """The numbers of one prompt version."""


class WeekMetrics(Metrics, _ByWeek):
    """The numbers of one prompt version in one week."""


class Plot(Out):
    title: str
    png_base64: str


class Dashboard(Out):
    generated_at: str
    totals: Metrics
    versions: list[VersionMetrics]
    weeks: list[WeekMetrics]
    plots: list[Plot] = Field(default_factory=list, description="only with ?plots=true")


# --- audit and health ----------------------------------------------------------------------------------------

class AuditRecord(Out):
    id: int
    at: str
    actor: str
    action: str
    ticket_id: int | None
    draft_id: int | None
    text_sha256: str | None
    prompt_version: str | None
    model_sha256: str | None
    sources: list[Any]
    detail: dict[str, Any]


class Problem(Out):
    part: Literal["index", "model", "mailbox"]
    detail: str
    repair: str


class MailboxHealth(Out):
    """The shared mailbox's last fetch (present when a mailbox is set up)."""

    last_success_at: str | None
    last_error: str | None
    last_error_at: str | None
    failing: bool


class Health(Out):
    status: Literal["ok", "degraded"]
    problems: list[Problem] = Field(default_factory=list)
    mailbox: MailboxHealth | None = None


# --- the department's pages: two prompt versions compared, an evaluation's progress, one knowledge document -------

class PromptLine(Out):
    kind: Literal["same", "changed", "removed", "added"]
    a: str | None
    b: str | None


class PromptPartCompared(Out):
    name: str = Field(description="system, user or letter")
    title: str
    a: str
    b: str
    rows: list[PromptLine] = Field(description="the lines of both texts aligned side by side")


class PromptComparison(Out):
    """Two versions as a person compares them: the texts without the front matter, the changed generation
    settings as German lines."""

    task: str
    task_name: str
    a: int
    b: int
    note_a: str
    note_b: str
    settings: list[str] = Field(description="changed generation settings, e.g. 'Modell-Temperatur: 0,2 → 0,1'")
    parts: list[PromptPartCompared]


class EvaluationProgress(Out):
    """An evaluation run in the background as the page shows it (from the server's progress registry)."""

    task_id: str
    status: Literal["running", "done", "failed"]
    task: str
    prompt_ref: str
    title: str = Field(description="the version in German, e.g. 'Antwortentwurf v3'")
    cases: int
    done: int = Field(description="case runs done (each case runs twice when compared with production)")
    total: int
    started_at: str
    remaining: str | None = Field(description="the time left in German, e.g. 'noch etwa 3 Min.'")
    passed: bool | None
    verdict: str | None = Field(description="the outcome in German, once done or failed")
    report: str | None


class DocumentEvent(Out):
    action: str
    label: str = Field(description="German: hochgeladen, ersetzt")
    actor: str
    at: str
    original: str | None = Field(description="the file name the person uploaded")


class DocumentDetail(Out):
    """One knowledge document: who brought it and when, and the start of its extracted text."""

    source: str
    title: str
    size: int
    chunks: int
    indexed: bool
    indexed_at: str | None
    internal: bool
    uploaded_by: str | None
    uploaded_at: str | None
    events: list[DocumentEvent]
    preview: str = Field(description="the extracted text, at most the first 5,000 characters")
    preview_truncated: bool
    preview_problem: str | None
    download: str | None = Field(description="the original file's URL (always a download, never shown as a page)")


class DocumentReplaced(Out):
    source: str
    sha256: str
    previous_sha256: str | None
    queued: Literal[True]
    task_id: str


# --- text modules (Textbausteine) ------------------------------------------------------------------------------

class TextModuleIn(BaseModel):
    """A text module as the department writes it; placeholders ``{kunde}`` and ``{agent}`` only."""

    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=5000, description="may contain {kunde} and {agent}, nothing else "
                                                                    "in braces")
    category: str | None = Field(None, max_length=100, description="a category id; empty or null: for all")


class TextModuleOut(Out):
    id: int
    title: str
    body: str = Field(description="with its placeholders unfilled")
    category: str | None
    category_name: str | None = Field(description="the category's German name; null for all categories")
    created_by: str
    updated_at: str


class TextModuleDeleted(Out):
    id: int
    title: str
    deleted: Literal[True]
