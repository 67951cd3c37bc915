"""Where the server's and the worker's log lines go: one file per day in ``<home>/logs`` (``kontor-YYYY-MM-DD.log``,
UTC), and warnings also to stderr. Per-day files are what the retention period (``retention_logs_days``) deletes;
a GDPR erasure rewrites the files in place, and the handler then reopens the new file instead of writing into the
replaced one."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from logging.handlers import WatchedFileHandler
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET = ("bm25s", "httpx", "chromadb", "urllib3")  # chatty below WARNING; nothing an operator needs


class DailyLog(WatchedFileHandler):
    """A log file per UTC day, reopened when someone replaced or removed it (erasure, retention)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.day = _today()
        super().__init__(self._path(self.day), encoding="utf-8", delay=True)

    def emit(self, record: logging.LogRecord) -> None:
        day = _today()
        if day != self.day:  # a new day: the next line starts the next file (reopenIfNeeded finds it missing)
            self.day, self.baseFilename = day, str(self._path(day))
        super().emit(record)

    def _path(self, day: str) -> Path:
        return self.folder / f"kontor-{day}.log"


def setup_logging(log_dir: Path, level: int = logging.INFO) -> DailyLog:
    """Log Kontor's and uvicorn's lines to ``log_dir``; returns the file handler (tests remove it again). Called
    twice for the same folder, it keeps the handlers it has."""
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, DailyLog) and handler.folder == log_dir:
            return handler
    log_dir.mkdir(parents=True, exist_ok=True)
    to_file = DailyLog(log_dir)
    to_file.setFormatter(logging.Formatter(FORMAT))
    to_stderr = logging.StreamHandler(sys.stderr)
    to_stderr.setLevel(logging.WARNING)
    to_stderr.setFormatter(logging.Formatter(FORMAT))
    root.setLevel(level)
    root.addHandler(to_file)
    root.addHandler(to_stderr)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    return to_file


def _today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")
