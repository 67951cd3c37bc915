"""Taking a message back from the outbox (issue 10, item 8): a message the mail server keeps refusing used to
lock its ticket for ever. An agent cancels it while it waits; a message already delivered, or being delivered
at that moment, is never also cancelled."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from typing import Any

import pytest

from assistant.errors import ConflictError
from assistant.outbox import DeliveryError
from tests.harness import Kontor

CORRECTED = "Guten Tag,\n\nder Versand nach Österreich kostet 5,90 €.\n\nMit freundlichen Grüßen\nKochwerk Lindner"


class _Refusing:
    def deliver(self, mail: Any) -> None:
        raise DeliveryError("Empfänger vom SMTP-Server abgelehnt: 550 unbekannt")


def _waiting(kontor: Kontor) -> dict[str, Any]:
    """An approved draft whose message waits in the outbox because the server refuses it."""
    draft: dict[str, Any] = kontor.drafted_ticket()["draft"]
    assert kontor.call("POST", f"/api/drafts/{draft['id']}/approve").status_code == 200
    kontor.services.override("mailer", _Refusing())
    assert kontor.call("POST", f"/api/drafts/{draft['id']}/send").json()["status"] == "pending"
    kontor.services.__dict__.pop("mailer")  # the server takes mail again (the maildir)
    return draft


def _bodies(kontor: Kontor) -> list[str]:
    return [BytesParser(policy=policy.default).parsebytes(p.read_bytes()).get_content() for p in kontor.outbox_files()]


def test_cancel_then_edit_approve_send_delivers_the_new_text_exactly_once(kontor: Kontor) -> None:
    draft = _waiting(kontor)
    cancelled = kontor.call("POST", f"/api/drafts/{draft['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "drafted"
    assert kontor.outbox_rows() == []
    assert kontor.call("GET", f"/api/tickets/{draft['ticket_id']}").json()["outbox"] is None
    assert kontor.call("POST", f"/api/drafts/{draft['id']}/send").status_code == 409  # the approval went with it
    assert kontor.services.sending.deliver_due() == 0 and kontor.outbox_files() == []
    assert kontor.call("PUT", f"/api/drafts/{draft['id']}", json={"text": CORRECTED}).status_code == 200  # unlocked
    assert kontor.call("POST", f"/api/drafts/{draft['id']}/approve").status_code == 200
    assert kontor.call("POST", f"/api/drafts/{draft['id']}/send").json()["status"] == "delivered"
    assert kontor.call("POST", f"/api/drafts/{draft['id']}/send").json()["status"] == "delivered"  # idempotent
    kontor.services.sending.deliver_due()
    assert _bodies(kontor) == [CORRECTED + "\n"]
    actions = [e["action"] for e in kontor.audit(draft["ticket_id"])]
    assert actions[-9:] == ["send_requested", "delivery_failed", "proven_withdrawn", "send_cancelled", "edited",
                            "approved", "proven_learned", "send_requested", "sent"]  # cancel withdraws what it taught
    [entry] = [e for e in kontor.audit(draft["ticket_id"]) if e["action"] == "send_cancelled"]
    assert entry["actor"] == "anna" and entry["text_sha256"] != kontor.outbox_rows()[0].text_sha256
    assert entry["detail"]["message_id"].startswith("<kontor-") and entry["detail"]["attempts"] == 1


def test_cancel_unlocks_reject_and_regenerate(lite: Kontor) -> None:
    draft = _waiting(lite)
    assert lite.call("POST", f"/api/tickets/{draft['ticket_id']}/draft").status_code == 409  # locked while waiting
    assert lite.call("POST", f"/api/drafts/{draft['id']}/cancel").status_code == 200
    assert lite.call("POST", f"/api/drafts/{draft['id']}/reject", json={}).status_code == 200
    assert lite.call("POST", f"/api/tickets/{draft['ticket_id']}/draft").status_code == 202


def test_cancel_after_delivery_answers_409(lite: Kontor) -> None:
    draft = lite.drafted_ticket()["draft"]
    nothing = lite.call("POST", f"/api/drafts/{draft['id']}/cancel")
    assert nothing.status_code == 409 and "wartet nicht" in nothing.json()["detail"]
    lite.call("POST", f"/api/drafts/{draft['id']}/approve")
    assert lite.call("POST", f"/api/drafts/{draft['id']}/send").json()["status"] == "delivered"
    late = lite.call("POST", f"/api/drafts/{draft['id']}/cancel")
    assert late.status_code == 409 and "schon zugestellt" in late.json()["detail"]
    assert lite.outbox_rows()[0].status == "delivered" and len(lite.outbox_files()) == 1
    assert lite.call("GET", f"/api/tickets/{draft['ticket_id']}").json()["status"] == "sent"
    assert lite.call("POST", "/api/drafts/99999/cancel").status_code == 404


def test_a_message_being_delivered_is_never_also_cancelled(lite: Kontor) -> None:
    """The worker has claimed the message and is handing it to the server when the agent clicks: the cancel is
    refused and the mail goes out once. A cancel that comes first wins: a worker that listed the message as
    due just before sends nothing."""
    draft = _waiting(lite)
    lite.make_due()
    answers: list[Any] = []
    maildir = lite.services.mailer

    class CancelMeanwhile:
        def deliver(self, mail: Any) -> None:
            answers.append(lite.call("POST", f"/api/drafts/{draft['id']}/cancel"))
            maildir.deliver(mail)

    lite.services.override("mailer", CancelMeanwhile())
    assert lite.services.sending.deliver_due() == 1
    assert answers[0].status_code == 409 and "gerade zugestellt" in answers[0].json()["detail"]
    assert len(lite.outbox_files()) == 1 and lite.outbox_rows()[0].status == "delivered"

    second = _waiting(lite)
    [waiting] = [m for m in lite.outbox_rows() if m.draft_id == second["id"]]
    lite.make_due()
    assert lite.call("POST", f"/api/drafts/{second['id']}/cancel").status_code == 200
    with pytest.raises(ConflictError):
        lite.services.sending.deliver(waiting.id)  # the worker's stale list
    assert len(lite.outbox_files()) == 1
