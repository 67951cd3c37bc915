"""A bound on model work started by requests (``/api/ask``, ``/api/categorise``), per person and in total.

The model computes one answer at a time per core; requests beyond that would only wait in the web server's
thread pool — and 45 parallel questions from one person used to fill it, so that even ``/api/me`` and the login of
other people timed out. A request that finds no free slot is answered at once: 429 when the person already has
their share running, 503 when all slots are busy, each with ``Retry-After``. Drafting tickets is not bounded here:
it runs in the job queue, one job per worker thread.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from assistant.errors import KontorError, UnavailableError

RETRY_AFTER_S = 5


class _RetryLater(KontorError):
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(RETRY_AFTER_S)}


class PersonBusyError(_RetryLater):
    """This person's share of model work is running: 429."""

    status = 429


class ModelBusyError(_RetryLater, UnavailableError):
    """Every slot for model work is taken: 503."""

    status = 503


class ModelGate:
    def __init__(self, per_person: int = 1, total: int = 2) -> None:
        self.per_person, self.total = per_person, total
        self._lock = threading.Lock()
        self._running: Counter[str] = Counter()

    @contextmanager
    def slot(self, person: str) -> Iterator[None]:
        with self._lock:
            if self._running[person] >= self.per_person:
                raise PersonBusyError("Ihre vorige Anfrage an das Sprachmodell läuft noch – bitte kurz warten")
            if sum(self._running.values()) >= self.total:
                raise ModelBusyError("Das Sprachmodell ist gerade ausgelastet – bitte in einigen Sekunden erneut "
                                     "versuchen")
            self._running[person] += 1
        try:
            yield
        finally:
            with self._lock:
                self._running[person] -= 1
                if self._running[person] <= 0:
                    del self._running[person]

    def running(self) -> int:
        with self._lock:
            return sum(self._running.values())
