"""The mailbox watcher of ``kontor serve`` and ``kontor worker``: fetch, then wait for new mail (IDLE where the
server offers it, else the interval), and after an error wait longer each time (30 s, 1 min, 2 min … at most ten
intervals) so a server that is down is neither hammered nor forgotten. Stops within a few seconds of ``stop()``."""

from __future__ import annotations

import logging
import threading

from assistant.mailbox.client import MailboxError
from assistant.mailbox.fetch import Fetcher

log = logging.getLogger("kontor.mailbox")


FIRST_RETRY_S = 30.0


def retry_after(failures: int, interval: float, first: float = FIRST_RETRY_S) -> float:
    """``first`` after one failure, doubled with each further one, at most ten intervals (never below ``first``)."""
    return min(max(first, float(interval) * 10), first * 2 ** max(0, failures - 1))


class Poller:
    def __init__(self, fetcher: Fetcher, interval: float, first_retry: float = FIRST_RETRY_S) -> None:
        self.fetcher = fetcher
        self.interval = interval
        self.first_retry = first_retry
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures = 0

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="kontor-mailbox", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                report = self.fetcher.fetch_once()
                self.failures = 0
                if report.imported or report.quarantined:
                    log.info("mailbox: %s", report.summary())
            except MailboxError:
                self.failures += 1  # stored and logged by the fetcher
            except Exception:  # noqa: BLE001 - the watcher must outlive one bad pass; stored by the fetcher
                self.failures += 1
                log.exception("mailbox: fetch failed")
            self._wait()

    def _wait(self) -> None:
        if self.failures:
            self._stop.wait(retry_after(self.failures, self.interval, self.first_retry))
            return
        try:
            announced = self.fetcher.wait_for_mail(self.interval, self._stop.is_set)
        except MailboxError:
            return  # the next fetch records the error
        if announced is None:  # no IDLE: poll
            self._stop.wait(self.interval)
