"""Delivery of approved answers: a maildir folder by default, an SMTP relay when configured.

Sending is the one step that leaves the house, so it is small and strict. Review decides *whether* a text may
go out and keeps the retry bookkeeping; this module only turns it into a plain-text mail and hands that to one
backend: ``deliver`` returns the bytes it delivered (``None`` when the message was already there) or raises
``DeliveryError`` with a German one-line reason; the bytes are what a copy in the mailbox's Sent folder keeps.

Newlines: ``normalise_body`` turns CRLF and lone CR into LF and makes the text end with one LF. Maildir files
use LF, the SMTP wire CRLF (RFC 5321); decoded and stored locally, either yields ``normalise_body(mail.body)``.
Header injection: control characters in subject and display names become spaces; addresses and Message-IDs
must be plain well-formed ASCII or the mail is refused — except a malformed id in ``References``, which is left
out (it names an older mail of the thread; the answer matters more than that link).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import smtplib
import ssl
import time
import uuid
from dataclasses import dataclass, field
from email import _header_value_parser, errors, headerregistry, policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

if TYPE_CHECKING:
    from assistant.config import Settings

log = logging.getLogger(__name__)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")
_MESSAGE_ID = re.compile(r"<[!-;=?-~]+>")  # printable ASCII, no spaces or angle brackets inside
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_SMTP_REASONS: list[tuple[type[Exception], str]] = [  # first match wins: subclasses before their bases
    (smtplib.SMTPAuthenticationError, "SMTP-Anmeldung fehlgeschlagen"),
    (smtplib.SMTPSenderRefused, "Absender vom SMTP-Server abgelehnt"),
    (smtplib.SMTPRecipientsRefused, "Empfänger vom SMTP-Server abgelehnt"),
    (smtplib.SMTPResponseException, "SMTP-Server hat die Nachricht abgelehnt"),
    (smtplib.SMTPNotSupportedError, "SMTP-Server unterstützt STARTTLS bzw. Anmeldung nicht"),
    (smtplib.SMTPServerDisconnected, "SMTP-Server hat die Verbindung beendet oder antwortet nicht"),
    (smtplib.SMTPException, "SMTP-Fehler"),
    (ssl.SSLError, "TLS-Verbindung zum SMTP-Server fehlgeschlagen"),
    (TimeoutError, "SMTP-Server nicht erreichbar (Zeitüberschreitung)"),
    (ConnectionRefusedError, "SMTP-Server nicht erreichbar (Verbindung abgelehnt)"),
    (OSError, "SMTP-Server nicht erreichbar"),
]


class DeliveryError(Exception):
    """Delivery failed; the message is one German line fit to show to a person."""


@dataclass(frozen=True)
class OutgoingMail:
    message_id: str
    sender: str
    sender_name: str
    to: str
    to_name: str
    subject: str
    body: str
    in_reply_to: str | None = None  # the customer's message answered
    references: tuple[str, ...] = ()  # the thread's Message-IDs, oldest first
    reply_to: str = ""


class Mailer(Protocol):
    def deliver(self, mail: OutgoingMail) -> bytes | None: ...


def valid_message_id(text: str) -> bool:
    return bool(_MESSAGE_ID.fullmatch(text))


class _MessageIDs:
    """In-Reply-To and References as msg-ids, like the stdlib's Message-ID: folded between ids, never encoded.
    The stdlib takes them for free text and RFC 2047-encodes an id too long for one line (Outlook's are)."""

    max_count = 1

    @classmethod
    def parse(cls, value: str, kwds: dict[str, Any]) -> None:
        ids = _header_value_parser.TokenList()
        while value.strip():
            token, value = _header_value_parser.get_msg_id(value)
            ids.append(token)
        kwds["parse_tree"], kwds["decoded"] = ids, str(ids)
        kwds["defects"].extend(ids.all_defects)


_HEADERS = headerregistry.HeaderRegistry()
for _name in ("in-reply-to", "references"):  # the registry takes mixins like this one (typeshed says otherwise)
    _HEADERS.map_to_type(_name, cast(type[headerregistry.BaseHeader], _MessageIDs))
_POLICY = policy.default.clone(header_factory=_HEADERS)


def normalise_body(text: str) -> str:
    """The body exactly as the recipient decodes it: LF line ends, ending with one LF."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text if text.endswith("\n") else text + "\n"


def build_message(mail: OutgoingMail) -> EmailMessage:
    """Plain-text UTF-8 mail; the stdlib RFC 2047-encodes headers and picks 7bit/8bit/quoted-printable."""
    msg, body = EmailMessage(policy=_POLICY), normalise_body(mail.body)
    try:
        msg["From"] = Address(_clean(mail.sender_name), addr_spec=_checked(_ADDRESS, mail.sender))
        msg["To"] = Address(_clean(mail.to_name), addr_spec=_checked(_ADDRESS, mail.to))
        msg["Subject"] = _clean(mail.subject)
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = _checked(_MESSAGE_ID, mail.message_id)
        if mail.reply_to:
            msg["Reply-To"] = Address(_clean(mail.sender_name), addr_spec=_checked(_ADDRESS, mail.reply_to))
        references = list(dict.fromkeys(i for i in mail.references if valid_message_id(i)))
        if mail.in_reply_to:
            msg["In-Reply-To"] = _checked(_MESSAGE_ID, mail.in_reply_to)
            if mail.in_reply_to not in references:
                references.append(mail.in_reply_to)  # RFC 5322 3.6.4: References names the message answered
        if references:
            msg["References"] = " ".join(references)
        msg.set_content(body, charset="utf-8")
        if msg["Content-Transfer-Encoding"] == "base64":  # keep the text readable and its newlines uniform
            msg.set_content(body, charset="utf-8", cte="quoted-printable")
    except (ValueError, TypeError, errors.MessageError) as exc:  # includes UnicodeError
        raise DeliveryError(_one_line(f"Nachricht konnte nicht erstellt werden: {exc}")) from exc
    return msg


class MaildirMailer:
    """Writes each message once into ``folder/new``; delivering the same Message-ID again does nothing."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def deliver(self, mail: OutgoingMail) -> bytes | None:
        data = build_message(mail).as_bytes()
        if self.find(mail.message_id) is not None:
            log.info("outbox: %s already delivered, skipped", mail.message_id)
            return None
        try:
            self._store(_file_name(mail.message_id), data)
        except OSError as exc:
            raise DeliveryError(_one_line(f"Postausgang nicht beschreibbar: {exc}")) from exc
        log.info("outbox: %s written to %s", mail.message_id, self.folder)
        return data

    def delivered(self) -> list[Path]:
        """All delivered messages (new/ and cur/), sorted by file name."""
        dirs = [self.folder / "new", self.folder / "cur"]
        return sorted((p for d in dirs if d.is_dir() for p in d.iterdir() if not p.name.startswith(".")),
                      key=lambda p: p.name)

    def find(self, message_id: str) -> Path | None:
        name = _file_name(message_id)
        for candidate in (self.folder / "new" / name, self.folder / "cur" / name):
            if candidate.exists():
                return candidate
        return next((self.folder / "cur").glob(name + ":*"), None)  # a mail client may append ":2,S"

    def _store(self, name: str, data: bytes) -> None:
        for sub in ("tmp", "new", "cur"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        tmp = self.folder / "tmp" / f"{name}.{os.getpid()}.{uuid.uuid4().hex}"
        try:
            with tmp.open("xb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            _publish(tmp, self.folder / "new" / name)
        finally:
            tmp.unlink(missing_ok=True)


@dataclass
class SmtpMailer:
    """Hands messages to an SMTP relay; ``sender`` is the envelope sender (bounce address)."""

    host: str
    port: int
    username: str = ""
    password: str = field(default="", repr=False)
    security: Literal["none", "starttls", "ssl"] = "none"
    timeout_s: float = 30.0
    sender: str = ""

    def deliver(self, mail: OutgoingMail) -> bytes:
        msg = build_message(mail)
        envelope = (_checked(_ADDRESS, self.sender or mail.sender), _checked(_ADDRESS, mail.to))
        if self.username and self.security == "none" and self.host not in _LOOPBACK:
            raise DeliveryError("SMTP-Anmeldung ohne Verschlüsselung verweigert: bitte STARTTLS oder SSL einstellen.")
        try:
            smtp = self._connect()
            try:
                data = self._send(smtp, msg, *envelope)
            except BaseException:
                smtp.close()
                raise
        except UnicodeError:  # smtplib's text for non-ASCII credentials would quote part of the password
            raise DeliveryError("SMTP-Anmeldung fehlgeschlagen: unzulässige Zeichen in den Zugangsdaten.") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise _smtp_error(exc, f"{self.host}:{self.port}") from exc
        _quit(smtp)
        log.info("outbox: %s handed to SMTP relay %s:%s", mail.message_id, self.host, self.port)
        return data

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            context = ssl.create_default_context()
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=context)
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)

    def _send(self, smtp: smtplib.SMTP, msg: EmailMessage, envelope_from: str, rcpt: str) -> bytes:
        if self.security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if self.username:
            smtp.login(self.username, self.password)
        smtp.ehlo_or_helo_if_needed()
        options = []
        if msg["Content-Transfer-Encoding"] == "8bit":  # RFC 6152: announce 8bit data, or avoid it
            if smtp.has_extn("8bitmime"):
                options = ["BODY=8BITMIME"]
            else:
                msg.set_content(msg.get_content(), charset="utf-8", cte="quoted-printable")
        # not send_message(): it flattens with compat32 and mangles "From " lines (cpython#89462)
        data = msg.as_bytes(policy=policy.SMTP)
        smtp.sendmail(envelope_from, [rcpt], data, mail_options=options)
        return data


def make_mailer(settings: Settings) -> Mailer:
    """The backend named by ``settings.outbox.outbox_backend``."""
    chosen = settings.outbox
    if chosen.outbox_backend == "maildir":
        return MaildirMailer(settings.outbox_dir)
    return SmtpMailer(
        host=chosen.smtp_host, port=chosen.smtp_port, username=chosen.smtp_username, password=chosen.smtp_password,
        security=chosen.smtp_security, timeout_s=chosen.smtp_timeout_s, sender=chosen.mail_from,
    )


def clean_tmp(folder: Path, stale_after_s: float = 36 * 3600) -> list[Path]:
    """Remove what a crash left half-written in ``folder/tmp``; called at start. A file of ours (named
    ``<name>.<pid>.<hex>`` by ``MaildirMailer._store``) goes when its writer process is gone; any other file
    after the maildir convention's 36 hours. The message itself is still pending and is delivered again."""
    removed = []
    tmp = Path(folder) / "tmp"
    for path in sorted(tmp.iterdir()) if tmp.is_dir() else []:
        try:
            if path.is_file() and (not _writer_alive(path.name) or time.time() - path.stat().st_mtime > stale_after_s):
                path.unlink()
                removed.append(path)
        except FileNotFoundError:  # finished by its writer meanwhile
            continue
    return removed


def _writer_alive(name: str) -> bool:
    parts = name.rsplit(".", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return True  # not ours: only its age counts
    pid = int(parts[1])
    if pid == os.getpid():
        return False  # this process is starting: nothing of its own is being written yet
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # a process of another user holds that id
    return True


def _clean(text: str) -> str:
    return _CONTROL.sub(" ", text).strip()


def _checked(pattern: re.Pattern[str], text: str) -> str:
    if not pattern.fullmatch(text):
        kind = "E-Mail-Adresse" if pattern is _ADDRESS else "Message-ID"
        raise DeliveryError(_one_line(f"Ungültige {kind}: {text!r}"))
    return text


def _file_name(message_id: str) -> str:
    """A safe file name: a readable part plus a hash, so distinct Message-IDs never share a file."""
    readable = _UNSAFE_NAME.sub("_", message_id.strip("<>")).strip("._")[:80] or "mail"
    digest = hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{readable}.{digest}.eml"


def _publish(tmp: Path, target: Path) -> None:
    """Move a finished file into place atomically, never replacing one that is already there."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        return  # a concurrent delivery of the same Message-ID won
    except OSError:  # no hard links on this file system; rename is atomic as well
        if not target.exists():
            os.rename(tmp, target)
    fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(fd)  # make the new directory entry durable
    finally:
        os.close(fd)


def _quit(smtp: smtplib.SMTP) -> None:
    """Polite goodbye; once the relay accepted the mail, a failing QUIT must not cause a duplicate retry."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _smtp_error(exc: Exception, where: str) -> DeliveryError:
    label = next(text for kind, text in _SMTP_REASONS if isinstance(exc, kind))
    if isinstance(exc, smtplib.SMTPResponseException):
        detail = f"{exc.smtp_code} {_text(exc.smtp_error)}"
    elif isinstance(exc, smtplib.SMTPRecipientsRefused):
        detail = "; ".join(f"{code} {_text(reply)}" for code, reply in exc.recipients.values())
    else:
        detail = str(exc)
    return DeliveryError(_one_line(f"{label}: {where} – {detail}"))


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


def _one_line(text: str) -> str:
    return " ".join(text.split())
