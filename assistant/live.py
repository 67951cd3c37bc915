"""Drafts as they are being written: the drafting job appends the model's text here, the ticket page reads it
as a server-sent event stream. In memory: it only matters while a draft is being written."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class _Live:
    pieces: list[str] = field(default_factory=list)
    done: bool = False


class LiveDrafts:
    def __init__(self) -> None:
        self._drafts: dict[int, _Live] = {}
        self._lock = threading.Lock()

    def start(self, ticket_id: int) -> None:
        with self._lock:
            self._drafts[ticket_id] = _Live()

    def append(self, ticket_id: int, piece: str) -> None:
        with self._lock:
            self._drafts.setdefault(ticket_id, _Live()).pieces.append(piece)

    def finish(self, ticket_id: int) -> None:
        with self._lock:
            self._drafts.setdefault(ticket_id, _Live()).done = True

    def read(self, ticket_id: int, since: int) -> tuple[list[str], bool]:
        """Pieces after the first ``since`` ones, and whether the draft is finished."""
        with self._lock:
            live = self._drafts.get(ticket_id)
            if live is None:
                return [], False
            return live.pieces[since:], live.done

    def forget(self, ticket_id: int) -> None:
        with self._lock:
            self._drafts.pop(ticket_id, None)
