"""Drafts as they are being written: the drafting job appends the model's text here, the ticket page reads it
as a server-sent event stream. In memory: it only matters while a draft is being written.

A finished draft stays ``keep_seconds`` longer, so a page that connects just after the end still reads it whole
with its "done"; then it is dropped (on the next start, append, finish or read), and a reader finds the stored
draft in the database instead."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Live:
    pieces: list[str] = field(default_factory=list)
    done: bool = False
    finished_at: float | None = None  # clock time of ``finish``


class LiveDrafts:
    def __init__(self, keep_seconds: float = 120.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._drafts: dict[int, _Live] = {}
        self._lock = threading.Lock()
        self.keep_seconds = keep_seconds
        self._clock = clock

    def start(self, ticket_id: int) -> None:
        with self._lock:
            self._drop_finished()
            self._drafts[ticket_id] = _Live()

    def append(self, ticket_id: int, piece: str) -> None:
        with self._lock:
            self._drop_finished()
            self._drafts.setdefault(ticket_id, _Live()).pieces.append(piece)

    def finish(self, ticket_id: int) -> None:
        with self._lock:
            self._drop_finished()
            live = self._drafts.setdefault(ticket_id, _Live())
            live.done, live.finished_at = True, self._clock()

    def read(self, ticket_id: int, since: int) -> tuple[list[str], bool]:
        """Pieces after the first ``since`` ones, and whether the draft is finished."""
        with self._lock:
            self._drop_finished()
            live = self._drafts.get(ticket_id)
            if live is None:
                return [], False
            return live.pieces[since:], live.done

    def forget(self, ticket_id: int) -> None:
        with self._lock:
            self._drafts.pop(ticket_id, None)

    def __len__(self) -> int:
        """Drafts held in memory (being written, or finished less than ``keep_seconds`` ago)."""
        with self._lock:
            self._drop_finished()
            return len(self._drafts)

    def _drop_finished(self) -> None:
        """Under the lock: the drafts finished more than ``keep_seconds`` ago."""
        cutoff = self._clock() - self.keep_seconds
        for ticket_id in [t for t, live in self._drafts.items()
                          if live.finished_at is not None and live.finished_at < cutoff]:
            del self._drafts[ticket_id]
