"""`kontor worker`: drafting and delivery (and the shared mailbox) without the web server — one or more per
database, on this host or others (the queue hands each job to one worker; assistant/jobs.py)."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Annotated

import typer

from assistant.cli.common import app, err, services
from assistant.logs import setup_logging


@app.command()
def worker(
    threads: Annotated[int, typer.Option(min=1, max=16, help="Aufgaben gleichzeitig (je ein Modell im Speicher)")] = 1,
    mail: Annotated[bool, typer.Option("--mail/--no-mail", help="auch das Postfach abrufen, wenn eingerichtet")] = True,
) -> None:
    """Aufgaben abarbeiten, bis SIGTERM oder Strg+C kommt: Entwürfe schreiben, Post zustellen, Postfach abrufen.
    Beim Beenden wird eine laufende Aufgabe bis zu 10 s fertig gemacht, sonst an die Warteschlange zurückgegeben."""
    s = services()
    setup_logging(s.settings.log_dir)
    stop = threading.Event()

    def ask_to_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, ask_to_stop)
    poller = s.mail_poller if mail and s.settings.imap.configured else None
    s.jobs.start(threads=threads)
    if poller is not None:
        poller.start()
    err.print(f"Kontor-Worker läuft ({threads} gleichzeitig{', mit Postfach' if poller else ''}); "
              f"Daten: {s.settings.home}. Beenden mit Strg+C.")
    stop.wait()
    if poller is not None:
        poller.stop(timeout=5)
    given_back = s.jobs.stop(grace_s=10)
    back = f" An die Warteschlange zurückgegeben: {len(given_back)} Aufgabe(n)." if given_back else ""
    err.print("Beendet." + back)
