"""Audit commands: check the hash chain of the audit log."""

from __future__ import annotations

import typer

from assistant.cli.common import CliError, app, out, services

audit_app = typer.Typer(help="Das Audit-Protokoll prüfen.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    expect: str = typer.Option(
        "", "--expect", metavar="HASH",
        help="Ein früher notierter Hash (z. B. `audit_head` aus dem Manifest einer Sicherung): die Kette muss "
             "einen Eintrag mit genau diesem Hash enthalten, sonst wurde sie umgeschrieben oder gekürzt."),
) -> None:
    """Die Hash-Kette des Audit-Protokolls und seine Schutz-Trigger prüfen: meldet den ersten Eintrag, der nicht
    mehr passt, fehlende Trigger oder einen erwarteten Hash, der fehlt (Exit 1)."""
    from assistant import audit  # imported when the command runs: `kontor` starts fast

    expected = expect.strip().lower() or None
    if expected is not None and (len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected)):
        raise CliError("--expect erwartet einen SHA-256-Hash (64 Hexadezimalzeichen)")
    verdict = audit.verify(services().database, expect=expected)
    problems = []
    if verdict.broken_at is not None:
        problems.append(f"Audit-Kette unterbrochen bei Eintrag {verdict.broken_at}: {verdict.reason}")
    if verdict.missing_triggers:
        problems.append("Audit-Protokoll nicht mehr schreibgeschützt – Trigger fehlt oder ist abgeschaltet: "
                        + ", ".join(verdict.missing_triggers))
    if verdict.expected_missing and verdict.broken_at is None:
        problems.append(f"Der erwartete Hash {verdict.expected_missing} kommt in der Audit-Kette nicht vor – "
                        "die Kette wurde seitdem umgeschrieben oder gekürzt")
    if problems:
        raise CliError("\n".join(problems))
    older = f" (dazu {verdict.unchained} ältere Einträge ohne Hash)" if verdict.unchained else ""
    out.print(f"Audit-Kette intakt: {verdict.chained} Einträge{older}")
    if verdict.head:
        out.print(f"Letzter Hash: {verdict.head}")
    if expected:
        out.print(f"Erwarteter Hash {expected} ist unverändert Teil der Kette")
