"""`kontor worker`: drafting and delivery (and, in one of them, the shared mailbox) without the web server — one or
more per database, on this host or others (the queue hands each job to one worker; assistant/jobs.py)."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Annotated

import typer

from assistant import jobs
from assistant.cli.common import app, err, services
from assistant.logs import setup_logging


@app.command()
def worker(
    threads: Annotated[int, typer.Option(min=1, max=16, help="Aufgaben gleichzeitig (je ein Modell im Speicher)")] = 1,
    mail: Annotated[bool | None, typer.Option(
        "--mail/--no-mail", help="das Postfach abrufen (wenn eingerichtet); ohne Angabe: KONTOR_MAIL_WATCH. Nur ein "
        "Prozess je Installation sollte es tun", show_default=False)] = None,
) -> None:
    """Aufgaben abarbeiten, bis SIGTERM oder Strg+C kommt: Entwürfe schreiben, Post zustellen, Postfach abrufen.
    Beim Beenden wird keine Aufgabe mehr angenommen; eine laufende wird bis zu 8 s fertig gemacht, sonst an die
    Warteschlange zurückgegeben – nach spätestens 10 s ist der Prozess beendet."""
    s = services()
    setup_logging(s.settings.log_dir)
    stop = threading.Event()

    def ask_to_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()  # only this in the handler; the main thread stops claiming the moment it wakes

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, ask_to_stop)
    watch = s.settings.web.mail_watch if mail is None else mail
    poller = s.mail_poller if watch and s.settings.imap.configured else None
    s.jobs.start(threads=threads)
    if poller is not None:
        poller.start()
    err.print(f"Kontor-Worker läuft ({threads} gleichzeitig{', mit Postfach' if poller else ', ohne Postfach'}); "
              f"Daten: {s.settings.home}. Beenden mit Strg+C.")
    stop.wait()
    others = {"mailbox watcher": lambda: poller.stop(timeout=jobs.STOP_GRACE_S)} if poller is not None else {}
    given_back = jobs.stop_together(s.jobs, others)
    back = f" An die Warteschlange zurückgegeben: {len(given_back)} Aufgabe(n)." if given_back else ""
    err.print("Beendet." + back)
