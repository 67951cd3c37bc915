"""The ticket flow's seams (assistant/tickets/): one transition table, review errors people can read, a category
correction and its labelled example as one change, the worker's periodic jobs, and errors the CLI and the web
app report from one base class."""

from __future__ import annotations

import logging
import sys
from typing import Any

import pytest
from sqlalchemy import func, select

from assistant import cli
from assistant.auth import Principal
from assistant.errors import ConflictError, InputError, KontorError
from assistant.jobs import JobQueue
from assistant.store.tables import LabelledExample, Ticket
from assistant.tickets import review
from assistant.tickets.state import TRANSITIONS, TicketStatus, check_transition
from tests.harness import Kontor


def _agent(kontor: Kontor) -> Principal:
    user = kontor.services.users.get("anna")
    assert user is not None
    return Principal(id=user.id, name=user.name, role="agent")


def test_every_status_has_its_moves_and_sent_is_final() -> None:
    assert set(TRANSITIONS) == set(TicketStatus)
    assert all(targets <= set(TicketStatus) for targets in TRANSITIONS.values())
    with pytest.raises(ConflictError, match="Nicht möglich im Status 'sent'"):
        check_transition("sent", TicketStatus.DRAFTED)


def test_a_rating_out_of_range_is_an_input_error_not_a_crash(lite: Kontor) -> None:
    draft = lite.drafted_ticket()["draft"]
    with pytest.raises(InputError, match="zwischen 1 und 5") as caught:
        lite.services.review.rate(draft["id"], 9, "", _agent(lite))
    assert caught.value.status == 422


def test_a_category_correction_and_its_example_are_one_change(lite: Kontor, monkeypatch: pytest.MonkeyPatch) -> None:
    ticket = lite.drafted_ticket()
    agent = _agent(lite)

    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(review.audit, "record", broken)
    with pytest.raises(RuntimeError):
        lite.services.review.recategorise(ticket["id"], "rechnung_zahlung", agent)
    with lite.services.database.session() as session:
        assert session.scalar(select(func.count(LabelledExample.id))) == 0  # the example went with the rest
        assert session.get(Ticket, ticket["id"]).category_method != "person"  # type: ignore[union-attr]
    monkeypatch.undo()
    lite.services.review.recategorise(ticket["id"], "rechnung_zahlung", agent)
    with lite.services.database.session() as session:
        [example] = session.scalars(select(LabelledExample)).all()
    assert example.text == f"{ticket['subject']}\n\n{ticket['body']}"  # what categorisation reads when drafting


def test_a_failing_periodic_job_does_not_stop_the_others(lite: Kontor, caplog: pytest.LogCaptureFixture) -> None:
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("mail server gone")

    queue = JobQueue(lite.services.database, {}, periodic={"broken": broken, "next": lambda: ran.append("next")})
    with caplog.at_level(logging.ERROR, logger="kontor.jobs"):
        queue.run_periodic()
    assert ran == ["next"] and "periodic job broken failed" in caplog.text


def test_the_worker_delivers_through_the_named_periodic_job(lite: Kontor) -> None:
    assert list(lite.services.jobs.periodic) == ["deliver_due"]


class _Odd(KontorError):
    status = 418


@pytest.mark.parametrize("error", [_Odd("Ein Fehler, den die CLI nicht eigens kennt."),
                                   ConflictError("Die Antwort ist schon gesendet")])
def test_the_cli_reports_any_kontor_error_as_one_line(error: KontorError, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    def command(**_: Any) -> None:
        raise error

    monkeypatch.setattr(cli, "app", command)
    monkeypatch.setattr(sys, "argv", ["kontor"])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 1
    assert capsys.readouterr().err.strip().splitlines() == [f"Fehler: {error}"]


def test_the_api_answers_a_kontor_error_with_its_status(lite: Kontor) -> None:
    draft = lite.drafted_ticket()["draft"]
    assert lite.call("POST", f"/api/drafts/{draft['id']}/approve").status_code == 200
    assert lite.call("POST", f"/api/drafts/{draft['id']}/send").status_code == 200
    again = lite.call("PUT", f"/api/drafts/{draft['id']}", json={"text": "Anders."})
    assert again.status_code == ConflictError.status and "gesendet" in again.json()["detail"]
