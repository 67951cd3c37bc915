"""The shared mailbox: import throughput from a real Dovecot IMAP server, and the time from a mail's arrival in the
mailbox to a ready draft.

1. Throughput: N mails (default 1,000), each with a photo attachment (~30 KB), appended to a throwaway Dovecot on
   loopback (tests/imap_server.py), fetched by `Fetcher.fetch_once` into a fresh SQLite Kontor. Reference in the
   same run: the same mails read from .eml files in a folder (`kontor tickets import`'s path), so the ratio is the
   mailbox's own cost (IMAP round trips, flags, bookkeeping per mail).
2. Arrival to draft: the real `kontor serve` (embedded model, worker, the mailbox watcher with IDLE) on the demo
   company; three demo mails appended one after another; from the append to the ticket (IDLE + import) and to the
   ready draft (+ categorising and drafting on the embedded model).

Usage: .venv/bin/python bench/mailbox_import.py [--mails 1000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.config import PROJECT_ROOT, Settings  # noqa: E402
from assistant.services import Services  # noqa: E402
from bench.common import append_results, table  # noqa: E402
from bench.ticket_flow import KONTOR, free_port, kontor, wait_until_up  # noqa: E402
from tests.imap_server import ImapServer, connect, dovecot_server, reset  # noqa: E402

QUESTIONS = ["Ist die Pfanne induktionsgeeignet?", "Wie lange dauert der Versand nach Österreich?",
             "Kann ich die Rechnungsadresse noch ändern?", "Die Pfanne kam zerkratzt an, was nun?"]


def photo(n: int) -> bytes:
    """A JPEG-like file of ~30 KB (the type is read from its first bytes; the content is not decoded here)."""
    return b"\xff\xd8\xff\xe0" + bytes((n + i) % 251 for i in range(30_000))


def mail(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Kunde {n} <kunde{n}@example.org>"
    msg["To"], msg["Subject"] = "service@kochwerk-lindner.de", f"Anfrage {n}"
    msg["Message-ID"] = make_msgid(domain="example.org")
    msg["Date"] = "Thu, 03 Dec 2026 09:15:00 +0100"
    msg.set_content(f"Guten Tag,\n{QUESTIONS[n % len(QUESTIONS)]}\nFoto anbei.\n\nViele Grüße\nKunde {n}\n")
    msg.add_attachment(photo(n), maintype="image", subtype="jpeg", filename=f"foto-{n}.jpg")
    return msg.as_bytes()


def fill(server: ImapServer, mails: list[bytes]) -> float:
    started = time.perf_counter()
    client = connect(server, timeout=60)
    try:
        for data in mails:
            client.append("INBOX", data)
    finally:
        client.logout()
    return time.perf_counter() - started


def imap_settings(server: ImapServer) -> dict[str, object]:
    return {"imap_host": server.host, "imap_port": server.port, "imap_user": server.user,
            "imap_password": server.password, "imap_security": "none"}


def throughput(server: ImapServer, count: int) -> list[list[str]]:
    mails = [mail(n) for n in range(count)]
    with tempfile.TemporaryDirectory(prefix="kontor-bench-mail-") as tmp:
        folder = Path(tmp) / "eml"
        folder.mkdir()
        for n, data in enumerate(mails):
            (folder / f"{n:05d}.eml").write_bytes(data)
        files = Services(Settings(home=Path(tmp) / "files", run_worker=False))
        started = time.perf_counter()
        report = files.intake.import_dir(folder)
        from_files = time.perf_counter() - started
        assert len(report.imported) == count, report.failed

        reset(server)
        appended = fill(server, mails)
        box = Services(Settings(home=Path(tmp) / "imap", run_worker=False, **imap_settings(server)))
        started = time.perf_counter()
        fetched = box.fetcher.fetch_once()
        from_imap = time.perf_counter() - started
        assert fetched.imported == count, fetched.outcomes
        started = time.perf_counter()
        again = box.fetcher.fetch_once()
        nothing_new = time.perf_counter() - started
        assert again.imported == 0
    return [
        [f"{count} mails from .eml files (reference)", f"{from_files:.1f} s", f"{count / from_files:.0f}", "1.00"],
        [f"{count} mails from Dovecot (IMAP, marked seen)", f"{from_imap:.1f} s", f"{count / from_imap:.0f}",
         f"{from_imap / from_files:.2f}"],
        [f"fetch again, nothing new ({count} mails in the inbox)", f"{nothing_new * 1000:.0f} ms", "–", "–"],
        [f"appending the {count} mails to Dovecot (test setup)", f"{appended:.1f} s", f"{count / appended:.0f}",
         "–"],
    ]


def arrival_to_draft(server: ImapServer, rounds: int = 3) -> list[list[str]]:
    reset(server)
    home = Path(tempfile.mkdtemp(prefix="kontor-bench-mail-serve-"))
    kontor(home, "ingest")
    kontor(home, "users", "add", "bench", "--role", "admin")
    headers = {"Authorization": "Bearer " + kontor(home, "tokens", "create", "bench").strip()}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "KONTOR_HOME": str(home), "HF_HUB_OFFLINE": "1",
           **{f"KONTOR_{k.upper()}": str(v) for k, v in imap_settings(server).items()}, "KONTOR_IMAP_INTERVAL": "300"}
    server_process = subprocess.Popen([*KONTOR, "serve", "--port", str(port)], env=env, cwd=PROJECT_ROOT,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    to_ticket, to_draft = [], []
    try:
        wait_until_up(base)
        for n in range(rounds + 1):  # the first round loads the model: not counted
            data = mail(10_000 + n)
            started = time.monotonic()
            fill(server, [data])
            ticket_at = draft_at = None
            while draft_at is None and time.monotonic() - started < 900:
                rows = httpx.get(f"{base}/api/tickets?limit=50", headers=headers).json()
                mine = [t for t in rows if t["subject"] == f"Anfrage {10_000 + n}"]
                if mine and ticket_at is None:
                    ticket_at = time.monotonic() - started
                if mine and mine[0]["status"] not in ("new",):
                    draft_at = time.monotonic() - started
                time.sleep(0.05)
            if n and ticket_at is not None and draft_at is not None:
                to_ticket.append(ticket_at)
                to_draft.append(draft_at)
    finally:
        server_process.terminate()
        server_process.wait(timeout=60)
    return [
        ["arrival → ticket (IDLE wakes the watcher; interval 300 s)", f"{statistics.median(to_ticket):.2f} s",
         f"{max(to_ticket):.2f} s"],
        ["arrival → ready draft (embedded model, warm)", f"{statistics.median(to_draft):.1f} s",
         f"{max(to_draft):.1f} s"],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=1000)
    args = parser.parse_args()
    with dovecot_server() as server:
        speed = table(["import", "time", "mails/s", "time vs files"], throughput(server, args.mails))
        latency = table(["one mail at a time (3 rounds after a warm-up)", "median", "slowest"],
                        arrival_to_draft(server))
    body = f"{speed}\n\n{latency}\n\nEach mail ~31 KB (text + one 30 KB photo attachment, stored and listed)."
    print(body)
    append_results("Shared mailbox: IMAP import throughput, arrival to draft",
                   f"python bench/mailbox_import.py --mails {args.mails}", body)


if __name__ == "__main__":
    main()
