"""Where ``kontor demo`` finds the demo company's inbox (``demo/tickets/*.eml``).

The e-mails are not part of the installed package: they belong to the demo company, like its knowledge. They are
looked for beside the configured knowledge folder (``demo/`` next to ``knowledge/``, so an installed Kontor with
``KONTOR_KNOWLEDGE_DIR`` pointing at a checkout's ``knowledge/`` finds them), then in the source checkout Kontor
runs from. Missing: one German line that says where they were looked for and what to do."""

from __future__ import annotations

from pathlib import Path

from assistant.cli.common import CliError
from assistant.config import PROJECT_ROOT

DEMO_TICKETS = Path("demo") / "tickets"


def demo_tickets_dir(knowledge_dir: Path) -> Path:
    """The folder of the demo tickets, or a CliError naming the places looked in."""
    candidates = list(dict.fromkeys([knowledge_dir.parent / DEMO_TICKETS, PROJECT_ROOT / DEMO_TICKETS]))
    for folder in candidates:
        if folder.is_dir():
            return folder
    places = ", ".join(str(c) for c in candidates)
    raise CliError(f"Demo-Tickets nicht gefunden (gesucht in: {places}). Sie liegen im Quellcode von Kontor unter "
                   "demo/tickets/: KONTOR_KNOWLEDGE_DIR auf den Ordner knowledge/ daneben setzen oder "
                   "`kontor tickets import ORDNER` mit eigenen .eml-Dateien verwenden.")
