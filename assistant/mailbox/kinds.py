"""What kind of mail came in: a customer's mail, an automatic reply, or a bounce (a delivery status notification).

Only a customer's mail becomes a ticket. An auto-reply (out of office, a ticket system's receipt, a read receipt, a
newsletter, a delayed delivery) answered by a draft would at best cost an agent a click and at worst start a loop of
robots answering each other; a bounce says that one of our replies did not arrive, and which
(``bounced_message_id``), so the outbox can mark it failed with ``bounce_reason``.

The rules are conservative, because the two mistakes are not alike: a robot's mail taken for a customer's costs
an agent a click; a customer's mail taken for a robot's is lost without anyone noticing. So a mail is a robot's
only on a signal a person's mail program never sets (see ``_automatic``), never on its text: a reply that
quotes an "Abwesenheitsnotiz" is a customer's mail.
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from email.utils import parseaddr
from typing import Literal

_MAX_REASON = 300
# Outlook's German out-of-office subjects ("Automatische Antwort: <Betreff>", older "Abwesenheitsnotiz: …") are
# enough alone: a customer's subject does not begin so (a reply to one begins "AW:"), and some Exchange set-ups
# send them without any header that says so. The English ones could be a customer's words ("Out of office –
# order lost?") and count only with a header hint.
_GERMAN_AWAY = re.compile(r"^\s*(abwesenheitsnotiz|automatische antwort)\s*(:|$)", re.IGNORECASE)
_OTHER_AWAY = re.compile(r"^\s*(out of (the )?office|auto-?reply|automatic reply|auto-?response)\b", re.IGNORECASE)
# Status codes a sender understands without the server's English (RFC 3463); others are shown as the server said.
_STATUS = {
    "5.1.1": "Empfängeradresse unbekannt", "5.1.10": "Empfängeradresse unbekannt",
    "5.1.2": "Empfängerdomain unbekannt", "5.2.1": "Postfach gesperrt", "5.2.2": "Postfach voll",
    "4.2.2": "Postfach voll", "5.7.1": "vom Empfängerserver abgelehnt", "5.4.4": "Empfängerdomain nicht erreichbar",
    "4.4.7": "Zustellung nach mehreren Versuchen aufgegeben", "5.4.7": "Zustellung nach mehreren Versuchen aufgegeben",
}


@dataclass(frozen=True)
class MailKind:
    kind: Literal["mail", "auto_reply", "bounce"]
    reason: str  # one German line, for the log and the mailbox's report
    bounced_message_id: str | None = None  # the Message-ID of our mail that came back, "<…>"
    bounce_reason: str | None = None  # one line from the report, e.g. "550 5.1.1 user unknown"


MAIL = MailKind("mail", "Kundenmail")


def kind_of(message: EmailMessage) -> MailKind:
    """A bounce, an auto-reply or a customer's mail (see the module's docstring for the rules); ``message`` parsed
    with ``policy.default`` (so its subject is decoded)."""
    report = _delivery_report(message)
    if report is not None:
        return report
    if _from_daemon(message, postmaster=False):  # a mail server's words without a report (qmail): never a customer
        return MailKind("auto_reply", "Nachricht eines Mailservers (MAILER-DAEMON) ohne Zustellbericht")
    if message.get_content_type() == "multipart/report":  # RFC 6522: written by programs, e.g. Outlook's receipts
        read = str(message.get_param("report-type", "")).lower() == "disposition-notification"
        return MailKind("auto_reply", "Lesebestätigung" if read else "Bericht eines Mailprogramms (multipart/report)")
    return _automatic(message) or MAIL


# --- bounces ---------------------------------------------------------------------------------------------------

def _delivery_report(message: Message) -> MailKind | None:
    """A delivery status notification (RFC 3464): failed → a bounce; only delayed or delivered → an auto-reply
    (the mail may still arrive, or did)."""
    standard = (message.get_content_type() == "multipart/report"
                and str(message.get_param("report-type", "")).lower() == "delivery-status")
    returned = _returned(message)
    if not standard and not (_from_daemon(message) and returned is not None):
        return None
    fields = _recipient_fields(message)
    actions = {f.get("action", "").lower() for f in fields} - {""}
    statuses = [f.get("status", "") for f in fields if f.get("status")]
    failed = "failed" in actions or any(s.startswith("5") for s in statuses)
    if not failed and (actions or statuses):
        what = "Zustellung verzögert" if "delayed" in actions or any(s.startswith("4") for s in statuses) \
            else "Zustellbestätigung"
        return MailKind("auto_reply", f"Zustellbericht ({what}), kein Fehler")
    worst = next((f for f in fields if f.get("action", "").lower() == "failed"),
                 next((f for f in fields if f.get("status", "").startswith("5")), fields[0] if fields else {}))
    why = _why(worst)
    return MailKind("bounce", f"Unzustellbar: {why}" if why else "Unzustellbar (ohne Angabe des Grundes)",
                    bounced_message_id=_message_id(returned), bounce_reason=why or None)


def _from_daemon(message: Message, postmaster: bool = True) -> bool:
    """From MAILER-DAEMON (or postmaster, which may also be a person writing: only with a returned mail)."""
    local = parseaddr(str(message.get("From", "")))[1].rpartition("@")[0].lower()
    return local == "mailer-daemon" or (postmaster and local == "postmaster")


def _returned(message: Message) -> Message | None:
    """The returned mail, or its headers: a message/rfc822 or text/rfc822-headers part."""
    for part in message.walk():
        kind = part.get_content_type()
        if kind in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return inner[0]
        elif kind in ("text/rfc822-headers", "message/global-headers"):
            data = part.get_payload(decode=True)
            text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(part.get_payload())
            return email.message_from_string(text.lstrip(), policy=policy.default)
    return None


def _recipient_fields(message: Message) -> list[dict[str, str]]:
    """The per-recipient fields of the report (Action, Status, Diagnostic-Code), lower-case names, one line each."""
    found: list[dict[str, str]] = []
    for part in message.walk():
        if part.get_content_type() not in ("message/delivery-status", "message/global-delivery-status"):
            continue
        blocks = part.get_payload()
        if not isinstance(blocks, list):  # not parsed into blocks (a broken report): read its lines
            blocks = [email.message_from_string(b, policy=policy.default) for b in str(blocks).split("\n\n")]
        for block in blocks:
            if isinstance(block, Message) and (block.get("Action") or block.get("Status")):
                found.append({k.lower(): " ".join(str(v).split()) for k, v in block.items()})
    return found


def _why(fields: dict[str, str]) -> str:
    """One line: the remote server's words without "smtp;" and its repeated "550-5.1.1" prefixes, else the status
    with a German word for the common ones."""
    code = re.sub(r"^\s*[A-Za-z][\w.-]*\s*;\s*", "", fields.get("diagnostic-code", ""))  # "smtp; 550 …"
    if code:
        first = re.match(r"\d{3}[- ]\d\.\d{1,3}\.\d{1,3}\s*", code)
        if first:  # Gmail: "550-5.1.1 The email … 550-5.1.1 double-checking … 550 5.1.1 https://…"
            rest = re.sub(r"\s\d{3}[- ]\d\.\d{1,3}\.\d{1,3}\s", " ", code[first.end():])
            code = first.group().replace("-", " ", 1) + rest
        return _line(code)
    status = fields.get("status", "").split(" ")[0]
    if not status:
        return ""
    return _line(f"{status} ({_STATUS[status]})" if status in _STATUS else status)


def _line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_REASON else text[:_MAX_REASON - 1] + "…"


def _message_id(message: Message | None) -> str | None:
    found = re.search(r"<[^<>\s]{1,490}>", str(message.get("Message-ID", ""))) if message is not None else None
    return found.group() if found else None


# --- auto-replies --------------------------------------------------------------------------------------------

def _automatic(message: Message) -> MailKind | None:
    """An auto-reply by a signal a person's mail program never sets:

    - ``Auto-Submitted`` other than "no" (RFC 3834: auto-replied, auto-generated; responders and ticket systems);
    - ``X-Autoreply``/``X-Autorespond``/``X-Autoresponder`` (responders before RFC 3834);
    - ``Precedence: bulk``, ``junk`` or ``auto_reply`` (RFC 2076: mass mail, the old ``vacation`` program);
    - a subject of Outlook's German out-of-office ("Automatische Antwort:", "Abwesenheitsnotiz:"); an English one
      ("Out of Office", "Autoreply", "Automatic reply") only with a hint: ``X-Auto-Response-Suppress``, an empty
      Return-Path or any ``Precedence``.

    Not signals on their own: ``Precedence: list`` and ``List-Id``/``List-Unsubscribe`` (a service address that
    is a Google Group or a Mailman list relays every customer's mail with them, and CRMs add List-Unsubscribe to
    one-to-one mails since Gmail's and Yahoo's 2024 sender rules); ``X-Auto-Response-Suppress`` (Outlook sets it
    on ordinary mails too); anything in the text."""
    submitted = str(message.get("Auto-Submitted", "")).split(";")[0].strip().lower()
    if submitted and submitted != "no":
        return MailKind("auto_reply", f"Automatische Antwort (Auto-Submitted: {_line(submitted)[:40]})")
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        value = str(message.get(name, "")).strip().lower()
        if value and value not in ("no", "false", "0"):
            return MailKind("auto_reply", f"Automatische Antwort ({name})")
    precedence = str(message.get("Precedence", "")).strip().lower()
    if precedence in ("bulk", "junk", "auto_reply"):
        listed = " mit Abmeldelink" if message.get("List-Unsubscribe") or message.get("List-Id") else ""
        return MailKind("auto_reply", f"Massen- oder automatische Mail{listed} (Precedence: {precedence})")
    subject = " ".join(str(message.get("Subject", "")).split())
    if _GERMAN_AWAY.match(subject):
        return MailKind("auto_reply", "Abwesenheitsnotiz (Betreff)")
    hint = bool(message.get("X-Auto-Response-Suppress") or precedence
                or str(message.get("Return-Path", "")).strip() == "<>")
    if hint and _OTHER_AWAY.match(subject):
        return MailKind("auto_reply", "Abwesenheitsnotiz (Betreff und Kopfzeilen)")
    return None
