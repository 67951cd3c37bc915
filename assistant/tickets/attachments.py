"""Attachments of imported mails: kept beside the ticket, never read by the model, never shown inline.

Each file is stored in ``<home>/attachments`` under a generated name (the sender's file name is display text
only, never a path), mode 0600 like the rest of the data directory. Its type is taken from its first bytes
(a small allow-list by signature), not from what the sender's mail claims: a download is never ``text/html``.
What is over the limits (count, size of one file, size of all) is left out, and the ticket says which.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from assistant.errors import NotFoundError
from assistant.store.db import Database
from assistant.store.tables import Attachment
from assistant.tickets.queries import get_ticket

OCTET = "application/octet-stream"
_SIGNATURES: list[tuple[bytes, str]] = [
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
]
_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_STORED = re.compile(r"^[0-9a-f]{32}$")  # the generated names: nothing else is ever opened


def sniff(data: bytes) -> str:
    """The content type by the file's first bytes; unknown or ambiguous content is ``application/octet-stream``."""
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"PK\x03\x04"):
        return _DOCX if b"word/" in data[:65536] else "application/zip"
    return "text/plain; charset=utf-8" if _plain_text(data) else OCTET


def _plain_text(data: bytes) -> bool:
    if not data or b"\x00" in data:
        return False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\r\t\f") == 0


def display_name(name: str | None) -> str:
    """The sender's file name as text to show: no folders, no control or format characters, at most 200."""
    name = unicodedata.normalize("NFC", str(name or "")).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().lstrip(".")
    return name[:200] or "Anhang"


@dataclass(frozen=True)
class Limits:
    """At most ``count`` files per mail, ``file_bytes`` each, ``mail_bytes`` together."""

    count: int = 10
    file_bytes: int = 10 * 1024 * 1024
    mail_bytes: int = 25 * 1024 * 1024


@dataclass(frozen=True)
class Incoming:
    name: str  # display name, sanitised
    data: bytes


@dataclass
class Chosen:
    kept: list[Incoming] = field(default_factory=list)
    left_out: list[tuple[Incoming, str]] = field(default_factory=list)  # with the reason


def of_message(message: EmailMessage) -> list[Incoming]:
    """The files of a mail: every leaf part but the text the ticket is made of (and its alternative)."""
    body = message.get_body(preferencelist=("plain", "html"))
    found = []
    for part in message.walk():
        if part.is_multipart() or part is body or not isinstance(part, EmailMessage):
            continue
        disposition, filename = part.get_content_disposition(), part.get_filename()
        if disposition != "attachment" and not filename and part.get_content_maintype() == "text":
            continue  # the other form of the body (text/html beside text/plain)
        data = part.get_payload(decode=True)
        if isinstance(data, bytes):
            found.append(Incoming(display_name(filename), data))
    return found


def choose(files: list[Incoming], limits: Limits) -> Chosen:
    chosen, total = Chosen(), 0
    for item in files:
        if len(chosen.kept) >= limits.count:
            chosen.left_out.append((item, f"mehr als {limits.count} Anhänge"))
        elif len(item.data) > limits.file_bytes:
            chosen.left_out.append((item, f"größer als {_size(limits.file_bytes)}"))
        elif total + len(item.data) > limits.mail_bytes:
            chosen.left_out.append((item, f"alle Anhänge zusammen größer als {_size(limits.mail_bytes)}"))
        else:
            chosen.kept.append(item)
            total += len(item.data)
    return chosen


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB".replace(".", ",") if n >= 1024 * 1024 else f"{max(1, round(n / 1024))} KB"


class AttachmentStore:
    """The folder of attachment files and the ``attachments`` rows that name them."""

    def __init__(self, folder: Path, database: Database, limits: Limits | None = None) -> None:
        self.folder = folder
        self.database = database
        self.limits = limits or Limits()

    def save(self, session: Session, ticket_id: int, files: list[Incoming], message: int | None = None) -> list[Path]:
        """Write the files within the limits and add a row for each file (the left-out ones with the reason);
        returns the paths written, for the caller to remove if the transaction fails. ``message``: the follow-up
        (ticket_messages.id) they came with."""
        chosen = choose(files, self.limits)
        written = []
        if chosen.kept:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            for item in chosen.kept:
                stored = secrets.token_hex(16)
                path = self.folder / stored
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                written.append(path)
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(item.data)
                session.add(_row(ticket_id, item, message, stored_name=stored))
        except BaseException:
            for path in written:  # a full disk: no half of the files
                path.unlink(missing_ok=True)
            raise
        for item, reason in chosen.left_out:
            session.add(_row(ticket_id, item, message, left_out=reason))
        return written

    def path(self, stored_name: str) -> Path | None:
        found = stored_files(self.folder, [stored_name], derived=False)
        return found[0] if found else None

    def listed(self, ticket_id: int) -> list[dict[str, object]]:
        """The ticket's attachments as the API and the ticket page show them (404 for an unknown ticket)."""
        with self.database.session() as session:
            get_ticket(session, ticket_id)
            return [attachment_json(r) for r in of_tickets(session, [ticket_id])]

    def open(self, attachment_id: int) -> tuple[Attachment, Path]:
        """The row and its file; a row left out over the limits, or a file gone, is not found."""
        with self.database.session() as session:
            row = session.get(Attachment, attachment_id)
            path = self.path(row.stored_name) if row is not None and row.stored_name else None
            if row is None or path is None:
                raise NotFoundError(f"Anhang {attachment_id} gibt es nicht")
            session.expunge(row)
            return row, path



def _row(ticket_id: int, item: Incoming, message: int | None, stored_name: str | None = None,
         left_out: str | None = None) -> Attachment:
    return Attachment(ticket_id=ticket_id, message_id=message, name=item.name, content_type=sniff(item.data),
                      size=len(item.data), sha256=hashlib.sha256(item.data).hexdigest(), stored_name=stored_name,
                      left_out=left_out)


def left_out_note(rows: list[Attachment]) -> str | None:
    """The note for the agent: which attachments were not kept, and why."""
    missing = [f"{r.name} ({_size(r.size)}, {r.left_out})" for r in rows if r.left_out]
    return "Anhänge nicht übernommen: " + "; ".join(missing) if missing else None


def stored_files(folder: Path, stored_names: list[str | None], derived: bool = True) -> list[Path]:
    """The files of these rows that exist (a name that is not a generated one is never opened), each followed by
    the files made from it, ``<name>.…`` (its thumbnail, assistant/tickets/thumbnails.py), so that erasing and
    exporting a customer's files cover those too; ``derived=False``: the stored files alone."""
    found = []
    for name in (n for n in stored_names if n and _STORED.match(n)):
        path = folder / name
        found += [path] if path.is_file() else []
        found += sorted(p for p in folder.glob(f"{name}.*") if p.is_file()) if derived else []
    return found


def of_tickets(session: Session, ticket_ids: list[int]) -> list[Attachment]:
    if not ticket_ids:
        return []
    return list(session.scalars(select(Attachment).where(Attachment.ticket_id.in_(ticket_ids))
                                .order_by(Attachment.id)))


def attachment_json(row: Attachment) -> dict[str, object]:
    return {"id": row.id, "ticket_id": row.ticket_id, "name": row.name, "content_type": row.content_type,
            "size": row.size, "sha256": row.sha256, "created_at": row.created_at.isoformat(),
            "downloadable": row.stored_name is not None, "left_out": row.left_out,
            "url": f"/api/attachments/{row.id}" if row.stored_name else None}
