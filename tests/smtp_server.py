"""A real SMTP server on loopback for the tests (aiosmtpd): it keeps what it receives and can be told to refuse."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

from tests.servers import free_port


class Recorder:
    """aiosmtpd handler that keeps what it receives and can be told to refuse."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.reject_rcpt: str | None = None
        self.reject_data: str | None = None
        self.offer_8bitmime = True

    async def handle_EHLO(
        self, server: Any, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        return [line for line in responses if self.offer_8bitmime or "8BITMIME" not in line]

    async def handle_RCPT(self, server: Any, session: Session, envelope: Envelope, address: str, options: Any) -> str:
        if self.reject_rcpt:
            return self.reject_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        if self.reject_data:
            return self.reject_data
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@contextmanager
def recording_smtp(**controller: Any) -> Iterator[tuple[Recorder, int]]:
    """(the recorder, the port) of a running server; ``controller``: aiosmtpd options (authenticator, …)."""
    recorder, port = Recorder(), free_port()
    server = Controller(recorder, hostname="127.0.0.1", port=port, **controller)
    server.start()
    try:
        yield recorder, port
    finally:
        server.stop()
