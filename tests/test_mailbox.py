"""The shared mailbox against a real Dovecot IMAP server on loopback: fetching mails into tickets, each exactly once
(also after a crash between storing and flagging), quarantine, follow-ups joining their ticket, bounces and
auto-replies, the done folder, the Sent copy, and an unreachable server."""

from __future__ import annotations

import email
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient
from sqlalchemy import func, select, update

from assistant.config import ImapSettings
from assistant.mailbox import fetch
from assistant.mailbox.client import Mailbox, MailboxError, connect
from assistant.mailbox.fetch import Fetcher, FetchReport
from assistant.mailbox.poller import Poller, retry_after
from assistant.privacy import erase_customer
from assistant.services import Services
from assistant.store.tables import MailImport, OutboxMessage, Ticket, TicketMessage
from assistant.tickets.threads import conversation
from tests.fakes import FakeEmbedder, FakeLLM
from tests.harness import Kontor
from tests.imap_server import ImapServer, append, reset
from tests.imap_server import connect as imap_login
from tests.kontor_cli import kontor as cli
from tests.servers import free_port
from tests.smtp_server import recording_smtp

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7V\xbd\xfa\x00\x00\x00\x00IEND\xaeB`\x82")


def mail(body: str, subject: str = "Frage zur Pfanne", sender: str = "Renate Köhler <renate@example.org>",
         message_id: str | None = "auto", files: list[tuple[str, bytes, str]] | None = None,
         html: str | None = None, **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "service@kochwerk-lindner.de", subject
    msg["Date"] = "Thu, 03 Dec 2026 09:15:00 +0100"
    if message_id:
        msg["Message-ID"] = make_msgid(domain="example.org") if message_id == "auto" else message_id
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    if html is not None:
        msg.set_content(html, subtype="html")
    else:
        msg.set_content(body)
    for name, data, kind in files or []:
        maintype, subtype = kind.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


@pytest.fixture
def box(imap_server: ImapServer) -> Iterator[ImapServer]:
    """The session's server with an empty mailbox for each test."""
    reset(imap_server)
    yield imap_server


def settings_for(server: ImapServer, **more: Any) -> dict[str, Any]:
    return {"imap_host": server.host, "imap_port": server.port, "imap_user": server.user,
            "imap_password": server.password, "imap_security": "none", **more}


@pytest.fixture
def office(tmp_path: Path, knowledge: Path, box: ImapServer) -> Kontor:
    return Kontor(tmp_path, knowledge, **settings_for(box))


def flags_of(server: ImapServer, folder: str = "INBOX") -> dict[int, set[bytes]]:
    with IMAPClient(server.host, port=server.port, ssl=False) as client:
        client.login(server.user, server.password)
        client.select_folder(folder, readonly=True)
        return {uid: set(data[b"FLAGS"]) for uid, data in client.fetch(client.search("ALL"), ["FLAGS"]).items()}


def tickets(office: Kontor) -> list[Ticket]:
    with office.services.database.session() as session:
        return list(session.scalars(select(Ticket).order_by(Ticket.id)))


def test_fetch_makes_tickets_once_and_marks_the_mails_seen(office: Kontor, box: ImapServer) -> None:
    append(box, mail("Guten Tag,\nist die Pfanne induktionsgeeignet?\nGrüße\nRenate Köhler",
                     files=[("foto.png", PNG, "image/png")]))
    append(box, mail("", html="<p>Hallo,</p><p>wie lange dauert der <b>Versand</b>?</p>", subject="Versand",
                     sender="tom@example.org"))
    append(box, mail("Kein Message-ID-Kopf, trotzdem eine Frage?", message_id=None, sender="ohne@example.org"))

    report = office.services.fetcher.fetch_once()

    assert report.outcomes == {"ticket": 3}
    rows = tickets(office)
    assert [t.channel for t in rows] == ["email"] * 3
    assert rows[1].body.split() == ["Hallo,", "wie", "lange", "dauert", "der", "Versand", "?"] or \
        "wie lange dauert der Versand?" in rows[1].body
    assert rows[2].message_id and rows[2].message_id.startswith("<imap-")  # made from UIDVALIDITY and UID
    assert office.call("GET", f"/api/tickets/{rows[0].id}/attachments").json()[0]["name"] == "foto.png"
    assert all(b"\\Seen" in flags for flags in flags_of(box).values())  # kept in the inbox, marked as seen
    assert office.services.fetcher.fetch_once().outcomes == {}  # nothing twice
    assert len(tickets(office)) == 3
    status = office.services.fetcher.status()
    assert status.last_success_at is not None and not status.failing and status.imported == 3


class Crash(Exception):
    pass


def crashing_between_import_and_flag() -> Any:
    """An opener whose mailbox dies when it is about to flag the first mail (the process's death, as far as the
    mailbox and the database can tell)."""

    @contextmanager
    def opener(settings: ImapSettings) -> Iterator[Mailbox]:
        with connect(settings) as real:
            def done(uid: int) -> None:
                raise Crash("the process died here")
            real.done = done  # type: ignore[method-assign]
            yield real

    return opener


def test_a_crash_between_storing_and_flagging_imports_nothing_twice(office: Kontor, box: ImapServer) -> None:
    append(box, mail("Erste Frage: gibt es Ersatzdeckel?"))
    append(box, mail("Zweite Frage ohne Message-ID: gibt es Ersatzgriffe?", message_id=None))
    crashing = Fetcher(office.services.database, office.services.intake, office.settings.imap,
                       opener=crashing_between_import_and_flag())
    with pytest.raises(Crash):
        crashing.fetch_once()
    assert len(tickets(office)) == 1  # the first mail was stored, its flag was never set
    assert not any(b"\\Seen" in f for f in flags_of(box).values())

    report = office.services.fetcher.fetch_once()  # the next run (after the restart)

    assert len(tickets(office)) == 2
    assert report.outcomes == {"ticket": 1}  # the first one was only flagged now
    assert all(b"\\Seen" in f for f in flags_of(box).values())
    with office.services.database.session() as session:
        assert session.scalar(select(func.count()).select_from(MailImport).where(~MailImport.done)) == 0
        # a crash after the ticket was stored but before its row said so: the mail is read again …
        session.execute(update(MailImport).values(outcome="pending", done=False))
    with IMAPClient(box.host, port=box.port, ssl=False) as client:
        client.login(box.user, box.password)
        client.select_folder("INBOX")
        client.remove_flags(client.search("ALL"), [b"\\Seen"])

    again = office.services.fetcher.fetch_once()

    assert again.outcomes == {"duplicate": 2}  # … and found by its Message-ID, also the one made for it
    assert len(tickets(office)) == 2


def test_an_unreadable_mail_goes_to_quarantine_and_does_not_block_the_rest(office: Kontor, box: ImapServer) -> None:
    append(box, b"Subject: kein Absender\r\n\r\nNur Text, kein From-Kopf.\r\n")
    append(box, mail("Eine gute Frage: liefern Sie nach Österreich?"))

    report = office.services.fetcher.fetch_once()

    assert report.outcomes == {"quarantined": 1, "ticket": 1}
    assert "Absender fehlt" in report.quarantined[0]
    assert len(flags_of(box)) == 1  # the unreadable one was moved out of the inbox …
    assert len(flags_of(box, office.settings.imap.quarantine_folder)) == 1  # … into quarantine, not lost
    assert len(tickets(office)) == 1
    entries = office.call("GET", "/api/audit", role="admin").json()
    assert any(e["action"] == "mail_quarantined" for e in entries)


class ParserBug(Exception):
    """Nothing the fetcher knows: not a KontorError, ValueError or LookupError."""


def test_a_mail_the_parser_fails_on_unexpectedly_goes_to_quarantine_and_the_rest_is_imported(
        office: Kontor, box: ImapServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    append(box, mail("Erste Frage: gibt es Ersatzdeckel?"))
    bad = append(box, mail("Kaputt-Marker: an dieser Mail scheitert der Parser."))
    append(box, mail("Dritte Frage: gibt es Ersatzgriffe?"))
    parse = fetch.parse_mail

    def parse_mail(data: bytes) -> EmailMessage:
        if b"Kaputt-Marker" in data:
            raise ParserBug("unerwartet im Parser")
        return parse(data)

    monkeypatch.setattr(fetch, "parse_mail", parse_mail)

    with caplog.at_level(logging.WARNING, logger="kontor.mailbox"):
        report = office.services.fetcher.fetch_once()

    assert report.outcomes == {"ticket": 2, "quarantined": 1}
    assert report.quarantined == [f"UID {bad}: ParserBug: unerwartet im Parser"]
    assert [t.body for t in tickets(office)] == ["Erste Frage: gibt es Ersatzdeckel?",
                                                 "Dritte Frage: gibt es Ersatzgriffe?"]
    assert len(flags_of(box)) == 2 and len(flags_of(box, office.settings.imap.quarantine_folder)) == 1
    logged = [r for r in caplog.records if "quarantined" in r.getMessage()]
    assert len(logged) == 1 and f"UID {bad}" in logged[0].getMessage() and logged[0].exc_info is not None
    assert not office.services.fetcher.status().failing
    assert office.services.fetcher.fetch_once().outcomes == {}  # not tried again first next time: it is done


def test_two_watchers_fetching_the_same_mailbox_at_once_make_each_mail_one_ticket(
        office: Kontor, box: ImapServer) -> None:
    """The web process and a worker (here: two Services on one database, as two processes would be) fetch the same
    Dovecot mailbox at the same moment, once with the same settings (the mail's row is the claim) and once with
    the host spelled differently (two claims: the unique Message-ID keeps the second ticket out)."""
    count = 12
    ids = [make_msgid(domain="example.org") for _ in range(count)]
    for n, message_id in enumerate(ids):
        append(box, mail(f"Frage Nummer {n}: gibt es die Pfanne in {20 + n} cm?", message_id=message_id))
    other = office.settings.model_copy(update={"imap": office.settings.imap.model_copy(update={"host": "localhost"})})
    fetchers = [office.services.fetcher,
                Services(office.settings, llm=FakeLLM(), embedder=FakeEmbedder()).fetcher,
                Services(other, llm=FakeLLM(), embedder=FakeEmbedder()).fetcher]

    def race(pair: list[Fetcher]) -> list[FetchReport]:
        start = threading.Barrier(len(pair))
        reports: list[FetchReport] = []
        errors: list[BaseException] = []

        def run(fetcher: Fetcher) -> None:
            start.wait()
            try:
                reports.append(fetcher.fetch_once())
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(f,)) for f in pair]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == [] and len(reports) == len(pair)
        return reports

    same = race(fetchers[:2])
    assert sum(r.outcomes.get("ticket", 0) for r in same) == count  # each counted once, by the one that read it
    assert all(set(r.outcomes) <= {"ticket"} and not r.quarantined for r in same)

    assert [b"\\Seen" in f for f in flags_of(box).values()] == [True] * count

    reset(box)  # again, as new mail: now the claims differ (another mailbox label), both start on the same mail
    for n in range(count):
        append(box, mail(f"Zweite Runde {n}: gibt es Ersatzdeckel für {20 + n} cm?", message_id=f"<zwei-{n}@x.org>"))
    both = race([fetchers[0], fetchers[2]])
    assert sum(r.outcomes.get("ticket", 0) for r in both) == count
    assert sum(r.outcomes.get("duplicate", 0) for r in both) == count  # the other one's reading of each mail
    assert all(set(r.outcomes) <= {"ticket", "duplicate"} and not r.quarantined for r in both)

    rows = tickets(office)
    assert len(rows) == 2 * count and len({t.message_id for t in rows}) == 2 * count
    assert {t.message_id for t in rows} >= set(ids)
    for fetcher in fetchers:
        status = fetcher.status()
        assert status.last_error is None and not status.failing and status.failures == 0
    assert [b"\\Seen" in f for f in flags_of(box).values()] == [True] * count
    with office.services.database.session() as session:
        assert session.scalar(select(func.count()).select_from(MailImport).where(~MailImport.done)) == 0


def test_the_done_folder_takes_imported_mails(tmp_path: Path, knowledge: Path, box: ImapServer) -> None:
    office = Kontor(tmp_path, knowledge, **settings_for(box, imap_done_folder="Kontor/Erledigt"))
    append(box, mail("Haben Sie die Pfanne in 32 cm?"))
    assert office.services.fetcher.fetch_once().outcomes == {"ticket": 1}
    assert flags_of(box) == {}
    assert len(flags_of(box, "Kontor/Erledigt")) == 1


def sent_answer(office: Kontor) -> tuple[Ticket, OutboxMessage]:
    """A ticket from the mailbox, answered and delivered."""
    ticket = tickets(office)[-1]
    office.services.jobs.run_until_idle()
    draft = office.call("GET", f"/api/tickets/{ticket.id}").json()["draft"]
    if not draft["text"].strip():  # a hand-over: a person writes the answer
        office.call("PUT", f"/api/drafts/{draft['id']}", json={"text": "Guten Tag, 3 bis 5 Werktage."})
    assert office.call("POST", f"/api/drafts/{draft['id']}/approve").status_code == 200
    sent = office.call("POST", f"/api/drafts/{draft['id']}/send")
    assert sent.status_code == 200, sent.text
    rows = [r for r in office.outbox_rows() if r.ticket_id == ticket.id]
    return ticket, rows[-1]


def test_a_reply_joins_its_ticket_reopens_it_and_is_drafted_again(office: Kontor, box: ImapServer) -> None:
    first = make_msgid(domain="example.org")
    append(box, mail("Guten Tag, wie lange dauert der Versand nach Österreich?", message_id=first))
    office.services.fetcher.fetch_once()
    ticket, answer = sent_answer(office)
    append(box, mail("Danke! Und was kostet der Versand in die Schweiz?", subject=f"Re: {answer.subject}",
                     In_Reply_To=answer.message_id, References=f"{first} {answer.message_id}"))
    append(box, mail("Noch etwas: gibt es Ersatzdeckel?", subject=f"AW: Frage zur Pfanne [#{ticket.id}]",
                     message_id=None))  # no references, the ticket number and the same address
    append(box, mail(f"Ich bin jemand anderes [#{ticket.id}]", subject=f"Re: [#{ticket.id}]",
                     sender="fremd@example.com"))  # the number alone from a stranger: a new ticket

    report = office.services.fetcher.fetch_once()

    assert report.outcomes == {"joined": 2, "ticket": 1}
    assert len(tickets(office)) == 2
    with office.services.database.session() as session:
        row = session.get(Ticket, ticket.id)
        assert row is not None and row.status == "new"  # reopened, drafted again
        kinds = [e.kind for e in conversation(session, row)]
        assert kinds == ["customer", "answer", "customer", "customer"]
        assert session.scalar(select(func.count()).select_from(TicketMessage)) == 2
    assert office.services.jobs.run_until_idle() >= 1
    view = office.call("GET", f"/api/tickets/{ticket.id}").json()
    assert view["status"] in ("drafted", "needs_human")
    assert any("neueste Nachricht" in note for note in view["draft"]["notes"])


def test_an_out_of_office_reply_makes_no_ticket(office: Kontor, box: ImapServer) -> None:
    append(box, mail("Ich bin bis zum 10.12. nicht im Büro.", subject="Abwesenheitsnotiz: Ihre Anfrage",
                     Auto_Submitted="auto-replied"))
    assert office.services.fetcher.fetch_once().outcomes == {"auto_reply": 1}
    assert tickets(office) == []


def test_a_bounce_marks_the_sent_answer_and_brings_the_ticket_back(office: Kontor, box: ImapServer) -> None:
    append(box, mail("Wie lange dauert der Versand nach Österreich?", sender="tippfehler@example.org"))
    office.services.fetcher.fetch_once()
    ticket, answer = sent_answer(office)
    append(box, dsn(answer.message_id, "tippfehler@example.org"))

    assert office.services.fetcher.fetch_once().outcomes == {"bounce": 1}

    with office.services.database.session() as session:
        row = session.get(OutboxMessage, answer.id)
        assert row is not None and row.status == "bounced" and "5.1.1" in (row.last_error or "")
        again = session.get(Ticket, ticket.id)
        assert again is not None and again.status == "drafted"
    view = office.call("GET", f"/api/tickets/{ticket.id}").json()
    assert any("unzustellbar" in note for note in view["draft"]["notes"])
    assert len(tickets(office)) == 1


def dsn(message_id: str, recipient: str) -> bytes:
    """A delivery status notification as Postfix writes it."""
    boundary = "8A3C1E0A2B.1733300000/mail.example.org"
    return (
        "From: MAILER-DAEMON@mail.example.org (Mail Delivery System)\r\n"
        "To: kundenservice@kochwerk-lindner.de\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {make_msgid(domain='mail.example.org')}\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mail.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: Kochwerk Lindner <kundenservice@kochwerk-lindner.de>\r\nTo: {recipient}\r\n"
        f"Subject: Re: Frage zur Pfanne\r\nMessage-ID: {message_id}\r\n\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def test_a_copy_of_a_sent_answer_lands_in_the_sent_folder(tmp_path: Path, knowledge: Path, box: ImapServer) -> None:
    office = Kontor(tmp_path, knowledge, **settings_for(box, imap_sent_folder="Gesendet"))
    append(box, mail("Wie lange dauert der Versand nach Österreich?"))
    office.services.fetcher.fetch_once()
    _, answer = sent_answer(office)
    with IMAPClient(box.host, port=box.port, ssl=False) as client:
        client.login(box.user, box.password)
        client.select_folder("Gesendet", readonly=True)
        stored = client.fetch(client.search("ALL"), ["FLAGS", "BODY.PEEK[]"])
    assert [b"\\Seen" in data[b"FLAGS"] for data in stored.values()] == [True]
    copy = next(iter(stored.values()))[b"BODY[]"]
    assert copy == office.outbox_files()[0].read_bytes().replace(b"\n", b"\r\n")  # exactly what was delivered
    assert answer.message_id.encode() in copy


def test_an_unreachable_server_is_a_clear_error_and_loses_nothing(tmp_path: Path, knowledge: Path,
                                                                  box: ImapServer) -> None:
    down = Kontor(tmp_path, knowledge, **settings_for(box, imap_port=free_port(), imap_timeout_s=3))
    append(box, mail("Bleibt im Postfach, bis der Server erreichbar ist."))
    with pytest.raises(MailboxError, match="IMAP-Server nicht erreichbar"):
        down.services.fetcher.fetch_once()
    status = down.services.fetcher.status()
    assert status.failing and "nicht erreichbar" in (status.last_error or "") and status.failures == 1
    assert len(flags_of(box)) == 1 and tickets(down) == []
    health = down.call("GET", "/api/health", role="").json()
    assert health["mailbox"]["last_error"] == status.last_error
    assert [retry_after(n, 60) for n in (1, 2, 3, 6, 20)] == [30, 60, 120, 600, 600]  # backoff, capped


class Outage:
    """An opener for a mailbox that is down until ``back()``: until then every connection goes to a closed port
    (refused, as when Dovecot is stopped), afterwards to the real server. Records when it was tried."""

    def __init__(self, server: ImapServer, settings: ImapSettings) -> None:
        self.up = settings.model_copy(update={"port": server.port})
        self.target = settings.model_copy(update={"port": free_port()})
        self.tries: list[float] = []

    def back(self) -> None:
        self.target = self.up

    @contextmanager
    def __call__(self, settings: ImapSettings) -> Iterator[Mailbox]:
        self.tries.append(time.monotonic())
        with connect(self.target) as mailbox:
            yield mailbox


def test_the_watcher_retries_with_backoff_and_imports_the_waiting_mail_once_the_server_is_back(
        tmp_path: Path, knowledge: Path, box: ImapServer) -> None:
    down = Kontor(tmp_path, knowledge, **settings_for(box, imap_port=free_port(), imap_timeout_s=3))
    append(box, mail("Wartet im Postfach: gibt es die Pfanne auch in Rot?"))
    outage = Outage(box, down.settings.imap)
    fetcher = Fetcher(down.services.database, down.services.intake, down.settings.imap, opener=outage)
    first = 0.2
    poller = Poller(fetcher, interval=first, first_retry=first)  # backoff 0.2 s, 0.4 s, 0.8 s … at most 2 s
    poller.start()
    try:
        assert wait_until(lambda: len(outage.tries) >= 4)
        status = fetcher.status()
        assert status.failing and status.failures >= 3 and "nicht erreichbar" in (status.last_error or "")
        health = down.call("GET", "/api/health", role="").json()["mailbox"]
        assert health["failing"] and health["last_error"] == status.last_error
        gaps = [later - earlier for earlier, later in pairwise(outage.tries)][:3]
        expected = [retry_after(n, first, first) for n in (1, 2, 3)]
        assert expected == [0.2, 0.4, 0.8]
        assert all(gap >= want * 0.9 for gap, want in zip(gaps, expected, strict=True)), gaps  # waits longer …
        assert gaps[2] > gaps[0] * 2  # … each time
        assert tickets(down) == [] and len(flags_of(box)) == 1  # nothing read, nothing lost

        outage.back()  # the server is reachable again

        assert wait_until(lambda: len(tickets(down)) == 1, 10), "the waiting mail was not imported"
        assert wait_until(lambda: not fetcher.status().failing, 5)
    finally:
        poller.stop()
    status = fetcher.status()
    assert status.failures == 0 and status.imported == 1 and poller.failures == 0
    assert status.last_success_at is not None and status.last_error_at is not None
    assert status.last_success_at > status.last_error_at  # the error is history: no longer shown as current
    assert not down.call("GET", "/api/health", role="").json()["mailbox"]["failing"]
    assert [b"\\Seen" in f for f in flags_of(box).values()] == [True]
    assert tickets(down)[0].body.startswith("Wartet im Postfach")


def test_the_password_can_come_from_a_file(tmp_path: Path, knowledge: Path, box: ImapServer,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "imap-passwort"
    secret.write_text(f"{box.password}\n", encoding="utf-8")
    secret.chmod(0o600)
    monkeypatch.setenv("KONTOR_IMAP_PASSWORD_FILE", str(secret))
    settings = {k: v for k, v in settings_for(box).items() if k != "imap_password"}
    office = Kontor(tmp_path, knowledge, **settings)
    assert office.settings.imap.password == "" and office.settings.imap.password_file == secret
    append(box, mail("Mit dem Passwort aus der Datei: gibt es Ersatzgriffe?"))

    assert office.services.fetcher.fetch_once().outcomes == {"ticket": 1}

    secret.write_text("falsch\n", encoding="utf-8")
    with pytest.raises(MailboxError, match="IMAP-Anmeldung fehlgeschlagen"):
        office.services.fetcher.fetch_once()
    secret.unlink()
    with pytest.raises(MailboxError, match="IMAP-Passwortdatei nicht lesbar"):
        office.services.fetcher.fetch_once()
    assert "Passwortdatei" in (office.services.fetcher.status().last_error or "")


def uidvalidity(server: ImapServer, folder: str) -> int:
    client = imap_login(server)
    try:
        return int(client.select_folder(folder, readonly=True)[b"UIDVALIDITY"])
    finally:
        client.logout()


def test_mails_seen_again_under_a_new_uidvalidity_are_not_imported_twice(tmp_path: Path, knowledge: Path,
                                                                         box: ImapServer) -> None:
    """A folder rebuilt on the server (restored from a backup, the server migrated) numbers its mails anew and says
    so with a new UIDVALIDITY: every mail looks new by its UID, and the Message-ID keeps it from a second ticket."""
    office = Kontor(tmp_path, knowledge, **settings_for(box, imap_folder="Kunden"))
    old = [mail("Erste: gibt es Ersatzdeckel?"), mail("Zweite: gibt es Ersatzgriffe?")]

    def fill(raws: list[bytes]) -> int:
        client = imap_login(box)
        try:
            if client.folder_exists("Kunden"):
                client.delete_folder("Kunden")
            client.create_folder("Kunden")
        finally:
            client.logout()
        for raw in raws:
            append(box, raw, folder="Kunden")
        return uidvalidity(box, "Kunden")

    before = fill(old)
    assert office.services.fetcher.fetch_once().outcomes == {"ticket": 2}
    after = fill([*old, mail("Neu nach dem Umzug: liefern Sie nach Wien?")])
    assert after != before  # the server numbered the folder anew

    assert office.services.fetcher.fetch_once().outcomes == {"duplicate": 2, "ticket": 1}

    assert [t.body.split(":")[0] for t in tickets(office)] == ["Erste", "Zweite", "Neu nach dem Umzug"]
    with office.services.database.session() as session:
        seen = session.execute(select(MailImport.uidvalidity, func.count()).group_by(MailImport.uidvalidity)).all()
    assert sorted(seen) == sorted([(before, 2), (after, 3)])
    assert office.services.fetcher.fetch_once().outcomes == {}


def test_security_none_is_refused_off_loopback(tmp_path: Path, knowledge: Path) -> None:
    remote = Kontor(tmp_path, knowledge, imap_host="mail.example.org", imap_user="u", imap_password="p",
                    imap_security="none")
    with pytest.raises(Exception, match="nur für einen IMAP-Server auf diesem Rechner"):
        remote.services.fetcher.fetch_once()


def wait_until(condition: Any, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_the_watcher_takes_new_mail_at_once_through_idle_and_stops_quickly(office: Kontor, box: ImapServer) -> None:
    poller = Poller(office.services.fetcher, interval=300)  # without IDLE, the mail would wait five minutes
    poller.start()
    try:
        assert wait_until(lambda: office.services.fetcher.status().last_success_at is not None)
        append(box, mail("Kommt sofort an: haben Sie die Pfanne in 28 cm?"))
        assert wait_until(lambda: len(tickets(office)) == 1), "IDLE did not wake the watcher"
    finally:
        started = time.monotonic()
        poller.stop()
        assert time.monotonic() - started < 5


def test_kontor_mail_fetch_and_status(office: Kontor, box: ImapServer) -> None:
    env = {"KONTOR_HOME": str(office.settings.home), "KONTOR_IMAP_HOST": box.host, "KONTOR_IMAP_PORT": str(box.port),
           "KONTOR_IMAP_USER": box.user, "KONTOR_IMAP_PASSWORD": box.password, "KONTOR_IMAP_SECURITY": "none"}
    append(box, mail("Gibt es Ersatzgriffe?"))
    append(box, b"Subject: kaputt\r\n\r\nkein Absender\r\n")

    fetched = cli(env, "mail", "fetch")

    assert fetched.code == 0, fetched.stderr
    assert "1 neue Tickets" in fetched.stdout and "1 in Quarantäne" in fetched.stdout
    assert "Absender fehlt" in fetched.stderr
    assert cli(env, "mail", "status").code == 0
    down = cli({**env, "KONTOR_IMAP_PORT": str(free_port())}, "mail", "fetch")
    assert down.code == 1 and down.stderr.splitlines()[-1] == "Fehler: IMAP-Server nicht erreichbar (Verbindung " \
        "abgelehnt)"
    assert cli({**env, "KONTOR_IMAP_PORT": str(free_port())}, "mail", "status").code == 0  # the last fetch failed …
    unset = cli({"KONTOR_HOME": str(office.settings.home)}, "mail", "fetch")
    assert unset.code == 1 and "Kein Postfach eingerichtet" in unset.stderr


def test_erasing_the_customer_takes_the_follow_ups_and_the_mailbox_rows(office: Kontor, box: ImapServer) -> None:
    first = make_msgid(domain="example.org")
    append(box, mail("Kanarienvogel-Frage eins: liefern Sie nach Wien?", message_id=first))
    office.services.fetcher.fetch_once()
    append(box, mail("Kanarienvogel-Frage zwei: und nach Graz?", In_Reply_To=first))
    assert office.services.fetcher.fetch_once().outcomes == {"joined": 1}

    erase_customer(office.services.privacy_parts(), "renate@example.org", "adam")

    with office.services.database.session() as session:
        assert session.scalar(select(func.count()).select_from(TicketMessage)) == 0
        assert session.scalar(select(func.count()).select_from(MailImport)) == 0
        assert tickets(office) == []
    assert b"Kanarienvogel" not in (office.settings.home / "kontor.db").read_bytes()


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_the_mailbox_over_tls_checks_the_certificate(tmp_path: Path, knowledge: Path, box: ImapServer,
                                                     security: str) -> None:
    port = box.tls_port if security == "ssl" else box.port
    append(box, mail("Über TLS: liefern Sie auch nach Südtirol?"))
    trusting = Kontor(tmp_path / "a", knowledge, **settings_for(box, imap_security=security, imap_port=port,
                                                                 imap_ca_file=str(box.ca_file)))
    assert trusting.services.fetcher.fetch_once().outcomes == {"ticket": 1}
    strict = Kontor(tmp_path / "b", knowledge, **settings_for(box, imap_security=security, imap_port=port))
    with pytest.raises(MailboxError, match="TLS-Verbindung zum IMAP-Server fehlgeschlagen"):
        strict.services.fetcher.fetch_once()  # a self-signed certificate the system does not trust


def test_a_customer_writes_gets_an_answer_by_smtp_and_the_reply_threads_back(tmp_path: Path, knowledge: Path,
                                                                              box: ImapServer) -> None:
    """The whole way with real servers: Dovecot → ticket → answer through SMTP (aiosmtpd) and a copy in Sent →
    the customer's mail program answers that mail → the answer joins the same ticket."""
    with recording_smtp() as (recorder, port):
        office = Kontor(tmp_path, knowledge, **settings_for(box, imap_sent_folder="Sent"), outbox_backend="smtp",
                        smtp_host="127.0.0.1", smtp_port=port)
        append(box, mail("Guten Tag, wie lange dauert der Versand nach Österreich?", subject="Versand Österreich"))
        office.services.fetcher.fetch_once()
        ticket, _ = sent_answer(office)
        sent = email.message_from_bytes(recorder.envelopes[-1].content, policy=policy.default)
        assert str(sent["Subject"]) == f"Re: Versand Österreich [#{ticket.id}]"
        assert sent["In-Reply-To"] == ticket.message_id
        assert len(flags_of(box, "Sent")) == 1

        append(box, mail("Danke! Und in die Schweiz?", subject=f"AW: {sent['Subject']}",
                         In_Reply_To=str(sent["Message-ID"]), References=f"{sent['References']} {sent['Message-ID']}"))
        assert office.services.fetcher.fetch_once().outcomes == {"joined": 1}
    with office.services.database.session() as session:
        row = session.get(Ticket, ticket.id)
        assert row is not None and row.status == "new"
        assert [e.kind for e in conversation(session, row)] == ["customer", "answer", "customer"]
