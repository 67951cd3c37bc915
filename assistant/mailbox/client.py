"""The connection to the shared mailbox, through IMAPClient (the one module that imports it).

Everything the fetcher needs is here, in the mailbox's terms: the folder's UIDVALIDITY and the UIDs after a
point, a mail's bytes without setting \\Seen (``BODY.PEEK[]``), marking a mail done (seen, or moved to a folder),
moving it to quarantine, storing a copy in a folder (Sent), and waiting for new mail (IDLE where offered).
Failures become ``MailboxError`` with one German line; ``security="none"`` is refused except on loopback, so a
password never crosses a network in clear text.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from assistant.errors import InputError, UnavailableError

if TYPE_CHECKING:
    from assistant.config import ImapSettings

LOOPBACK = {"127.0.0.1", "::1", "localhost"}
IDLE_SLICE_S = 2.0  # IDLE is checked in slices, so that a stop is noticed soon
_REASONS: list[tuple[type[BaseException], str]] = [  # first match wins: subclasses before their bases
    (LoginError, "IMAP-Anmeldung fehlgeschlagen (Benutzer oder Passwort falsch)"),
    (ssl.SSLError, "TLS-Verbindung zum IMAP-Server fehlgeschlagen"),
    (socket.timeout, "IMAP-Server antwortet nicht (Zeitüberschreitung)"),
    (ConnectionRefusedError, "IMAP-Server nicht erreichbar (Verbindung abgelehnt)"),
    (socket.gaierror, "IMAP-Server unbekannt (Name nicht auflösbar)"),
    (IMAPClientError, "IMAP-Fehler"),
    (OSError, "IMAP-Server nicht erreichbar"),
]


class MailboxError(UnavailableError):
    """The mailbox cannot be read now; the message is one German line fit to show to a person."""


def reason(exc: BaseException) -> str:
    for kind, text in _REASONS:
        if isinstance(exc, kind):
            detail = " ".join(str(exc).split())[:200]
            return f"{text}: {detail}" if detail and kind in (IMAPClientError, OSError) else text
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def check(settings: ImapSettings) -> None:
    """Refuse settings that would send the password in clear text over a network."""
    if settings.security == "none" and settings.host not in LOOPBACK:
        raise InputError("KONTOR_IMAP_SECURITY=none ist nur für einen IMAP-Server auf diesem Rechner erlaubt "
                         "(127.0.0.1); sonst ssl oder starttls verwenden")


class Mailbox:
    """One open connection with the folder selected."""

    def __init__(self, client: IMAPClient, settings: ImapSettings, uidvalidity: int, uidnext: int = 0) -> None:
        self.client = client
        self.settings = settings
        self.uidvalidity = uidvalidity
        self.uidnext = uidnext  # the UID the next mail will get: a changed value means new mail
        self._folders: set[str] = set()

    def uids_after(self, uid: int) -> list[int]:
        """UIDs above ``uid`` (``UID n:*`` also names the last mail when none is newer: filtered)."""
        return sorted(u for u in self.client.search(["UID", f"{uid + 1}:*"]) if u > uid)

    def sizes(self, uids: list[int]) -> dict[int, int]:
        if not uids:
            return {}
        fetched = self.client.fetch(uids, ["RFC822.SIZE"])
        return {uid: int(data[b"RFC822.SIZE"]) for uid, data in fetched.items()}

    def read(self, uid: int) -> bytes | None:
        """The mail's bytes, leaving its \\Seen flag alone; None when it is gone (moved by someone else)."""
        fetched: dict[int, dict[bytes, Any]] = self.client.fetch([uid], ["BODY.PEEK[]"])
        data = fetched.get(uid, {}).get(b"BODY[]")
        return bytes(data) if data is not None else None

    def done(self, uid: int) -> None:
        """Imported: moved to the done folder, or marked as seen and kept."""
        if self.settings.done_folder:
            self.move(uid, self.settings.done_folder)
        else:
            self.client.add_flags([uid], [b"\\Seen"])

    def quarantine(self, uid: int) -> None:
        self.move(uid, self.settings.quarantine_folder)

    def move(self, uid: int, folder: str) -> None:
        self._ensure(folder)
        if self.client.has_capability("MOVE"):
            self.client.move([uid], folder)
        else:  # RFC 3501 without MOVE: copy, then delete the original
            self.client.copy([uid], folder)
            self.client.delete_messages([uid])
            self.client.uid_expunge([uid]) if self.client.has_capability("UIDPLUS") else self.client.expunge()

    def store(self, folder: str, data: bytes) -> None:
        """A copy of a message in ``folder`` (e.g. Sent), marked as seen."""
        self._ensure(folder)
        self.client.append(folder, data, flags=[b"\\Seen"])

    def wait(self, seconds: float, stopped: Callable[[], bool] = lambda: False) -> bool | None:
        """Wait up to ``seconds`` in IDLE for new mail: True when the server announced some, False after the time
        or when ``stopped()``; None when the server has no IDLE (the caller sleeps instead)."""
        if not self.client.has_capability("IDLE"):
            return None
        self.client.idle()
        try:
            deadline = time.monotonic() + seconds
            while not stopped() and (left := deadline - time.monotonic()) > 0:
                responses = self.client.idle_check(timeout=min(IDLE_SLICE_S, left))
                if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                    return True
            return False
        finally:
            self.client.idle_done()

    def _ensure(self, folder: str) -> None:
        if folder not in self._folders:
            if not self.client.folder_exists(folder):
                self.client.create_folder(folder)
            self._folders.add(folder)


@contextmanager
def connect(settings: ImapSettings, select: bool = True) -> Iterator[Mailbox]:
    """Log in, select the folder, log out at the end; every failure is a ``MailboxError``."""
    check(settings)
    try:
        password = settings.secret()
    except (OSError, UnicodeDecodeError) as exc:  # not "server unreachable": the file is what is wrong
        raise MailboxError(f"IMAP-Passwortdatei nicht lesbar ({settings.password_file}): "
                           f"{getattr(exc, 'strerror', None) or exc}") from exc
    client: IMAPClient | None = None
    try:
        context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
        client = IMAPClient(settings.host, port=settings.port, ssl=settings.security == "ssl",
                            ssl_context=context if settings.security == "ssl" else None, timeout=settings.timeout_s)
        if settings.security == "starttls":
            client.starttls(context)
        client.login(settings.user, password)
        uidvalidity = uidnext = 0
        if select:
            info = client.select_folder(settings.folder)
            uidvalidity, uidnext = int(info[b"UIDVALIDITY"]), int(info.get(b"UIDNEXT", 0))
        yield Mailbox(client, settings, uidvalidity, uidnext)
    except (IMAPClientError, OSError) as exc:  # ssl.SSLError and socket errors are OSErrors
        raise MailboxError(reason(exc)) from exc
    finally:
        if client is not None:
            with suppress(IMAPClientError, OSError):  # the connection is gone already
                client.logout()


def label(settings: ImapSettings) -> str:
    """The mailbox's name in the database and on the pages: user@host:port/folder (no password)."""
    return f"{settings.user}@{settings.host}:{settings.port}/{settings.folder}"[:300]
