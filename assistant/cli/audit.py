"""Audit commands: check the hash chain of the audit log."""

from __future__ import annotations

import typer

from assistant.cli.common import CliError, app, out, services

audit_app = typer.Typer(help="Das Audit-Protokoll prüfen.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify() -> None:
    """Die Hash-Kette des Audit-Protokolls prüfen: meldet den ersten Eintrag, der nicht mehr passt (Exit 1)."""
    from assistant import audit

    verdict = audit.verify(services().database)
    if not verdict.ok:
        raise CliError(f"Audit-Kette unterbrochen bei Eintrag {verdict.broken_at}: {verdict.reason}")
    older = f" (dazu {verdict.unchained} ältere Einträge ohne Hash)" if verdict.unchained else ""
    out.print(f"Audit-Kette intakt: {verdict.chained} Einträge{older}")
    if verdict.head:
        out.print(f"Letzter Hash: {verdict.head}")
